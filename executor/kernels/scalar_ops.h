// The scalar reference semantics of every elementwise op, for every dtype.
// This is the definition the SIMD kernels are tested against, and the path
// used for (op, dtype) pairs that have no SIMD kernel. Semantics follow
// Nx.BinaryBackend: integers wrap, NaN propagates through min/max, rounding
// is half away from zero, and half floats compute in wider floats.
#pragma once

#include <bit>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "executor/core/dtype.h"
#include "executor/ops/op_catalogue.h"

namespace pelemay::ref {

template <class T>
using Unsigned = std::make_unsigned_t<T>;

// Integer ring arithmetic without undefined behaviour: computed on 64-bit
// unsigned and truncated, which is exactly two's-complement wraparound.
template <class T>
T WrapAdd(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
template <class T>
T WrapSub(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
template <class T>
T WrapMul(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

template <class T>
T IntPow(T base, T exp) {
  // Caller guarantees exp >= 0 (checked before the kernel runs).
  T result = 1;
  auto e = static_cast<uint64_t>(exp);
  while (e != 0) {
    if (e & 1) result = WrapMul(result, base);
    base = WrapMul(base, base);
    e >>= 1;
  }
  return result;
}

// Floating-point transcendental functions are evaluated in double and rounded
// once to the destination type, as Nx.BinaryBackend (Erlang :math) does.
template <class T>
bool IsNaN(T v) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

// Binary op on values already in compute type C (C = T, or float for halves).
template <OpCode kOp, class C>
C Binary(C a, C b) {
  constexpr bool kInt = std::is_integral_v<C>;
  if constexpr (kOp == OpCode::add) {
    if constexpr (kInt) return WrapAdd(a, b);
    else return a + b;
  } else if constexpr (kOp == OpCode::subtract) {
    if constexpr (kInt) return WrapSub(a, b);
    else return a - b;
  } else if constexpr (kOp == OpCode::multiply) {
    if constexpr (kInt) return WrapMul(a, b);
    else return a * b;
  } else if constexpr (kOp == OpCode::divide) {
    if constexpr (kInt) return b == 0 ? C{0} : a / b;  // unreachable: validator rejects
    else return a / b;
  } else if constexpr (kOp == OpCode::quotient) {
    if constexpr (kInt) {
      if (b == 0) return 0;  // rejected before the kernel runs
      if constexpr (std::is_signed_v<C>) {
        if (b == -1) return WrapSub(C{0}, a);  // MIN / -1 wraps to MIN
      }
      return static_cast<C>(a / b);
    } else if constexpr (kIsComplex<C>) {
      return C{};  // unreachable: quotient is integer-only
    } else {
      return std::trunc(a / b);
    }
  } else if constexpr (kOp == OpCode::remainder) {
    if constexpr (kInt) {
      if (b == 0) return 0;  // rejected before the kernel runs
      if constexpr (std::is_signed_v<C>) {
        if (b == -1) return 0;
      }
      return static_cast<C>(a % b);
    } else if constexpr (kIsComplex<C>) {
      return C{};  // unreachable: validator rejects complex remainder
    } else {
      return static_cast<C>(std::fmod(static_cast<double>(a), static_cast<double>(b)));
    }
  } else if constexpr (kOp == OpCode::pow) {
    if constexpr (kInt) return IntPow(a, b);
    else if constexpr (kIsComplex<C>) return std::pow(a, b);
    else {
      // Nx: NaN on either side is NaN (C's pow gives pow(1, NaN) = 1).
      if (IsNaN(a) || IsNaN(b)) return std::numeric_limits<C>::quiet_NaN();
      return static_cast<C>(std::pow(static_cast<double>(a), static_cast<double>(b)));
    }
  } else if constexpr (kOp == OpCode::min) {
    if constexpr (kIsComplex<C>) return a;  // unreachable
    else {
      if (IsNaN(a) || IsNaN(b)) return std::numeric_limits<C>::quiet_NaN();
      return b < a ? b : a;
    }
  } else if constexpr (kOp == OpCode::max) {
    if constexpr (kIsComplex<C>) return a;  // unreachable
    else {
      if (IsNaN(a) || IsNaN(b)) return std::numeric_limits<C>::quiet_NaN();
      return a < b ? b : a;
    }
  } else if constexpr (kOp == OpCode::atan2) {
    if constexpr (std::is_floating_point_v<C>)
      return static_cast<C>(std::atan2(static_cast<double>(a), static_cast<double>(b)));
    else return a;  // unreachable
  } else if constexpr (kOp == OpCode::bitwise_and) {
    if constexpr (kInt) return a & b;
    else return a;
  } else if constexpr (kOp == OpCode::bitwise_or) {
    if constexpr (kInt) return a | b;
    else return a;
  } else if constexpr (kOp == OpCode::bitwise_xor) {
    if constexpr (kInt) return a ^ b;
    else return a;
  } else if constexpr (kOp == OpCode::left_shift) {
    // Nx shifts an unbounded integer and wraps it to the type: every bit
    // is gone once b reaches the width. (b < 0 is rejected before the
    // kernel runs.)
    if constexpr (kInt) {
      const auto n = static_cast<uint64_t>(b);
      if (b < 0 || n >= sizeof(C) * 8) return C{0};
      return static_cast<C>(static_cast<Unsigned<C>>(a) << n);
    } else {
      return a;
    }
  } else if constexpr (kOp == OpCode::right_shift) {
    // Arithmetic for signed types (Elixir's bsr on a negative integer).
    if constexpr (kInt) {
      const auto n = static_cast<uint64_t>(b);
      if (b < 0 || n >= sizeof(C) * 8) return (std::is_signed_v<C> && a < 0) ? static_cast<C>(-1) : C{0};
      if constexpr (std::is_signed_v<C>) {
        return a < 0 ? static_cast<C>(~(~a >> n)) : static_cast<C>(a >> n);
      } else {
        return static_cast<C>(a >> n);
      }
    } else {
      return a;
    }
  } else {
    static_assert(kOp == OpCode::add, "not a binary op");
  }
}

template <OpCode kOp, class C>
uint8_t Compare(C a, C b) {
  if constexpr (kOp == OpCode::equal) return a == b;
  else if constexpr (kOp == OpCode::not_equal) return a != b;
  else if constexpr (kOp == OpCode::logical_and) return (a != C{}) && (b != C{});
  else if constexpr (kOp == OpCode::logical_or) return (a != C{}) || (b != C{});
  else if constexpr (kOp == OpCode::logical_xor) return (a != C{}) != (b != C{});
  else if constexpr (kIsComplex<C>) return 0;  // unreachable: ordering needs real
  else if constexpr (kOp == OpCode::less) return a < b;
  else if constexpr (kOp == OpCode::less_equal) return a <= b;
  else if constexpr (kOp == OpCode::greater) return a > b;
  else if constexpr (kOp == OpCode::greater_equal) return a >= b;
  else static_assert(kOp == OpCode::equal, "not a comparison");
}

// Nx's inverse error function (the complex library's erf_inv: Giles'
// single-precision polynomial, evaluated in f64). Outside [-1, 1] the
// logarithm's argument is negative: NaN.
inline double ErfInv(double z) {
  if (std::isnan(z)) return z;
  if (z == 1) return std::numeric_limits<double>::infinity();
  if (z == -1) return -std::numeric_limits<double>::infinity();
  if (z == 0) return z;
  const double arg = (1 - z) * (1 + z);
  if (arg < 0) return std::numeric_limits<double>::quiet_NaN();
  double w = -std::log(arg);
  double p;
  if (w < 5) {
    w = w - 2.5;
    p = 2.81022636e-08;
    for (double c : {3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164,
                     0.246640727, 1.50140941})
      p = p * w + c;
  } else {
    w = std::sqrt(w) - 3;
    p = -0.000200214257;
    for (double c : {0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
                     1.00167406, 2.83297682})
      p = p * w + c;
  }
  return p * z;
}

// Round half away from zero (C's round), Nx's rule. Nx produces the result
// as an integer, so a zero result is +0.0 (adding +0.0 clears the sign).
template <class C>
C RoundHalfAway(C x) {
  return std::round(x) + C(0);
}

// Square root; for complex numbers on the negative real axis, the branch of
// the complex library that Nx.BinaryBackend uses: it tests `im >= 0`, so an
// imaginary part of -0.0 counts as +0.0 and sqrt(-4 - 0i) is +2i (C99's
// csqrt keeps the zero's sign and gives -2i).
template <class D>
D ComplexLibrarySqrt(D x) {
  if constexpr (kIsComplex<D>) {
    if (x.imag() == 0) x.imag(0);
  }
  return std::sqrt(x);
}

// Unary op; C is the compute type of the input. Returns the compute type of
// the result (the real type for abs of complex).
template <OpCode kOp, class C>
auto Unary(C a) {
  constexpr bool kInt = std::is_integral_v<C>;
  constexpr bool kCx = kIsComplex<C>;
  using D = std::conditional_t<kCx, C, double>;  // evaluation type for math
  auto math = [](C x, auto f) -> C {
    if constexpr (kCx) return f(x);
    else return static_cast<C>(f(static_cast<D>(x)));
  };
  if constexpr (kOp == OpCode::negate) {
    if constexpr (kInt) return WrapSub(C{0}, a);
    else return -a;
  } else if constexpr (kOp == OpCode::abs) {
    if constexpr (kCx) return std::abs(a);
    else if constexpr (kInt && std::is_signed_v<C>) return a < 0 ? WrapSub(C{0}, a) : a;
    else if constexpr (kInt) return a;
    else return std::fabs(a);
  } else if constexpr (kOp == OpCode::sign) {
    if constexpr (kInt && std::is_signed_v<C>) return static_cast<C>((a > 0) - (a < 0));
    else if constexpr (kInt) return static_cast<C>(a > 0);
    else if constexpr (kCx) return a;  // unreachable
    else return (std::isnan(a) || a == 0) ? a : (a > 0 ? C{1} : C{-1});
  } else if constexpr (kOp == OpCode::exp) {
    return math(a, [](D x) { return std::exp(x); });
  } else if constexpr (kOp == OpCode::expm1) {
    return math(a, [](D x) {
      if constexpr (kCx) return x;
      else return std::expm1(x);
    });
  } else if constexpr (kOp == OpCode::log) {
    return math(a, [](D x) { return std::log(x); });
  } else if constexpr (kOp == OpCode::log1p) {
    return math(a, [](D x) {
      if constexpr (kCx) return x;
      else return std::log1p(x);
    });
  } else if constexpr (kOp == OpCode::sqrt) {
    return math(a, [](D x) { return ComplexLibrarySqrt(x); });
  } else if constexpr (kOp == OpCode::rsqrt) {
    return math(a, [](D x) { return D(1) / ComplexLibrarySqrt(x); });
  } else if constexpr (kOp == OpCode::tanh) {
    return math(a, [](D x) { return std::tanh(x); });
  } else if constexpr (kOp == OpCode::sigmoid) {
    return math(a, [](D x) { return D(1) / (D(1) + std::exp(-x)); });
  } else if constexpr (kOp == OpCode::sin) {
    return math(a, [](D x) { return std::sin(x); });
  } else if constexpr (kOp == OpCode::cos) {
    return math(a, [](D x) { return std::cos(x); });
  } else if constexpr (kOp == OpCode::erf) {
    return math(a, [](D x) {
      if constexpr (kCx) return x;
      else return std::erf(x);
    });
  } else if constexpr (kOp == OpCode::floor) {
    if constexpr (kInt || kCx) return a;
    else return std::floor(a);
  } else if constexpr (kOp == OpCode::ceil) {
    if constexpr (kInt || kCx) return a;
    else return std::ceil(a);
  } else if constexpr (kOp == OpCode::round) {
    if constexpr (kInt || kCx) return a;
    else return RoundHalfAway(a);
  } else if constexpr (kOp == OpCode::bitwise_not) {
    if constexpr (kInt) return static_cast<C>(~a);
    else return a;
  } else if constexpr (kOp == OpCode::count_leading_zeros) {
    if constexpr (kInt) return static_cast<C>(std::countl_zero(static_cast<Unsigned<C>>(a)));
    else return a;
  } else if constexpr (kOp == OpCode::population_count) {
    if constexpr (kInt) return static_cast<C>(std::popcount(static_cast<Unsigned<C>>(a)));
    else return a;
  } else if constexpr (kOp == OpCode::erfc) {
    return math(a, [](D x) {
      if constexpr (kCx) return x;
      else return std::erfc(x);
    });
  } else if constexpr (kOp == OpCode::erf_inv) {
    return math(a, [](D x) {
      if constexpr (kCx) return x;
      else return ErfInv(x);
    });
  } else if constexpr (kOp == OpCode::tan) {
    return math(a, [](D x) { return std::tan(x); });
  } else if constexpr (kOp == OpCode::asin) {
    return math(a, [](D x) { return std::asin(x); });
  } else if constexpr (kOp == OpCode::acos) {
    return math(a, [](D x) { return std::acos(x); });
  } else if constexpr (kOp == OpCode::atan) {
    return math(a, [](D x) { return std::atan(x); });
  } else if constexpr (kOp == OpCode::sinh) {
    return math(a, [](D x) { return std::sinh(x); });
  } else if constexpr (kOp == OpCode::cosh) {
    return math(a, [](D x) { return std::cosh(x); });
  } else if constexpr (kOp == OpCode::asinh) {
    return math(a, [](D x) { return std::asinh(x); });
  } else if constexpr (kOp == OpCode::acosh) {
    return math(a, [](D x) { return std::acosh(x); });
  } else if constexpr (kOp == OpCode::atanh) {
    return math(a, [](D x) { return std::atanh(x); });
  } else if constexpr (kOp == OpCode::cbrt) {
    // As Nx (the complex library): |x| ** (1/3) with x's sign, not libm's cbrt.
    return math(a, [](D x) {
      if constexpr (kCx) return x;
      else return std::signbit(x) ? -std::pow(-x, 1.0 / 3) : std::pow(x, 1.0 / 3);
    });
  } else {
    static_assert(kOp == OpCode::negate, "not a unary op");
  }
}

}  // namespace pelemay::ref
