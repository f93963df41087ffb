// Reductions. Any set of axes is handled as a sequence of [outer, r, inner]
// reductions, one per run of adjacent reduced axes, innermost first: rows
// (inner == 1) use the SIMD row sum, strided cases accumulate whole inner
// rows at a time so memory is read in order.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "executor/kernels/reduce.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "executor/kernels/reduce-inl.h"

#if HWY_ONCE
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "executor/core/thread_pool.h"
#include "executor/kernels/reduce.h"
#include "executor/kernels/scalar_ops.h"

namespace pelemay::kernels {

HWY_EXPORT(SumRowF32);
HWY_EXPORT(SumRowF64);

namespace {

// Accumulator type: floats accumulate in f64 (as Nx.BinaryBackend does, and
// so long f32 sums keep their accuracy), complex in itself, integers wrap in
// their own width.
template <class T>
using Acc = std::conditional_t<kIsFloat<T>, double, T>;

template <class A>
A Identity(OpCode op) {
  if (op == OpCode::sum) return A{0};
  if (op == OpCode::product) return A{1};
  if constexpr (kIsComplex<A>) {
    return A{};
  } else if constexpr (std::is_floating_point_v<A>) {
    return op == OpCode::reduce_max ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::infinity();
  } else {
    return op == OpCode::reduce_max ? std::numeric_limits<A>::lowest() : std::numeric_limits<A>::max();
  }
}

template <class A>
A Combine(OpCode op, A acc, A v) {
  switch (op) {
    case OpCode::sum: return ref::Binary<OpCode::add, A>(acc, v);
    case OpCode::product: return ref::Binary<OpCode::multiply, A>(acc, v);
    case OpCode::reduce_max:
      if constexpr (kIsComplex<A>) return acc;
      else return ref::Binary<OpCode::max, A>(acc, v);
    case OpCode::reduce_min:
      if constexpr (kIsComplex<A>) return acc;
      else return ref::Binary<OpCode::min, A>(acc, v);
    default: return acc;
  }
}

template <class A, class In>
A Widen(In v) {
  if constexpr (kIsHalf<In>) return static_cast<A>(static_cast<float>(v));
  else return static_cast<A>(v);
}

template <class A, class In>
A RowReduce(OpCode op, const In* p, int64_t n, bool simd) {
  if (simd && op == OpCode::sum) {
    if constexpr (std::is_same_v<In, float> && std::is_same_v<A, double>) return HWY_DYNAMIC_DISPATCH(SumRowF32)(p, n);
    if constexpr (std::is_same_v<In, double>) return HWY_DYNAMIC_DISPATCH(SumRowF64)(p, n);
  }
  A acc = Identity<A>(op);
  for (int64_t i = 0; i < n; ++i) acc = Combine(op, acc, Widen<A>(p[i]));
  return acc;
}

// One [outer, r, inner] step: reads In (the input, or accumulators from an
// earlier step), writes accumulators.
template <class A, class In>
void ReduceStep(OpCode op, const In* in, A* out, int64_t outer, int64_t r, int64_t inner, bool simd, ThreadPool* pool) {
  auto run = [&](int64_t o_begin, int64_t o_end) {
    for (int64_t o = o_begin; o < o_end; ++o) {
      const In* src = in + o * r * inner;
      A* dst = out + o * inner;
      if (inner == 1) {
        dst[0] = RowReduce<A>(op, src, r, simd);
        continue;
      }
      for (int64_t i = 0; i < inner; ++i) dst[i] = Identity<A>(op);
      for (int64_t j = 0; j < r; ++j)
        for (int64_t i = 0; i < inner; ++i) dst[i] = Combine(op, dst[i], Widen<A>(src[j * inner + i]));
    }
  };
  const int64_t work_per_outer = std::max<int64_t>(1, r * inner);
  if (pool != nullptr) pool->ParallelFor(outer, std::max<int64_t>(1, (1 << 16) / work_per_outer), run);
  else run(0, outer);
}

template <class T>
void ReduceTyped(OpCode op, const Shape& shape, std::span<const int64_t> axes, std::span<const std::byte> in_bytes,
                 std::span<std::byte> out_bytes, bool simd, ThreadPool* pool) {
  using A = Acc<T>;
  const T* in = reinterpret_cast<const T*>(in_bytes.data());
  T* out = reinterpret_cast<T*>(out_bytes.data());
  const int64_t out_count = static_cast<int64_t>(out_bytes.size() / sizeof(T));
  if (axes.empty()) {
    std::copy(in, in + out_count, out);
    return;
  }
  std::vector<bool> reduced(shape.size(), false);
  for (int64_t a : axes) reduced[a] = true;

  // Runs of adjacent reduced axes, innermost first. The first step reads the
  // input directly; later ones read the previous step's accumulators.
  Shape dims = shape;
  std::vector<A> cur, next;
  bool first = true;
  for (int64_t hi = static_cast<int64_t>(dims.size()) - 1; hi >= 0;) {
    if (!reduced[hi]) {
      --hi;
      continue;
    }
    int64_t lo = hi;
    while (lo > 0 && reduced[lo - 1]) --lo;
    int64_t outer = 1, r = 1, inner = 1;
    for (int64_t i = 0; i < lo; ++i) outer *= dims[i];
    for (int64_t i = lo; i <= hi; ++i) r *= dims[i];
    for (size_t i = hi + 1; i < dims.size(); ++i) inner *= dims[i];
    next.assign(outer * inner, A{});
    if (outer * inner > 0) {
      if (first) ReduceStep<A, T>(op, in, next.data(), outer, r, inner, simd, pool);
      else ReduceStep<A, A>(op, cur.data(), next.data(), outer, r, inner, simd, pool);
    }
    first = false;
    for (int64_t i = lo; i <= hi; ++i) dims[i] = 1;
    cur.swap(next);
    hi = lo - 1;
  }
  for (int64_t i = 0; i < out_count; ++i) {
    // f16 rounds once from the f64 accumulator, as Nx writes it.
    if constexpr (std::is_same_v<T, f16>) out[i] = F16FromDouble(static_cast<double>(cur[i]));
    else if constexpr (kIsHalf<T>) out[i] = T(static_cast<float>(cur[i]));
    else out[i] = static_cast<T>(cur[i]);
  }
}

void ReduceImpl(OpCode op, DType dtype, const Shape& shape, std::span<const int64_t> axes,
                std::span<const std::byte> in, std::span<std::byte> out, bool simd, ThreadPool* pool) {
  VisitDType(dtype, [&](auto tag) { ReduceTyped<decltype(tag)>(op, shape, axes, in, out, simd, pool); });
}

// Nx.BinaryBackend's argmax/argmin scan: every comparison with NaN is false,
// so a NaN wins only as the first element (or, with tie_break high, when it
// follows another NaN); otherwise NaNs are skipped.
template <class C>
bool Better(bool is_max, C v, C best) {
  return is_max ? v > best : v < best;
}

template <class C>
bool Same(C v, C best) {
  if constexpr (std::is_floating_point_v<C>) {
    if (std::isnan(v) && std::isnan(best)) return true;
  }
  return v == best;
}

}  // namespace

void Reduce(OpCode op, DType dtype, const Shape& shape, std::span<const int64_t> axes, std::span<const std::byte> in,
            std::span<std::byte> out, ThreadPool* pool) {
  ReduceImpl(op, dtype, shape, axes, in, out, /*simd=*/true, pool);
}

void ReduceReference(OpCode op, DType dtype, const Shape& shape, std::span<const int64_t> axes,
                     std::span<const std::byte> in, std::span<std::byte> out) {
  ReduceImpl(op, dtype, shape, axes, in, out, /*simd=*/false, nullptr);
}

void ArgReduce(OpCode op, DType dtype, DType out_dtype, const Shape& shape, std::optional<int64_t> axis,
               bool tie_break_high, std::span<const std::byte> in, std::span<std::byte> out) {
  int64_t outer = 1, r = 1, inner = 1;
  if (!axis) {
    for (int64_t d : shape) r *= d;
  } else {
    for (int64_t i = 0; i < *axis; ++i) outer *= shape[i];
    r = shape[*axis];
    for (size_t i = *axis + 1; i < shape.size(); ++i) inner *= shape[i];
  }
  const bool is_max = op == OpCode::argmax;
  std::vector<int64_t> idx(outer * inner, 0);
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    using C = ComputeType<T>;
    if constexpr (!kIsComplex<T>) {
      const T* p = reinterpret_cast<const T*>(in.data());
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          int64_t best_j = 0;
          if (r == 0) continue;
          C best = C(p[o * r * inner + i]);
          for (int64_t j = 1; j < r; ++j) {
            const C v = C(p[(o * r + j) * inner + i]);
            if (Better(is_max, v, best) || (tie_break_high && Same(v, best))) {
              best = v;
              best_j = j;
            }
          }
          idx[o * inner + i] = best_j;
        }
      }
    }
  });
  VisitDType(out_dtype, [&](auto tag) {
    using I = decltype(tag);
    if constexpr (kIsInt<I>) {
      I* o = reinterpret_cast<I*>(out.data());
      for (size_t i = 0; i < idx.size(); ++i) o[i] = static_cast<I>(idx[i]);
    }
  });
}

}  // namespace pelemay::kernels
#endif  // HWY_ONCE
