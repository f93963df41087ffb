// Prints tensors the way Nx's inspect does: the type and shape, then nested
// brackets, e.g.  f32[2][3]  [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
#pragma once

#include <string>

#include "executor/core/buffer.h"

namespace pelemay {

// At most `limit` elements are printed; the rest is elided with "...".
std::string FormatTensor(const ConstTensorView& tensor, int64_t limit = 1000);

}  // namespace pelemay
