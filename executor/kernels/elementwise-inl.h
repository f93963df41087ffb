// Per-target SIMD elementwise kernels (compiled once per Highway target via
// foreach_target.h in elementwise.cc). Loops are vector-length agnostic: full
// vectors, then a tail through a stack buffer of one vector, so no load or
// store ever touches memory outside the arrays.
//
// Transcendental functions use hwy/contrib/math inside the range where its
// error bound holds; a vector with any lane outside that range (or NaN) is
// computed lane by lane with the scalar reference instead, so results stay
// right at the edges (overflow, subnormals, huge sin arguments).

#if defined(PELEMAY_KERNELS_ELEMENTWISE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PELEMAY_KERNELS_ELEMENTWISE_INL_H_
#undef PELEMAY_KERNELS_ELEMENTWISE_INL_H_
#else
#define PELEMAY_KERNELS_ELEMENTWISE_INL_H_
#endif

#include <cstring>
#include <limits>

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include "executor/ops/op_catalogue.h"

HWY_BEFORE_NAMESPACE();
namespace pelemay::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Applies `vec_op(d, v...)` over n elements; the tail goes through a buffer.
template <class T, class VecOp>
HWY_INLINE void BinaryLoop(const T* HWY_RESTRICT a, const T* HWY_RESTRICT b, T* HWY_RESTRICT out, size_t n,
                           VecOp vec_op) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(vec_op(d, hn::LoadU(d, a + i), hn::LoadU(d, b + i)), d, out + i);
  if (i < n) {
    HWY_ALIGN T ba[HWY_MAX_BYTES / sizeof(T)] = {};
    HWY_ALIGN T bb[HWY_MAX_BYTES / sizeof(T)] = {};
    const size_t rest = n - i;
    std::memcpy(ba, a + i, rest * sizeof(T));
    std::memcpy(bb, b + i, rest * sizeof(T));
    hn::Store(vec_op(d, hn::Load(d, ba), hn::Load(d, bb)), d, ba);
    std::memcpy(out + i, ba, rest * sizeof(T));
  }
}

template <class D, class V>
HWY_INLINE V PropagateNaN(D d, V a, V b, V r) {
  const auto nan = hn::Set(d, std::numeric_limits<hn::TFromD<D>>::quiet_NaN());
  return hn::IfThenElse(hn::Or(hn::IsNaN(a), hn::IsNaN(b)), nan, r);
}

// min/max exactly as the reference (ties, i.e. -0.0 vs +0.0, return the first
// operand, as :erlang.min/max). hn::Min/Max return the second operand on x86
// and order -0.0 below +0.0 on Arm, so they are not used.
template <class D, class V>
HWY_INLINE V MinFirstOnTie(D d, V a, V b) {
  return PropagateNaN(d, a, b, hn::IfThenElse(hn::Lt(b, a), b, a));
}
template <class D, class V>
HWY_INLINE V MaxFirstOnTie(D d, V a, V b) {
  return PropagateNaN(d, a, b, hn::IfThenElse(hn::Lt(a, b), b, a));
}

template <class T>
bool BinaryFloatImpl(OpCode op, const T* a, const T* b, T* out, size_t n) {
  switch (op) {
    case OpCode::add: BinaryLoop(a, b, out, n, [](auto, auto x, auto y) { return hn::Add(x, y); }); return true;
    case OpCode::subtract: BinaryLoop(a, b, out, n, [](auto, auto x, auto y) { return hn::Sub(x, y); }); return true;
    case OpCode::multiply: BinaryLoop(a, b, out, n, [](auto, auto x, auto y) { return hn::Mul(x, y); }); return true;
    case OpCode::divide: BinaryLoop(a, b, out, n, [](auto, auto x, auto y) { return hn::Div(x, y); }); return true;
    case OpCode::min:
      BinaryLoop(a, b, out, n, [](auto d, auto x, auto y) { return MinFirstOnTie(d, x, y); });
      return true;
    case OpCode::max:
      BinaryLoop(a, b, out, n, [](auto d, auto x, auto y) { return MaxFirstOnTie(d, x, y); });
      return true;
    default: return false;
  }
}

