// Indexing ops that only move elements: reverse, put_slice and the gather
// family (take, take_along_axis, gather). They work for every dtype by
// element size. Index operands are range-checked here, at run time, before
// any element is read through them: an index outside its axis is
// INVALID_ARGUMENT, as Nx.BinaryBackend raises ArgumentError there.
#pragma once

#include <cstdint>
#include <span>

#include "executor/core/buffer.h"
#include "executor/core/status.h"

namespace pelemay::layout {

// out = in with the element order along each of `axes` reversed.
void Reverse(const ConstTensorView& in, std::span<const int64_t> axes, const TensorView& out);
// out = in with the block at `start` replaced by `update` (the validator
// checked that it fits).
void PutSlice(const ConstTensorView& in, const ConstTensorView& update, std::span<const int64_t> start,
              const TensorView& out);
// out = in's slices along `axis` at each index: in.shape[:axis] ++
// indices.shape ++ in.shape[axis+1:].
Status Take(const ConstTensorView& in, const ConstTensorView& indices, int64_t axis, const TensorView& out);
// out[..i..] = in[.. indices[..i..] (at axis) ..]; out has the indices' shape.
Status TakeAlongAxis(const ConstTensorView& in, const ConstTensorView& indices, int64_t axis, const TensorView& out);
// indices {..., k}: each row names a position on the k `axes`; out is the
// rows' shape followed by in's other axes.
Status Gather(const ConstTensorView& in, const ConstTensorView& indices, std::span<const int64_t> axes,
              const TensorView& out);

}  // namespace pelemay::layout
