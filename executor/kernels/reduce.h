// Reductions over any set of axes, and argmax/argmin along one axis.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "executor/core/dtype.h"
#include "executor/core/shape.h"
#include "executor/core/status.h"
#include "executor/ops/op_catalogue.h"

namespace pelemay {
class ThreadPool;
}

namespace pelemay::kernels {

// op is sum, product, reduce_max or reduce_min. `axes` are sorted, unique and
// in range. `out` holds the elements of `shape` without those axes, in
// row-major order (keep_axes does not change the layout). Empty reductions
// give the identity (0, 1, -Inf or the type's minimum, +Inf or its maximum).
void Reduce(OpCode op, DType dtype, const Shape& shape, std::span<const int64_t> axes, std::span<const std::byte> in,
            std::span<std::byte> out, ThreadPool* pool);
// The scalar oracle for tests (sequential sums, no SIMD).
void ReduceReference(OpCode op, DType dtype, const Shape& shape, std::span<const int64_t> axes,
                     std::span<const std::byte> in, std::span<std::byte> out);

// op is argmax or argmin; `axis` nullopt flattens all axes. Writes indices of
// integer type out_dtype. NaN follows Nx.BinaryBackend: every comparison with
// NaN is false, so a NaN wins only as the first element scanned (or, with
// tie_break high, after another NaN).
void ArgReduce(OpCode op, DType dtype, DType out_dtype, const Shape& shape, std::optional<int64_t> axis,
               bool tie_break_high, std::span<const std::byte> in, std::span<std::byte> out);

}  // namespace pelemay::kernels
