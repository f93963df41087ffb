// Data-movement ops that never look at values, only at bytes: transpose,
// broadcast, slice, concatenate and pad all reduce to one strided copy, so
// they work for every dtype by element size alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "executor/core/shape.h"
#include "executor/validate/program_types.h"

namespace pelemay::layout {

// Copies a `shape`-shaped block of elements of `elem` bytes. src_strides and
// dst_strides are in elements and may be 0 (repeat) on the source side.
void StridedCopy(const std::byte* src, std::span<const int64_t> src_strides, std::byte* dst,
                 std::span<const int64_t> dst_strides, std::span<const int64_t> shape, size_t elem);

void Transpose(const ConstTensorView& in, std::span<const int64_t> perm, TensorView out);
void Broadcast(const ConstTensorView& in, std::span<const int64_t> axes, TensorView out);
void Slice(const ConstTensorView& in, std::span<const int64_t> start, std::span<const int64_t> strides, TensorView out);
void Concatenate(const std::vector<ConstTensorView>& ins, int64_t axis, TensorView out);
void Pad(const ConstTensorView& in, const ConstTensorView& value, std::span<const PadSpec> pads, TensorView out);
// Fills out with copies of one element.
void Fill(std::span<const std::byte> element, const TensorView& out);
// Counts along axis (or over the flattened tensor) in out's dtype.
void Iota(std::optional<int64_t> axis, TensorView out);
// out = pred != 0 ? on_true : on_false, elementwise.
void Select(const ConstTensorView& pred, const ConstTensorView& on_true, const ConstTensorView& on_false,
            const TensorView& out);

}  // namespace pelemay::layout
