// Elementwise kernels: binary, comparison and unary ops over dense arrays of
// equal length. The op must belong to the matching catalogue family and the
// dtype must be accepted by it (the validator guarantees both). The best SIMD
// kernel for the CPU is used where one exists, else the scalar reference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "executor/core/dtype.h"
#include "executor/core/status.h"
#include "executor/ops/op_catalogue.h"

namespace pelemay {
class ThreadPool;
}

namespace pelemay::kernels {

// out[i] = op(a[i], b[i]); a, b, out hold n elements of dtype (u8 for Compare).
// Integer quotient/remainder by zero and negative integer pow exponents are
// INVALID_ARGUMENT (checked before anything is written).
Status Binary(OpCode op, DType dtype, std::span<const std::byte> a, std::span<const std::byte> b,
              std::span<std::byte> out, ThreadPool* pool);

// out[i] = op(a[i]); out has dtype out_dtype (RealPart(dtype) for abs of
// complex, dtype otherwise).
Status Unary(OpCode op, DType dtype, std::span<const std::byte> a, std::span<std::byte> out, ThreadPool* pool);

// Same, always on the scalar reference path: the oracle for kernel tests.
Status BinaryReference(OpCode op, DType dtype, std::span<const std::byte> a, std::span<const std::byte> b,
                       std::span<std::byte> out);
Status UnaryReference(OpCode op, DType dtype, std::span<const std::byte> a, std::span<std::byte> out);

// True if (op, dtype) has a SIMD kernel on the current target.
bool HasSimdKernel(OpCode op, DType dtype);

}  // namespace pelemay::kernels
