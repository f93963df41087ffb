#include "executor/interp/layout_ops.h"

#include <cstring>

#include "executor/kernels/convert.h"

namespace pelemay::layout {

void StridedCopy(const std::byte* src, std::span<const int64_t> src_strides, std::byte* dst,
                 std::span<const int64_t> dst_strides, std::span<const int64_t> shape, size_t elem) {
  const size_t rank = shape.size();
  for (int64_t d : shape)
    if (d == 0) return;
  if (rank == 0) {
    std::memcpy(dst, src, elem);
    return;
  }
  // Odometer over all but the innermost axis; the innermost is a tight loop
  // (a single memcpy when both sides are contiguous there).
  const int64_t inner = shape[rank - 1];
  const int64_t s_in = src_strides[rank - 1], d_in = dst_strides[rank - 1];
  std::vector<int64_t> idx(rank, 0);
  int64_t s_off = 0, d_off = 0;
  for (;;) {
    const std::byte* s = src + s_off * static_cast<int64_t>(elem);
    std::byte* d = dst + d_off * static_cast<int64_t>(elem);
    if (s_in == 1 && d_in == 1) {
      std::memcpy(d, s, static_cast<size_t>(inner) * elem);
    } else if (elem == 4) {
      for (int64_t i = 0; i < inner; ++i) std::memcpy(d + i * d_in * 4, s + i * s_in * 4, 4);
    } else {
      for (int64_t i = 0; i < inner; ++i)
        std::memcpy(d + i * d_in * static_cast<int64_t>(elem), s + i * s_in * static_cast<int64_t>(elem), elem);
    }
    // Advance the odometer over axes rank-2 .. 0.
    int64_t axis = static_cast<int64_t>(rank) - 2;
    for (; axis >= 0; --axis) {
      ++idx[axis];
      s_off += src_strides[axis];
      d_off += dst_strides[axis];
      if (idx[axis] < shape[axis]) break;
      s_off -= src_strides[axis] * shape[axis];
      d_off -= dst_strides[axis] * shape[axis];
      idx[axis] = 0;
    }
    if (axis < 0) return;
  }
}

namespace {
size_t Elem(const ConstTensorView& t) { return DTypeSize(t.dtype); }
}  // namespace

void Transpose(const ConstTensorView& in, std::span<const int64_t> perm, TensorView out) {
  const auto in_strides = Strides(in.shape);
  std::vector<int64_t> src_strides(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) src_strides[i] = in_strides[perm[i]];
  StridedCopy(in.bytes.data(), src_strides, out.bytes.data(), Strides(out.shape), out.shape, Elem(in));
}

void Broadcast(const ConstTensorView& in, std::span<const int64_t> axes, TensorView out) {
  const auto in_strides = Strides(in.shape);
  std::vector<int64_t> src_strides(out.shape.size(), 0);
  for (size_t i = 0; i < axes.size(); ++i) src_strides[axes[i]] = in.shape[i] == 1 ? 0 : in_strides[i];
  StridedCopy(in.bytes.data(), src_strides, out.bytes.data(), Strides(out.shape), out.shape, Elem(in));
}

void Slice(const ConstTensorView& in, std::span<const int64_t> start, std::span<const int64_t> strides,
           TensorView out) {
  const auto in_strides = Strides(in.shape);
  int64_t offset = 0;
  std::vector<int64_t> src_strides(in.shape.size());
  for (size_t i = 0; i < in.shape.size(); ++i) {
    offset += start[i] * in_strides[i];
    src_strides[i] = in_strides[i] * strides[i];
  }
  if (out.bytes.empty()) return;
  StridedCopy(in.bytes.data() + offset * static_cast<int64_t>(Elem(in)), src_strides, out.bytes.data(),
              Strides(out.shape), out.shape, Elem(in));
}

void Concatenate(const std::vector<ConstTensorView>& ins, int64_t axis, TensorView out) {
  const auto out_strides = Strides(out.shape);
  int64_t at = 0;
  for (const auto& in : ins) {
    StridedCopy(in.bytes.data(), Strides(in.shape),
                out.bytes.data() + at * out_strides[axis] * static_cast<int64_t>(Elem(in)), out_strides, in.shape,
                Elem(in));
    at += in.shape[axis];
  }
}

void Fill(std::span<const std::byte> element, const TensorView& out) {
  const size_t elem = element.size();
  const size_t n = out.bytes.size() / elem;
  bool all_zero = true;
  for (auto b : element) all_zero &= b == std::byte{0};
  if (all_zero) {
    std::memset(out.bytes.data(), 0, out.bytes.size());
    return;
  }
  for (size_t i = 0; i < n; ++i) std::memcpy(out.bytes.data() + i * elem, element.data(), elem);
}

void Pad(const ConstTensorView& in, const ConstTensorView& value, std::span<const PadSpec> pads, TensorView out) {
  Fill(value.bytes, out);
  // Input element i along an axis lands at lo + i * (interior + 1); keep the
  // input indices whose position falls inside the output (negative lo/hi crop).
  const size_t rank = in.shape.size();
  const auto in_strides = Strides(in.shape);
  const auto out_strides = Strides(out.shape);
  std::vector<int64_t> count(rank), src_strides(rank), dst_strides(rank);
  int64_t src_off = 0, dst_off = 0;
  for (size_t a = 0; a < rank; ++a) {
    const int64_t step = pads[a].interior + 1;
    const int64_t lo = pads[a].lo;
    // first i with lo + i*step >= 0
    int64_t first = lo >= 0 ? 0 : (-lo + step - 1) / step;
    // last i with lo + i*step < out_dim
    int64_t last = in.shape[a] - 1;
    if (out.shape[a] == 0) {
      last = -1;
    } else if (lo + last * step >= out.shape[a]) {
      last = (out.shape[a] - 1 - lo) / step;
      if (out.shape[a] - 1 - lo < 0) last = -1;
    }
    count[a] = std::max<int64_t>(0, last - first + 1);
    src_off += first * in_strides[a];
    dst_off += (lo + first * step) * out_strides[a];
    src_strides[a] = in_strides[a];
    dst_strides[a] = out_strides[a] * step;
  }
  for (int64_t c : count)
    if (c == 0) return;
  const int64_t elem = static_cast<int64_t>(Elem(in));
  StridedCopy(in.bytes.data() + src_off * elem, src_strides, out.bytes.data() + dst_off * elem, dst_strides, count,
              static_cast<size_t>(elem));
}

void Iota(std::optional<int64_t> axis, TensorView out) {
  const int64_t n = out.size();
  int64_t period = 1, inner = 1;  // value = (flat / inner) % period
  if (axis) {
    period = out.shape[*axis];
    for (size_t i = *axis + 1; i < out.shape.size(); ++i) inner *= out.shape[i];
  } else {
    period = n;
  }
  VisitDType(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = reinterpret_cast<T*>(out.bytes.data());
    for (int64_t i = 0; i < n; ++i) {
      const int64_t v = period == 0 ? 0 : (i / inner) % period;
      p[i] = kernels::ConvertValue<T, int64_t>(v);
    }
  });
}

void Select(const ConstTensorView& pred, const ConstTensorView& on_true, const ConstTensorView& on_false,
            const TensorView& out) {
  const auto* p = reinterpret_cast<const uint8_t*>(pred.bytes.data());
  const size_t elem = DTypeSize(out.dtype);
  const size_t n = pred.bytes.size();
  const std::byte* t = on_true.bytes.data();
  const std::byte* f = on_false.bytes.data();
  std::byte* o = out.bytes.data();
  for (size_t i = 0; i < n; ++i) std::memcpy(o + i * elem, (p[i] != 0 ? t : f) + i * elem, elem);
}

}  // namespace pelemay::layout
