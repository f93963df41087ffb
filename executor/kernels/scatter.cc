#include "executor/kernels/scatter.h"

#include <algorithm>
#include <complex>
#include <cstring>
#include <type_traits>
#include <vector>

#include "executor/core/dtype.h"
#include "executor/core/shape.h"
#include "executor/kernels/convert.h"
#include "executor/kernels/index_values.h"

namespace pelemay::kernels {
namespace {

// Wrapping integer addition (no signed overflow).
template <class T>
T WrapAdd(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
}

// The f64 value of a real float element.
template <class T>
double Widen(T v) {
  if constexpr (kIsHalf<T>) return static_cast<double>(static_cast<float>(v));
  else return static_cast<double>(v);
}

// Runs `apply(target_offset, update_index)` for every element of every
// updates row, rows in order.
template <class Fn>
void ForEachUpdate(int64_t rows, int64_t window, std::span<const int64_t> bases, std::span<const int64_t> offsets,
                   Fn&& apply) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < window; ++j) apply(bases[r] + offsets[j], r * window + j);
}

template <class T>
void AddFloats(const TensorView& out, const ConstTensorView& updates, int64_t rows, int64_t window,
               std::span<const int64_t> bases, std::span<const int64_t> offsets) {
  using Acc = std::conditional_t<kIsComplex<T>, c128, double>;
  const int64_t n = out.size();
  Buffer acc_buffer(n * static_cast<int64_t>(sizeof(Acc)));
  Buffer touched_buffer(n);
  Acc* acc = reinterpret_cast<Acc*>(acc_buffer.bytes().data());
  auto* touched = reinterpret_cast<uint8_t*>(touched_buffer.bytes().data());
  std::fill(acc, acc + n, Acc(0.0));
  std::fill(touched, touched + n, uint8_t{0});
  const T* u = reinterpret_cast<const T*>(updates.bytes.data());
  ForEachUpdate(rows, window, bases, offsets, [&](int64_t t, int64_t i) {
    if constexpr (kIsComplex<T>) acc[t] += c128(u[i].real(), u[i].imag());
    else acc[t] += Widen(u[i]);
    touched[t] = 1;
  });
  T* o = reinterpret_cast<T*>(out.bytes.data());
  for (int64_t t = 0; t < n; ++t) {
    if (touched[t] == 0) continue;
    if constexpr (kIsComplex<T>) {
      using R = typename T::value_type;
      o[t] = T(static_cast<R>(static_cast<double>(o[t].real()) + acc[t].real()),
               static_cast<R>(static_cast<double>(o[t].imag()) + acc[t].imag()));
    } else {
      o[t] = ConvertValue<T, double>(Widen(o[t]) + acc[t]);
    }
  }
}

}  // namespace

Status Scatter(bool add, const ConstTensorView& target, const ConstTensorView& indices, const ConstTensorView& updates,
               std::span<const int64_t> axes, const TensorView& out) {
  const std::string_view op = add ? "indexed_add" : "indexed_put";
  const int64_t rows = indices.shape[0];
  const auto k = static_cast<int64_t>(axes.size());
  Int64Scratch idx_scratch(indices.size());
  const auto idx = idx_scratch.values();
  ReadIndices(indices, idx);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t m = 0; m < k; ++m)
      PELEMAY_RETURN_IF_ERROR(CheckIndex(op, idx[r * k + m], axes[m], target.shape[axes[m]]));
  if (!out.bytes.empty()) std::memcpy(out.bytes.data(), target.bytes.data(), target.bytes.size());
  if (updates.bytes.empty()) return Status::Ok();

  const auto strides = Strides(target.shape);
  std::vector<int64_t> window_axes;
  for (int64_t a = 0; a < static_cast<int64_t>(target.shape.size()); ++a)
    if (std::find(axes.begin(), axes.end(), a) == axes.end()) window_axes.push_back(a);
  const std::span<const int64_t> window_dims = std::span(updates.shape).subspan(1);
  int64_t window = 1;
  for (int64_t d : window_dims) window *= d;
  Int64Scratch offsets_scratch(window);
  const auto offsets = offsets_scratch.values();
  BlockOffsets(strides, window_axes, window_dims, offsets);
  std::vector<int64_t> bases(static_cast<size_t>(rows), 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t m = 0; m < k; ++m) bases[r] += idx[r * k + m] * strides[axes[m]];

  if (!add) {
    const size_t elem = DTypeSize(target.dtype);
    const std::byte* u = updates.bytes.data();
    std::byte* o = out.bytes.data();
    ForEachUpdate(rows, window, bases, offsets, [&](int64_t t, int64_t i) {
      std::memcpy(o + t * static_cast<int64_t>(elem), u + i * static_cast<int64_t>(elem), elem);
    });
    return Status::Ok();
  }
  VisitDType(target.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsInt<T>) {
      const T* u = reinterpret_cast<const T*>(updates.bytes.data());
      T* o = reinterpret_cast<T*>(out.bytes.data());
      ForEachUpdate(rows, window, bases, offsets, [&](int64_t t, int64_t i) { o[t] = WrapAdd(o[t], u[i]); });
    } else {
      AddFloats<T>(out, updates, rows, window, bases, offsets);
    }
  });
  return Status::Ok();
}

}  // namespace pelemay::kernels
