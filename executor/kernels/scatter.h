// indexed_add and indexed_put: target with each row of updates written into
// (put) or added onto (add) the block its row of indices names. Rows apply
// in order, so for repeated indices put keeps the last row and add sums all
// of them, as Nx.BinaryBackend does.
//
// Addition follows Nx.BinaryBackend bit for bit: integers wrap; a float
// target element gets target + (0.0 + u1 + u2 + ...) with the sum of its
// updates taken in f64 (complex: c128) and one rounding to the dtype at the
// end; elements no row touches are copied unchanged.
//
// Every index is range-checked before anything is written: one outside its
// axis is INVALID_ARGUMENT.
#pragma once

#include <cstdint>
#include <span>

#include "executor/core/buffer.h"
#include "executor/core/status.h"

namespace pelemay::kernels {

// indices {n, axes.size()}; updates {n, window...} with one window
// dimension per target axis not in `axes`, each at most that axis' size.
Status Scatter(bool add, const ConstTensorView& target, const ConstTensorView& indices, const ConstTensorView& updates,
               std::span<const int64_t> axes, const TensorView& out);

}  // namespace pelemay::kernels