bool BinaryF32(OpCode op, const float* a, const float* b, float* out, size_t n) {
  return BinaryFloatImpl(op, a, b, out, n);
}
bool BinaryF64(OpCode op, const double* a, const double* b, double* out, size_t n) {
  return BinaryFloatImpl(op, a, b, out, n);
}

// Unary loop with a per-vector range guard: vectors whose lanes are all in
// range use vec_op, others are computed lane by lane with `ref`.
template <class T, class InRange, class VecOp>
HWY_INLINE void GuardedUnaryLoop(const T* HWY_RESTRICT a, T* HWY_RESTRICT out, size_t n, T (*ref)(T), InRange in_range,
                                 VecOp vec_op) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto v = hn::LoadU(d, a + i);
    if (HWY_LIKELY(hn::AllTrue(d, in_range(d, v)))) {
      hn::StoreU(vec_op(d, v), d, out + i);
    } else {
      for (size_t j = 0; j < lanes; ++j) out[i + j] = ref(a[i + j]);
    }
  }
  for (; i < n; ++i) out[i] = ref(a[i]);
}

// Exact IEEE ops (sign, sqrt, rounding) need no range guard.
template <class T, class VecOp>
HWY_INLINE void UnaryLoop(const T* HWY_RESTRICT a, T* HWY_RESTRICT out, size_t n, VecOp vec_op) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(vec_op(d, hn::LoadU(d, a + i)), d, out + i);
  if (i < n) {
    HWY_ALIGN T buf[HWY_MAX_BYTES / sizeof(T)] = {};
    std::memcpy(buf, a + i, (n - i) * sizeof(T));
    hn::Store(vec_op(d, hn::Load(d, buf)), d, buf);
    std::memcpy(out + i, buf, (n - i) * sizeof(T));
  }
}

template <class D, class V>
HWY_INLINE auto Within(D d, V v, double lo, double hi) {
  using T = hn::TFromD<D>;
  return hn::And(hn::Ge(v, hn::Set(d, static_cast<T>(lo))), hn::Le(v, hn::Set(d, static_cast<T>(hi))));
}

// For functions with f(+-0) = +-0 (expm1, sin): returns the input where it is
// +-0.0, so the sign of zero survives as in C (Highway's Expm1 on the scalar
// target and its f64 Sin below AVX2 return +0.0 for -0.0).
template <class D, class V>
HWY_INLINE V KeepZero(D d, V v, V r) {
  return hn::IfThenElse(hn::Eq(v, hn::Zero(d)), v, r);
}

