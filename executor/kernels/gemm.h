// Batched matrix multiply: the kernel under the dot op. The interpreter packs
// any dot (contraction and batch axes) into this canonical form first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "executor/core/dtype.h"

namespace pelemay {
class ThreadPool;
}

namespace pelemay::kernels {

// For each b < batch: C[b] (m x n) = A[b] (m x k) * B[b] (k x n); all row-major
// and contiguous, batches back to back. Integers wrap; f16/bf16 accumulate in
// float; f32 accumulates in f32 and f64 in f64. k == 0 gives zeros. pool may
// be null (single thread).
void Gemm(DType dtype, int64_t batch, int64_t m, int64_t n, int64_t k, std::span<const std::byte> a,
          std::span<const std::byte> b, std::span<std::byte> c, ThreadPool* pool);

// The scalar oracle for tests: the same contract, naive triple loop.
void GemmReference(DType dtype, int64_t batch, int64_t m, int64_t n, int64_t k, std::span<const std::byte> a,
                   std::span<const std::byte> b, std::span<std::byte> c);

}  // namespace pelemay::kernels
