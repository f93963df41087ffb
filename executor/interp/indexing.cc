#include "executor/interp/indexing.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "executor/core/shape.h"
#include "executor/interp/layout_ops.h"
#include "executor/kernels/index_values.h"

namespace pelemay::layout {
namespace {

using kernels::CheckIndex;
using kernels::Int64Scratch;
using kernels::ReadIndices;

int64_t ProductOf(std::span<const int64_t> dims) {
  int64_t p = 1;
  for (int64_t d : dims) p *= d;
  return p;
}

template <size_t N>
struct Element {
  std::byte b[N];
};

// Calls fn(Element<size>{}) so per-element copies are fixed-size moves.
template <class Fn>
void WithElement(size_t size, Fn&& fn) {
  switch (size) {
    case 1: fn(Element<1>{}); return;
    case 2: fn(Element<2>{}); return;
    case 4: fn(Element<4>{}); return;
    case 8: fn(Element<8>{}); return;
    default: fn(Element<16>{}); return;
  }
}

}  // namespace

void Reverse(const ConstTensorView& in, std::span<const int64_t> axes, const TensorView& out) {
  if (out.bytes.empty()) return;
  const auto strides = Strides(in.shape);
  std::vector<int64_t> src_strides = strides;
  int64_t offset = 0;
  for (int64_t a : axes) {
    offset += (in.shape[a] - 1) * strides[a];
    src_strides[a] = -strides[a];
  }
  const auto elem = static_cast<int64_t>(DTypeSize(in.dtype));
  StridedCopy(in.bytes.data() + offset * elem, src_strides, out.bytes.data(), strides, out.shape,
              static_cast<size_t>(elem));
}

void PutSlice(const ConstTensorView& in, const ConstTensorView& update, std::span<const int64_t> start,
              const TensorView& out) {
  if (out.bytes.empty()) return;
  std::memcpy(out.bytes.data(), in.bytes.data(), in.bytes.size());
  if (update.bytes.empty()) return;
  const auto strides = Strides(out.shape);
  int64_t offset = 0;
  for (size_t i = 0; i < start.size(); ++i) offset += start[i] * strides[i];
  const auto elem = static_cast<int64_t>(DTypeSize(in.dtype));
  StridedCopy(update.bytes.data(), Strides(update.shape), out.bytes.data() + offset * elem, strides, update.shape,
              static_cast<size_t>(elem));
}

Status Take(const ConstTensorView& in, const ConstTensorView& indices, int64_t axis, const TensorView& out) {
  const int64_t n = indices.size();
  Int64Scratch scratch(n);
  const auto idx = scratch.values();
  ReadIndices(indices, idx);
  const int64_t dim = in.shape[axis];
  // Every index is checked, even when the result is empty, as Nx does.
  for (int64_t v : idx) PELEMAY_RETURN_IF_ERROR(CheckIndex("take", v, axis, dim));
  if (out.bytes.empty()) return Status::Ok();
  const int64_t outer = ProductOf(std::span(in.shape).first(static_cast<size_t>(axis)));
  const auto elem = static_cast<int64_t>(DTypeSize(in.dtype));
  const int64_t row = ProductOf(std::span(in.shape).subspan(static_cast<size_t>(axis) + 1)) * elem;
  const std::byte* src = in.bytes.data();
  std::byte* dst = out.bytes.data();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j)
      std::memcpy(dst + (o * n + j) * row, src + (o * dim + idx[j]) * row, static_cast<size_t>(row));
  return Status::Ok();
}

Status TakeAlongAxis(const ConstTensorView& in, const ConstTensorView& indices, int64_t axis, const TensorView& out) {
  const int64_t n = indices.size();
  Int64Scratch scratch(n);
  const auto idx = scratch.values();
  ReadIndices(indices, idx);
  const int64_t dim = in.shape[axis];
  for (int64_t v : idx) PELEMAY_RETURN_IF_ERROR(CheckIndex("take_along_axis", v, axis, dim));
  if (n == 0) return Status::Ok();
  const int64_t m = indices.shape[axis];
  const int64_t inner = ProductOf(std::span(in.shape).subspan(static_cast<size_t>(axis) + 1));
  WithElement(DTypeSize(in.dtype), [&](auto tag) {
    using E = decltype(tag);
    const E* src = reinterpret_cast<const E*>(in.bytes.data());
    E* dst = reinterpret_cast<E*>(out.bytes.data());
    // Output position (o, j, i) reads input position (o, idx, i).
    for (int64_t p = 0; p < n; ++p) {
      const int64_t i = p % inner;
      const int64_t o = p / inner / m;
      dst[p] = src[(o * dim + idx[p]) * inner + i];
    }
  });
  return Status::Ok();
}

Status Gather(const ConstTensorView& in, const ConstTensorView& indices, std::span<const int64_t> axes,
              const TensorView& out) {
  const auto k = static_cast<int64_t>(axes.size());
  const int64_t rows = ProductOf(std::span(indices.shape).first(indices.shape.size() - 1));
  Int64Scratch scratch(indices.size());
  const auto idx = scratch.values();
  ReadIndices(indices, idx);
  const auto strides = Strides(in.shape);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t m = 0; m < k; ++m)
      PELEMAY_RETURN_IF_ERROR(CheckIndex("gather", idx[r * k + m], axes[m], in.shape[axes[m]]));
  if (out.bytes.empty()) return Status::Ok();

  std::vector<int64_t> window_axes, window;
  for (int64_t a = 0; a < static_cast<int64_t>(in.shape.size()); ++a)
    if (std::find(axes.begin(), axes.end(), a) == axes.end()) {
      window_axes.push_back(a);
      window.push_back(in.shape[a]);
    }
  const int64_t w = ProductOf(window);
  // The window is one contiguous run when the indexed axes are the leading ones.
  bool contiguous = true;
  for (int64_t m = 0; m < k; ++m) contiguous &= std::find(axes.begin(), axes.end(), m) != axes.end();
  auto base = [&](int64_t r) {
    int64_t b = 0;
    for (int64_t m = 0; m < k; ++m) b += idx[r * k + m] * strides[axes[m]];
    return b;
  };
  const auto elem = static_cast<int64_t>(DTypeSize(in.dtype));
  if (contiguous) {
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(out.bytes.data() + r * w * elem, in.bytes.data() + base(r) * elem, static_cast<size_t>(w * elem));
    return Status::Ok();
  }
  Int64Scratch offsets_scratch(w);
  const auto offsets = offsets_scratch.values();
  kernels::BlockOffsets(strides, window_axes, window, offsets);
  WithElement(static_cast<size_t>(elem), [&](auto tag) {
    using E = decltype(tag);
    const E* src = reinterpret_cast<const E*>(in.bytes.data());
    E* dst = reinterpret_cast<E*>(out.bytes.data());
    for (int64_t r = 0; r < rows; ++r) {
      const E* s = src + base(r);
      E* d = dst + r * w;
      for (int64_t j = 0; j < w; ++j) d[j] = s[offsets[j]];
    }
  });
  return Status::Ok();
}

}  // namespace pelemay::layout
