// Turns a wire Tensor into a typed view of its bytes, checking that the
// payload matches the declared dtype and shape exactly. Inline data is viewed
// in place (no copy); a literal is converted into `storage`.
#pragma once

#include "executor/core/buffer.h"
#include "executor/core/status.h"
#include "pelemay.pb.h"

namespace pelemay {

StatusOr<ConstTensorView> TensorPayload(const v1::Tensor& tensor, Buffer& storage);

// Writes `bytes` (of dtype/shape) into a wire Tensor as inline data.
void SetTensor(DType dtype, const Shape& shape, std::span<const std::byte> bytes, v1::Tensor* out);

}  // namespace pelemay
