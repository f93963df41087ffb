// Turns a wire Tensor into a typed view of its bytes, checking that the
// payload matches the declared dtype and shape exactly. Inline data is viewed
// in place (no copy); a literal is converted into `storage`; an `arena`
// payload is viewed in place in the mapped arena (zero-copy) after checking
// that it lies inside it, starts on a multiple of the dtype's size and is
// exactly elements x dtype size long (INVALID_ARGUMENT otherwise; UNSUPPORTED
// when no arena is mapped).
#pragma once

#include "executor/core/buffer.h"
#include "executor/core/status.h"
#include "pelemay.pb.h"
#include "shared_mem/arena.h"

namespace pelemay {

StatusOr<ConstTensorView> TensorPayload(const v1::Tensor& tensor, Buffer& storage, const shm::Arena* arena = nullptr);

// Writes `bytes` (of dtype/shape) into a wire Tensor as inline data.
void SetTensor(DType dtype, const Shape& shape, std::span<const std::byte> bytes, v1::Tensor* out);
// Writes a wire Tensor whose bytes are [offset, offset + length) of the arena.
void SetArenaTensor(DType dtype, const Shape& shape, uint64_t offset, uint64_t length, v1::Tensor* out);

}  // namespace pelemay
