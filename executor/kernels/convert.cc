#include "executor/kernels/convert.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "executor/core/thread_pool.h"

namespace pelemay::kernels {
namespace {

// The low 64 bits of the exact integer trunc(x), as Elixir's trunc/1 followed
// by a sized binary write produces them. x is finite.
uint64_t TruncWrap64(double x) {
  const double t = std::trunc(x);
  const double mag = std::fabs(t);
  uint64_t low;
  if (mag < 9223372036854775808.0) {  // 2^63: fits directly
    low = static_cast<uint64_t>(static_cast<int64_t>(mag));
  } else {
    int exp;
    const double frac = std::frexp(mag, &exp);                      // mag = frac * 2^exp
    const auto mant = static_cast<uint64_t>(std::ldexp(frac, 53));  // 53-bit integer
    const int shift = exp - 53;                                     // >= 11 here
    low = shift >= 64 ? 0 : mant << shift;
  }
  return t < 0 ? ~low + 1 : low;
}

// An integer as Erlang writes it to a 32-bit float: a small integer
// (-2^59 <= v < 2^59 on 64-bit BEAMs) in one rounding, (float)int64; a bignum
// through double first (big_to_double, then (float)). Going through double
// for every value would round twice: s64 2^53 + 2^29 + 1 would become 2^53
// instead of 2^53 + 2^30.
template <class I>
float IntToF32(I v) {
  constexpr int64_t kSmall = int64_t{1} << 59;
  if constexpr (std::is_signed_v<I>) {
    if (v >= -kSmall && v < kSmall) return static_cast<float>(v);
  } else {
    if (v < static_cast<uint64_t>(kSmall)) return static_cast<float>(v);
  }
  return static_cast<float>(static_cast<double>(v));
}

template <class To>
To FromReal(double x) {
  if constexpr (kIsInt<To>) {
    if (std::isnan(x)) return To{0};
    if (std::isinf(x)) return x > 0 ? std::numeric_limits<To>::max() : std::numeric_limits<To>::lowest();
    return static_cast<To>(TruncWrap64(x));
  } else if constexpr (kIsComplex<To>) {
    using R = typename To::value_type;
    return To(static_cast<R>(x), R{0});
  } else if constexpr (kIsHalf<To>) {
    return To(static_cast<float>(x));
  } else {
    return static_cast<To>(x);
  }
}

template <class To, class From>
To ConvertOne(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (kIsInt<From> && kIsInt<To>) {
    return static_cast<To>(static_cast<uint64_t>(v));  // wraps
  } else if constexpr (kIsInt<From>) {
    // Integers become floats as Erlang writes them: f64 (and c128) through
    // (double); f32, bf16 (f32, then truncated) and c64 use IntToF32. For f16
    // the path does not matter: integers below its overflow are exact in f32.
    if constexpr (kIsComplex<To>) {
      using R = typename To::value_type;
      if constexpr (std::is_same_v<R, float>) return To(IntToF32(v), 0.0f);
      else return To(static_cast<double>(v), 0.0);
    } else if constexpr (std::is_same_v<To, bf16> || std::is_same_v<To, float>) {
      return To(IntToF32(v));
    } else if constexpr (kIsHalf<To>) {
      return To(static_cast<float>(static_cast<double>(v)));
    } else {
      return static_cast<To>(static_cast<double>(v));
    }
  } else if constexpr (kIsComplex<From>) {
    if constexpr (kIsComplex<To>) {
      using R = typename To::value_type;
      return To(static_cast<R>(v.real()), static_cast<R>(v.imag()));
    } else {
      return FromReal<To>(static_cast<double>(v.real()));
    }
  } else {
    // From is a real float (f16/bf16 widen exactly to float).
    const double x = static_cast<double>(static_cast<ComputeType<From>>(v));
    if constexpr (kIsHalf<To>) {
      // Narrow from float (halves) or double in one rounding where possible.
      return To(static_cast<float>(x));
    } else {
      return FromReal<To>(x);
    }
  }
}

}  // namespace

template <class To, class From>
To ConvertValue(From v) {
  return ConvertOne<To, From>(v);
}

void Convert(DType from, DType to, std::span<const std::byte> in, std::span<std::byte> out, ThreadPool* pool) {
  const int64_t n = static_cast<int64_t>(in.size() / DTypeSize(from));
  VisitDType(from, [&](auto ftag) {
    using From = decltype(ftag);
    VisitDType(to, [&](auto ttag) {
      using To = decltype(ttag);
      const From* src = reinterpret_cast<const From*>(in.data());
      To* dst = reinterpret_cast<To*>(out.data());
      auto run = [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dst[i] = ConvertOne<To, From>(src[i]);
      };
      if (pool != nullptr) pool->ParallelFor(n, 1 << 16, run);
      else run(0, n);
    });
  });
}

// Instantiations used outside this file (constants, tests).
#define PELEMAY_CONVERT_FROM(From)                      \
  template int8_t ConvertValue<int8_t, From>(From);     \
  template int16_t ConvertValue<int16_t, From>(From);   \
  template int32_t ConvertValue<int32_t, From>(From);   \
  template int64_t ConvertValue<int64_t, From>(From);   \
  template uint8_t ConvertValue<uint8_t, From>(From);   \
  template uint16_t ConvertValue<uint16_t, From>(From); \
  template uint32_t ConvertValue<uint32_t, From>(From); \
  template uint64_t ConvertValue<uint64_t, From>(From); \
  template f16 ConvertValue<f16, From>(From);           \
  template bf16 ConvertValue<bf16, From>(From);         \
  template float ConvertValue<float, From>(From);       \
  template double ConvertValue<double, From>(From);     \
  template c64 ConvertValue<c64, From>(From);           \
  template c128 ConvertValue<c128, From>(From);
PELEMAY_CONVERT_FROM(double)
PELEMAY_CONVERT_FROM(int64_t)
PELEMAY_CONVERT_FROM(uint64_t)
PELEMAY_CONVERT_FROM(float)
#undef PELEMAY_CONVERT_FROM

}  // namespace pelemay::kernels
