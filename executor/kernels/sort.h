// Sorting along one axis (sort, argsort) and cumulative scans (cumulative_sum,
// cumulative_product, cumulative_min, cumulative_max).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "executor/core/dtype.h"
#include "executor/core/shape.h"
#include "executor/ops/op_catalogue.h"

namespace pelemay {
class ThreadPool;
}

namespace pelemay::kernels {

// op is sort or argsort; `dtype` is real, `axis` < rank. Stable in both
// directions, with Nx.BinaryBackend's order: ascending -Inf, finite values,
// +Inf, NaN; descending the reverse of those classes (NaN first). Values that
// compare equal (-0.0 and 0.0, any two NaNs) keep their order, and sort moves
// the original bits. argsort writes indices as `out_dtype` (any integer type;
// a narrower one wraps, as Nx's conversion does).
void Sort(OpCode op, DType dtype, DType out_dtype, const Shape& shape, int64_t axis, bool descending,
          std::span<const std::byte> in, std::span<std::byte> out, ThreadPool* pool);

// Inclusive scan along `axis` (from the end when `reverse`), combining in the
// pairwise order of Nx's default associative scan with each step rounded to
// the dtype as Nx.BinaryBackend rounds it (integers wrap; complex products
// are formed in f64; min/max give NaN once either operand is NaN), so the
// result equals what Nx computes without a native cumulative op.
void Scan(OpCode op, DType dtype, const Shape& shape, int64_t axis, bool reverse, std::span<const std::byte> in,
          std::span<std::byte> out, ThreadPool* pool);

}  // namespace pelemay::kernels
