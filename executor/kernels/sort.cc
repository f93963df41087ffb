// Sort, argsort and cumulative scans: plain templated C++ over dtypes. Each
// works on lines along one axis, gathered into a contiguous buffer (so the
// axis may be any one), and lines are spread over the thread pool.
#include "executor/kernels/sort.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <type_traits>
#include <vector>

#include "executor/kernels/lines.h"
#include "executor/kernels/scalar_ops.h"

namespace pelemay::kernels {
namespace {

template <class C>
bool IsNaNKey(C v) {
  if constexpr (std::is_floating_point_v<C>) return std::isnan(v);
  else return false;
}

// "a sorts before b": a strict weak order in which all NaNs are equivalent
// and -0.0 == 0.0, so with ties broken by position it is exactly the stable
// order of Nx.BinaryBackend's comparators.
template <class C>
bool Before(C a, C b, bool descending) {
  const bool na = IsNaNKey(a), nb = IsNaNKey(b);
  if (descending) {
    if (na) return !nb;
    if (nb) return false;
    return a > b;
  }
  if (na) return false;
  if (nb) return true;
  return a < b;
}

template <class T, class Out>
void SortTyped(OpCode op, const Shape& shape, int64_t axis, bool descending, std::span<const std::byte> in_bytes,
               std::span<std::byte> out_bytes, ThreadPool* pool) {
  using C = ComputeType<T>;
  const Lines lines(shape, axis);
  const T* in = reinterpret_cast<const T*>(in_bytes.data());
  struct Entry {
    C key;
    int64_t index;
  };
  ForEachLineRange(lines.count(), lines.n * 8, pool, [&](int64_t begin, int64_t end) {
    std::vector<Entry> entries(lines.n);
    for (int64_t l = begin; l < end; ++l) {
      const int64_t base = lines.base(l);
      for (int64_t j = 0; j < lines.n; ++j) entries[j] = {static_cast<C>(in[base + j * lines.inner]), j};
      // Ties broken by position make the order total, so an unstable sort
      // gives the stable result.
      std::sort(entries.begin(), entries.end(), [descending](const Entry& x, const Entry& y) {
        if (Before(x.key, y.key, descending)) return true;
        if (Before(y.key, x.key, descending)) return false;
        return x.index < y.index;
      });
      if (op == OpCode::argsort) {
        Out* out = reinterpret_cast<Out*>(out_bytes.data());
        for (int64_t j = 0; j < lines.n; ++j) out[base + j * lines.inner] = static_cast<Out>(entries[j].index);
      } else {
        T* out = reinterpret_cast<T*>(out_bytes.data());
        for (int64_t j = 0; j < lines.n; ++j) out[base + j * lines.inner] = in[base + entries[j].index * lines.inner];
      }
    }
  });
}

// One step of a scan, as Nx.BinaryBackend computes it: halves in f32 (a
// single rounding, as exact as f64 for +, *), f32 in itself (likewise),
// complex products from f64 components, integers wrapping.
template <class T>
T Combine(OpCode op, T a, T b) {
  if constexpr (kIsComplex<T>) {
    if (op == OpCode::cumulative_sum) return a + b;
    const double ar = a.real(), ai = a.imag(), br = b.real(), bi = b.imag();
    using R = typename T::value_type;
    return T(static_cast<R>(ar * br - ai * bi), static_cast<R>(ai * br + ar * bi));
  } else {
    using C = ComputeType<T>;
    const C x = static_cast<C>(a), y = static_cast<C>(b);
    C r{};
    switch (op) {
      case OpCode::cumulative_sum: r = ref::Binary<OpCode::add, C>(x, y); break;
      case OpCode::cumulative_product: r = ref::Binary<OpCode::multiply, C>(x, y); break;
      case OpCode::cumulative_min: r = ref::Binary<OpCode::min, C>(x, y); break;
      default: r = ref::Binary<OpCode::max, C>(x, y); break;
    }
    return static_cast<T>(r);
  }
}

// Nx's associative scan (Nx.cumulative_* without a backend op), in place:
// pairs p[i] = f(x[2i+1], x[2i]) are scanned recursively into s, then the
// result is r[0] = x[0], r[2i+1] = s[i], r[2i] = f(s[i-1], x[2i]).
template <class T>
void PairwiseScan(OpCode op, std::span<T> x, std::vector<T>& scratch, size_t depth_offset) {
  const size_t n = x.size();
  if (n < 2) return;
  const size_t half = n / 2;
  // Each level takes the next `half` slots of scratch: n/2 + n/4 + ... < n.
  std::span<T> pairs(scratch.data() + depth_offset, half);
  for (size_t i = 0; i < half; ++i) pairs[i] = Combine(op, x[2 * i + 1], x[2 * i]);
  PairwiseScan(op, pairs, scratch, depth_offset + half);
  for (size_t i = 1; 2 * i < n; ++i) x[2 * i] = Combine(op, pairs[i - 1], x[2 * i]);
  for (size_t i = 0; i < half; ++i) x[2 * i + 1] = pairs[i];
}

template <class T>
void ScanTyped(OpCode op, const Shape& shape, int64_t axis, bool reverse, std::span<const std::byte> in_bytes,
               std::span<std::byte> out_bytes, ThreadPool* pool) {
  const Lines lines(shape, axis);
  const T* in = reinterpret_cast<const T*>(in_bytes.data());
  T* out = reinterpret_cast<T*>(out_bytes.data());
  ForEachLineRange(lines.count(), lines.n * 2, pool, [&](int64_t begin, int64_t end) {
    std::vector<T> line(lines.n), scratch(lines.n);
    for (int64_t l = begin; l < end; ++l) {
      const int64_t base = lines.base(l);
      for (int64_t j = 0; j < lines.n; ++j) {
        const int64_t from = reverse ? lines.n - 1 - j : j;
        line[j] = in[base + from * lines.inner];
      }
      PairwiseScan<T>(op, std::span<T>(line), scratch, 0);
      for (int64_t j = 0; j < lines.n; ++j) {
        const int64_t to = reverse ? lines.n - 1 - j : j;
        out[base + to * lines.inner] = line[j];
      }
    }
  });
}

}  // namespace

void Sort(OpCode op, DType dtype, DType out_dtype, const Shape& shape, int64_t axis, bool descending,
          std::span<const std::byte> in, std::span<std::byte> out, ThreadPool* pool) {
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (!kIsComplex<T>) {
      if (op == OpCode::sort) {
        SortTyped<T, T>(op, shape, axis, descending, in, out, pool);
        return;
      }
      VisitDType(out_dtype, [&](auto out_tag) {
        using Out = decltype(out_tag);
        if constexpr (kIsInt<Out>) SortTyped<T, Out>(op, shape, axis, descending, in, out, pool);
      });
    }
  });
}

void Scan(OpCode op, DType dtype, const Shape& shape, int64_t axis, bool reverse, std::span<const std::byte> in,
          std::span<std::byte> out, ThreadPool* pool) {
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsComplex<T>) {
      if (op == OpCode::cumulative_min || op == OpCode::cumulative_max) return;  // rejected by the validator
    }
    ScanTyped<T>(op, shape, axis, reverse, in, out, pool);
  });
}

}  // namespace pelemay::kernels