template <class T>
bool UnaryFloatImpl(OpCode op, const T* a, T* out, size_t n, T (*ref)(T)) {
  constexpr bool kF32 = sizeof(T) == 4;
  // Ranges where hwy/contrib/math meets its documented error bound and the
  // result is a normal number.
  constexpr double kExpLo = kF32 ? -87.0 : -708.0;
  constexpr double kExpHi = kF32 ? 88.0 : 709.0;
  constexpr double kSigmoidLim = kF32 ? 80.0 : 700.0;
  constexpr double kTrigLim = 39000.0;
  constexpr double kMax = std::numeric_limits<T>::max();
  constexpr double kMinNormal = std::numeric_limits<T>::min();
  switch (op) {
    case OpCode::negate: UnaryLoop(a, out, n, [](auto, auto v) { return hn::Neg(v); }); return true;
    case OpCode::abs: UnaryLoop(a, out, n, [](auto, auto v) { return hn::Abs(v); }); return true;
    case OpCode::sqrt: UnaryLoop(a, out, n, [](auto, auto v) { return hn::Sqrt(v); }); return true;
    // floor and ceil keep the sign of the input (floor(-0.0) = -0.0,
    // ceil(-0.5) = -0.0); Highway's emulation on SSSE3 and the scalar targets
    // converts through integers and loses it.
    case OpCode::floor: UnaryLoop(a, out, n, [](auto, auto v) { return hn::CopySign(hn::Floor(v), v); }); return true;
    case OpCode::ceil: UnaryLoop(a, out, n, [](auto, auto v) { return hn::CopySign(hn::Ceil(v), v); }); return true;
    case OpCode::round:
      // Half away from zero: truncate, then step away from zero when the
      // dropped fraction is at least one half. NaN and infinities pass through.
      UnaryLoop(a, out, n, [](auto d, auto v) {
        const auto t = hn::Trunc(v);
        const auto away = hn::Ge(hn::Abs(hn::Sub(v, t)), hn::Set(d, T(0.5)));
        const auto r = hn::IfThenElse(away, hn::Add(t, hn::CopySign(hn::Set(d, T(1)), v)), t);
        return hn::Add(r, hn::Zero(d));  // -0.0 -> +0.0, as Nx (and the reference)
      });
      return true;
    case OpCode::exp:
      GuardedUnaryLoop(
          a, out, n, ref, [&](auto d, auto v) { return Within(d, v, kExpLo, kExpHi); },
          [](auto d, auto v) { return hn::Exp(d, v); });
      return true;
    case OpCode::expm1:
      GuardedUnaryLoop(
          a, out, n, ref, [&](auto d, auto v) { return Within(d, v, kExpLo, kExpHi); },
          [](auto d, auto v) { return KeepZero(d, v, hn::Expm1(d, v)); });
      return true;
    case OpCode::log:
      GuardedUnaryLoop(
          a, out, n, ref, [&](auto d, auto v) { return Within(d, v, kMinNormal, kMax); },
          [](auto d, auto v) { return hn::Log(d, v); });
      return true;
    case OpCode::log1p:
      GuardedUnaryLoop(
          a, out, n, ref, [&](auto d, auto v) { return Within(d, v, 0.0, kMax); },
          [](auto d, auto v) { return hn::Log1p(d, v); });
      return true;
    case OpCode::tanh:
      GuardedUnaryLoop(
          a, out, n, ref, [&](auto d, auto v) { return Within(d, v, -kMax, kMax); },
          [](auto d, auto v) { return hn::Tanh(d, v); });
      return true;
    case OpCode::sigmoid:
      GuardedUnaryLoop(
          a, out, n, ref, [&](auto d, auto v) { return Within(d, v, -kSigmoidLim, kSigmoidLim); },
          [](auto d, auto v) {
            const auto one = hn::Set(d, T(1));
            return hn::Div(one, hn::Add(one, hn::Exp(d, hn::Neg(v))));
          });
      return true;
    case OpCode::sin:
      GuardedUnaryLoop(
          a, out, n, ref, [&](auto d, auto v) { return Within(d, v, -kTrigLim, kTrigLim); },
          [](auto d, auto v) { return KeepZero(d, v, hn::Sin(d, v)); });
      return true;
    case OpCode::cos:
      GuardedUnaryLoop(
          a, out, n, ref, [&](auto d, auto v) { return Within(d, v, -kTrigLim, kTrigLim); },
          [](auto d, auto v) { return hn::Cos(d, v); });
      return true;
    default: return false;
  }
}

bool UnaryF32(OpCode op, const float* a, float* out, size_t n, float (*ref)(float)) {
  return UnaryFloatImpl(op, a, out, n, ref);
}
bool UnaryF64(OpCode op, const double* a, double* out, size_t n, double (*ref)(double)) {
  return UnaryFloatImpl(op, a, out, n, ref);
}

// Which (op, float width) pairs have a kernel above; used by HasSimdKernel.
bool HasFloatKernel(OpCode op) {
  switch (op) {
    case OpCode::add:
    case OpCode::subtract:
    case OpCode::multiply:
    case OpCode::divide:
    case OpCode::min:
    case OpCode::max:
    case OpCode::negate:
    case OpCode::abs:
    case OpCode::sqrt:
    case OpCode::floor:
    case OpCode::ceil:
    case OpCode::round:
    case OpCode::exp:
    case OpCode::expm1:
    case OpCode::log:
    case OpCode::log1p:
    case OpCode::tanh:
    case OpCode::sigmoid:
    case OpCode::sin:
    case OpCode::cos: return true;
    default: return false;
  }
}

}  // namespace pelemay::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
