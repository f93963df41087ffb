// as_type: every one of the 14 x 14 dtype pairs against an oracle written
// independently here from /tmp/nx_semantics.md section 1 (Nx.BinaryBackend's
// rules), then the known values that document those rules one by one.
//   float -> int   trunc toward zero, wrap to the width; NaN -> 0, +-Inf ->
//                  the type's max/min (the real s16 limits, not Nx's typo)
//   int -> int     wrap
//   int -> f32     one rounding for |x| < 2^59 (Erlang small ints), else via f64
//   -> bf16        round to f32, then truncate to the top 16 bits
//   -> f16         round to nearest even; overflow to Inf
//   complex -> real drops the imaginary part; real -> complex has im = +0
#include "executor/kernels/convert.h"

#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/test_values.h"

#include "executor/core/dtype.h"
#include "executor/core/half.h"
#include "executor/core/thread_pool.h"

namespace pelemay::kernels {
namespace {

using namespace pelemay::testing;  // NOLINT(google-build-using-namespace)

using i128 = __int128;

// ---------------------------------------------------------------------------
// A decoded element: an exact integer, or a real/complex value held exactly
// in double (every f16, bf16, f32 and f64 is exact in double).
struct Value {
  bool is_int = false;
  i128 i = 0;
  double re = 0, im = 0;
};

template <class T>
Value Decode(T v) {
  Value out;
  if constexpr (kIsInt<T>) {
    out.is_int = true;
    out.i = static_cast<i128>(v);
  } else if constexpr (kIsComplex<T>) {
    out.re = v.real();
    out.im = v.imag();
  } else if constexpr (kIsHalf<T>) {
    out.re = static_cast<float>(v);
  } else {
    out.re = static_cast<double>(v);
  }
  return out;
}

// The low 64 bits of trunc(x) as an unsigned number (x finite). fmod is
// exact, so this holds for any magnitude.
uint64_t TruncLow64(double x) {
  const double t = std::trunc(x);
  const double m = std::fmod(std::fabs(t), 18446744073709551616.0);  // 2^64
  uint64_t u = m >= 9223372036854775808.0 ? (static_cast<uint64_t>(m - 9223372036854775808.0) | (uint64_t{1} << 63))
                                          : static_cast<uint64_t>(m);
  return t < 0 ? uint64_t{0} - u : u;
}

// Direct round-to-nearest-even double -> binary16 (no detour through f32).
uint16_t HalfBits(double x) {
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  if (std::isnan(x)) return sign | 0x7e00;
  const double a = std::fabs(x);
  if (a >= 65520.0) return sign | 0x7c00;
  if (a < 0x1p-14) return sign | static_cast<uint16_t>(std::nearbyint(a * 0x1p24));  // subnormal
  int e;
  std::frexp(a, &e);                                 // a = f * 2^e, f in [0.5, 1)
  double m = std::nearbyint(std::ldexp(a, 11 - e));  // in [1024, 2048]
  int exp = e - 1;
  if (m == 2048) m = 1024, ++exp;
  if (exp > 15) return sign | 0x7c00;
  return sign | static_cast<uint16_t>(((exp + 15) << 10) | (static_cast<int>(m) - 1024));
}

uint32_t F32Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// An integer written as a 32-bit float by the BEAM.
float IntToF32(i128 v) {
  const i128 small = i128{1} << 59;
  if (v >= -small && v < small) return static_cast<float>(static_cast<int64_t>(v));
  return static_cast<float>(static_cast<double>(v));
}

template <class To>
To EncodeReal(const Value& v) {
  if constexpr (kIsInt<To>) {
    if (v.is_int) return static_cast<To>(static_cast<uint64_t>(v.i));
    if (std::isnan(v.re)) return To(0);
    if (std::isinf(v.re)) return v.re > 0 ? std::numeric_limits<To>::max() : std::numeric_limits<To>::min();
    return static_cast<To>(TruncLow64(v.re));
  } else if constexpr (std::is_same_v<To, double>) {
    return v.is_int ? static_cast<double>(v.i) : v.re;
  } else if constexpr (std::is_same_v<To, float>) {
    return v.is_int ? IntToF32(v.i) : static_cast<float>(v.re);
  } else if constexpr (std::is_same_v<To, bf16>) {
    const float f = v.is_int ? IntToF32(v.i) : static_cast<float>(v.re);
    bf16 out;
    out.bits = static_cast<uint16_t>(F32Bits(f) >> 16);
    if (std::isnan(f)) out.bits |= 0x40;  // stays a NaN (not Inf) whatever its payload
    return out;
  } else {
    static_assert(std::is_same_v<To, f16>);
    f16 out;
    out.bits = HalfBits(v.is_int ? static_cast<double>(v.i) : v.re);
    return out;
  }
}

template <class To>
To Encode(const Value& v) {
  if constexpr (kIsComplex<To>) {
    using R = typename To::value_type;
    Value im;
    im.re = v.is_int ? 0.0 : v.im;
    return To(EncodeReal<R>(v), EncodeReal<R>(im));
  } else {
    return EncodeReal<To>(v);  // complex -> real: the imaginary part is dropped
  }
}

// Bit-exact, except that any NaN matches any NaN.
template <class T>
bool Same(T got, T want) {
  if constexpr (kIsComplex<T>) {
    return Same(got.real(), want.real()) && Same(got.imag(), want.imag());
  } else if constexpr (kIsInt<T>) {
    return got == want;
  } else {
    if (IsNaNValue(want) || IsNaNValue(got)) return IsNaNValue(want) && IsNaNValue(got);
    return Bits(got) == Bits(want);
  }
}

// ---------------------------------------------------------------------------
// Probe values, written into each source type with that type's own rules
// (integers wrap, floats round) so each source sees its edge cases.

const i128 kIntProbes[] = {
    0,
    1,
    -1,
    2,
    44,
    127,
    128,
    200,
    255,
    256,
    -128,
    -129,
    259,
    300,
    32767,
    32768,
    -32768,
    -32769,
    65504,
    65519,
    65520,
    65535,
    65536,
    70000,
    16777217,
    2147483647,
    2147483648LL,
    -2147483648LL,
    4294967301LL,
    (i128{1} << 53) + 1,
    (i128{1} << 53) + (i128{1} << 29) + 1,
    -((i128{1} << 53) + (i128{1} << 29) + 1),
    (i128{1} << 59) + (i128{1} << 35) + 1,
    (i128{1} << 59) - 1,
    -(i128{1} << 59),
    INT64_MAX,
    INT64_MIN,
    1000000007,
};

const double kFloatProbes[] = {
    0.0,      -0.0,   0.5,     -0.5,   0.9999, 1.5,          -1.5,       2.5,        44.9,    127.9,        128.0,
    -128.9,   255.5,  256.0,   259.0,  300.7,  -300.7,       1.00390625, 3.0e9,      -3.0e9,  4294967296.5, 1e20,
    -1e20,    9.3e18, -9.3e18, 1.8e19, 1e39,   1e300,        -1e300,     16777217.0, 65504.0, 65519.0,      65520.0,
    -70000.0, 1e-8,   6e-8,    1e-45,  5e-324, 3.4028235e38, kNaN,       kInf,       -kInf,
};

template <class T>
std::vector<T> Probes() {
  std::vector<T> out;
  if constexpr (kIsInt<T>) {
    for (i128 v : kIntProbes) out.push_back(static_cast<T>(static_cast<uint64_t>(v)));
  } else if constexpr (kIsComplex<T>) {
    using R = typename T::value_type;
    for (size_t i = 0; i < std::size(kFloatProbes); ++i) {
      const double re = kFloatProbes[i], im = kFloatProbes[(i * 7 + 3) % std::size(kFloatProbes)];
      out.push_back(T(static_cast<R>(re), static_cast<R>(im)));
    }
  } else {
    for (double v : kFloatProbes) {
      if constexpr (kIsHalf<T>) out.push_back(T(static_cast<float>(v)));
      else out.push_back(static_cast<T>(v));
    }
    // Integers too, as floats of this type.
    for (i128 v : kIntProbes) {
      if constexpr (kIsHalf<T>) out.push_back(T(static_cast<float>(static_cast<double>(v))));
      else out.push_back(static_cast<T>(static_cast<double>(v)));
    }
  }
  return out;
}

template <class From, class To>
void CheckPair(ThreadPool* pool) {
  const DType from = DTypeOf<From>::value, to = DTypeOf<To>::value;
  const std::vector<From> in = Probes<From>();
  std::vector<To> out(in.size());
  Convert(from, to, std::as_bytes(std::span(in)), std::as_writable_bytes(std::span(out)), nullptr);
  int failures = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const To want = Encode<To>(Decode(in[i]));
    if (!Same(out[i], want) && failures++ < 5)
      ADD_FAILURE() << DTypeName(from) << " -> " << DTypeName(to) << ": " << Show(in[i]) << " gave " << Show(out[i])
                    << ", want " << Show(want);
  }
  // The per-element entry point used for constants and iota must agree.
  if constexpr (std::is_same_v<From, double> || std::is_same_v<From, float> || std::is_same_v<From, int64_t> ||
                std::is_same_v<From, uint64_t>) {
    for (size_t i = 0; i < in.size(); ++i)
      EXPECT_TRUE(Same(ConvertValue<To, From>(in[i]), out[i]))
          << "ConvertValue " << DTypeName(from) << " -> " << DTypeName(to) << " of " << Show(in[i]);
  }
  // A large array through the thread pool: same elements, tiled.
  std::vector<From> big;
  while (big.size() < 150000) big.insert(big.end(), in.begin(), in.end());
  std::vector<To> big_out(big.size());
  Convert(from, to, std::as_bytes(std::span(big)), std::as_writable_bytes(std::span(big_out)), pool);
  for (size_t i = 0; i < big.size(); ++i)
    if (!Same(big_out[i], out[i % in.size()])) {
      ADD_FAILURE() << DTypeName(from) << " -> " << DTypeName(to) << " pool element " << i;
      break;
    }
}

template <class From>
void CheckFrom(ThreadPool* pool) {
  for (DType to : kAllDTypes) {
    VisitDType(to, [&](auto tag) { CheckPair<From, decltype(tag)>(pool); });
  }
}

TEST(ConvertTest, EveryDTypePairMatchesTheNxRules) {
  ThreadPool pool(2);
  int pairs = 0;
  for (DType from : kAllDTypes) {
    VisitDType(from, [&](auto tag) { CheckFrom<decltype(tag)>(&pool); });
    pairs += std::size(kAllDTypes);
  }
  EXPECT_EQ(pairs, 196);
}

// ---------------------------------------------------------------------------
// Known values.

template <class To, class From>
To Conv(From v) {
  To out{};
  Convert(DTypeOf<From>::value, DTypeOf<To>::value, std::as_bytes(std::span(&v, 1)),
          std::as_writable_bytes(std::span(&out, 1)), nullptr);
  return out;
}

TEST(ConvertKnownValues, FloatToIntTruncatesThenWraps) {
  EXPECT_EQ((Conv<int8_t, float>(300.7f)), 44);
  EXPECT_EQ((Conv<uint8_t, float>(300.7f)), 44);
  EXPECT_EQ((Conv<int8_t, float>(-300.7f)), -44);
  EXPECT_EQ((Conv<uint8_t, float>(-300.7f)), 212);
  EXPECT_EQ((Conv<uint8_t, float>(-1.5f)), 255);
  EXPECT_EQ((Conv<int32_t, double>(3.0e9)), -1294967296);
  EXPECT_EQ((Conv<int64_t, float>(1e20f)), 7766281635539976192LL);
  EXPECT_EQ((Conv<uint64_t, float>(1e20f)), 7766281635539976192ULL);
  EXPECT_EQ((Conv<int64_t, double>(-1e20)), -7766279631452241920LL);
  EXPECT_EQ((Conv<uint64_t, double>(1.8e19)), 18000000000000000000ULL);
  EXPECT_EQ((Conv<int64_t, double>(9.3e18)), static_cast<int64_t>(9300000000000000000ULL));
  EXPECT_EQ((Conv<int32_t, double>(-0.9999)), 0);
  EXPECT_EQ((Conv<int16_t, f16>(f16(-2.75f))), -2);
  EXPECT_EQ((Conv<uint8_t, bf16>(bf16(256.0f))), 0);
  EXPECT_EQ((Conv<int64_t, double>(1e300)), 0);  // 10^300 is a multiple of 2^64
}

TEST(ConvertKnownValues, NonFiniteToInt) {
  EXPECT_EQ((Conv<int8_t, float>(kNaNf)), 0);
  EXPECT_EQ((Conv<uint64_t, double>(kNaN)), 0u);
  EXPECT_EQ((Conv<int32_t, f16>(f16(kNaNf))), 0);
  EXPECT_EQ((Conv<int8_t, float>(kInff)), 127);
  EXPECT_EQ((Conv<int8_t, float>(-kInff)), -128);
  // The real s16 limits (Nx 0.7.2's table has the typo 32677 / -32678).
  EXPECT_EQ((Conv<int16_t, float>(kInff)), 32767);
  EXPECT_EQ((Conv<int16_t, double>(-kInf)), -32768);
  EXPECT_EQ((Conv<int32_t, double>(kInf)), INT32_MAX);
  EXPECT_EQ((Conv<int64_t, double>(-kInf)), INT64_MIN);
  EXPECT_EQ((Conv<uint8_t, float>(kInff)), 255);
  EXPECT_EQ((Conv<uint8_t, float>(-kInff)), 0);
  EXPECT_EQ((Conv<uint64_t, bf16>(bf16(kInff))), UINT64_MAX);
  EXPECT_EQ((Conv<uint16_t, c64>(c64(-kInff, 1))), 0);
}

TEST(ConvertKnownValues, IntegerNarrowingAndWidening) {
  EXPECT_EQ((Conv<int16_t, int32_t>(70000)), 4464);
  EXPECT_EQ((Conv<int8_t, uint8_t>(200)), -56);
  EXPECT_EQ((Conv<uint8_t, int8_t>(-1)), 255);
  EXPECT_EQ((Conv<int64_t, int8_t>(-1)), -1);     // sign-extends
  EXPECT_EQ((Conv<int64_t, uint8_t>(255)), 255);  // zero-extends
  EXPECT_EQ((Conv<uint64_t, int32_t>(-1)), UINT64_MAX);
  EXPECT_EQ((Conv<int32_t, uint64_t>(0x1234567887654321ULL)), static_cast<int32_t>(0x87654321u));
}

TEST(ConvertKnownValues, IntToFloat) {
  EXPECT_EQ((Conv<float, int64_t>(16777217)), 16777216.0f);
  EXPECT_EQ((Conv<float, int64_t>(16777219)), 16777220.0f);  // tie to even
  // One rounding, as Erlang's (float)int64 for small integers: 2^53 + 2^29 + 1
  // is just above the midpoint, so it rounds up; through f64 first it would
  // land exactly on the midpoint and round down to 2^53.
  const int64_t v = (int64_t{1} << 53) + (int64_t{1} << 29) + 1;
  EXPECT_EQ((Conv<float, int64_t>(v)), 9007200328482816.0f);
  EXPECT_EQ((Conv<float, int64_t>(-v)), -9007200328482816.0f);
  EXPECT_EQ((Conv<c64, int64_t>(v)), c64(9007200328482816.0f, 0.0f));
  EXPECT_EQ((Conv<bf16, int64_t>(v)).bits, bf16(9007200328482816.0f).bits);
  EXPECT_EQ((Conv<double, int64_t>(v)), 9007199254740992.0 + 536870912.0);  // exact tie -> even
  EXPECT_EQ((Conv<double, uint64_t>(UINT64_MAX)), 18446744073709551616.0);
  EXPECT_EQ((Conv<float, uint64_t>(UINT64_MAX)), 18446744073709551616.0f);
  EXPECT_EQ((Conv<f16, int32_t>(65519)).bits, 0x7bff);  // 65504
  EXPECT_EQ((Conv<f16, int32_t>(65520)).bits, 0x7c00);  // Inf
  EXPECT_EQ((Conv<f16, int32_t>(-70000)).bits, 0xfc00);
  EXPECT_EQ((Conv<f16, uint8_t>(255)).bits, f16(255.0f).bits);
}

TEST(ConvertKnownValues, BF16Truncates) {
  // 259 = 0x43818000 in f32: the top half 0x4381 is 258 (RNE would give 260).
  EXPECT_EQ((Conv<bf16, int32_t>(259)).bits, 0x4381);
  EXPECT_EQ(static_cast<float>(Conv<bf16, int32_t>(259)), 258.0f);
  EXPECT_EQ(static_cast<float>(Conv<bf16, int64_t>(259)), 258.0f);
  EXPECT_EQ(static_cast<float>(Conv<bf16, float>(259.0f)), 258.0f);
  EXPECT_EQ((Conv<bf16, float>(1.00390625f)).bits, 0x3f80);  // 1.0
  EXPECT_EQ((Conv<bf16, float>(-1.00390625f)).bits, 0xbf80);
  EXPECT_EQ((Conv<bf16, double>(1e39)).bits, 0x7f80);  // f32 overflow: Inf
  EXPECT_EQ((Conv<bf16, double>(-0.0)).bits, 0x8000);
  EXPECT_EQ((Conv<bf16, f16>(f16(65504.0f))).bits, 0x477f);  // 65280
  EXPECT_EQ(static_cast<float>(Conv<bf16, uint16_t>(65535)), 65280.0f);
  // f64 first rounds to nearest f32, then truncates.
  EXPECT_EQ((Conv<bf16, double>(1.0078124999999999)).bits, 0x3f81);  // RNE to f32 gives 1.0078125
}

TEST(ConvertKnownValues, F16RoundsToNearestEven) {
  EXPECT_EQ((Conv<f16, float>(1.00048828125f)).bits, 0x3c00);  // 1 + 2^-11: tie -> 1.0
  EXPECT_EQ((Conv<f16, float>(1.00146484375f)).bits, 0x3c02);  // 1 + 3*2^-11: tie -> 1 + 2^-9
  EXPECT_EQ((Conv<f16, float>(1.000489f)).bits, 0x3c01);       // just above the tie
  EXPECT_EQ((Conv<f16, float>(2049.0f)).bits, f16(2048.0f).bits);
  EXPECT_EQ(static_cast<float>(Conv<f16, float>(2051.0f)), 2052.0f);
  EXPECT_EQ((Conv<f16, double>(65519.99)).bits, 0x7bff);  // 65504
  EXPECT_EQ((Conv<f16, float>(65520.0f)).bits, 0x7c00);   // Inf
  EXPECT_EQ((Conv<f16, double>(1e5)).bits, 0x7c00);
  EXPECT_EQ((Conv<f16, double>(-1e5)).bits, 0xfc00);
  EXPECT_EQ((Conv<f16, float>(kInff)).bits, 0x7c00);
  EXPECT_EQ((Conv<f16, float>(-0.0f)).bits, 0x8000);
  EXPECT_EQ((Conv<f16, float>(0.1f)).bits, 0x2e66);
}

TEST(ConvertKnownValues, F16Subnormals) {
  EXPECT_EQ((Conv<f16, float>(std::ldexp(1.0f, -24))).bits, 0x0001);  // smallest
  EXPECT_EQ((Conv<f16, float>(std::ldexp(1.0f, -25))).bits, 0x0000);  // tie -> even (0)
  EXPECT_EQ((Conv<f16, float>(std::ldexp(3.0f, -25))).bits, 0x0002);  // 1.5 ulp: tie -> 2
  EXPECT_EQ((Conv<f16, double>(6e-8)).bits, 0x0001);
  EXPECT_EQ((Conv<f16, double>(-1e-8)).bits, 0x8000);                    // underflow keeps the sign
  EXPECT_EQ((Conv<f16, float>(std::ldexp(1023.0f, -24))).bits, 0x03ff);  // largest subnormal
  EXPECT_EQ((Conv<f16, float>(std::ldexp(2047.0f, -25))).bits, 0x0400);  // rounds up to min normal
  f16 h;
  h.bits = 0x0001;
  EXPECT_EQ((Conv<float, f16>(h)), std::ldexp(1.0f, -24));
  h.bits = 0x83ff;
  EXPECT_EQ((Conv<double, f16>(h)), -std::ldexp(1023.0, -24));
  EXPECT_EQ((Conv<int32_t, f16>(h)), 0);
}

TEST(ConvertKnownValues, NaNStaysNaN) {
  // A NaN whose payload sits only in the bits bf16/f16 drop must not become Inf.
  float low_payload;
  const uint32_t bits = 0x7f800001u;
  std::memcpy(&low_payload, &bits, 4);
  const bf16 b = Conv<bf16, float>(low_payload);
  EXPECT_TRUE(std::isnan(static_cast<float>(b))) << std::hex << b.bits;
  const f16 h = Conv<f16, float>(low_payload);
  EXPECT_TRUE(std::isnan(static_cast<float>(h))) << std::hex << h.bits;
  EXPECT_TRUE(std::isnan(static_cast<float>(Conv<bf16, double>(kNaN))));
  EXPECT_TRUE(std::isnan(static_cast<float>(Conv<f16, double>(-kNaN))));
  EXPECT_TRUE(std::isnan(Conv<float, f16>(f16(kNaNf))));
  EXPECT_TRUE(std::isnan(Conv<double, bf16>(bf16(kNaNf))));
  EXPECT_TRUE(std::isnan(Conv<c64, f16>(f16(kNaNf)).real()));
  // Same-type as_type copies bits: the payload and -0.0 survive.
  EXPECT_EQ(F32Bits(Conv<float, float>(low_payload)), bits);
  EXPECT_TRUE(std::signbit(Conv<double, double>(-0.0)));
}

TEST(ConvertKnownValues, FloatToFloat) {
  EXPECT_EQ((Conv<float, double>(1e39)), kInff);
  EXPECT_EQ((Conv<float, double>(-1e39)), -kInff);
  EXPECT_EQ((Conv<float, double>(0.1)), 0.1f);
  EXPECT_EQ((Conv<double, float>(0.1f)), 0.10000000149011612);
  EXPECT_EQ((Conv<float, double>(1e-46)), 0.0f);
  EXPECT_EQ((Conv<double, bf16>(bf16(1.0078125f))), 1.0078125);
  EXPECT_EQ((Conv<float, f16>(f16(65504.0f))), 65504.0f);
}

TEST(ConvertKnownValues, Complex) {
  EXPECT_EQ((Conv<float, c64>(c64(3.5f, 4.0f))), 3.5f);  // drops im
  EXPECT_EQ((Conv<int32_t, c64>(c64(3.5f, 4.0f))), 3);
  EXPECT_EQ((Conv<uint8_t, c128>(c128(-1.5, 2.0))), 255);
  EXPECT_EQ((Conv<double, c128>(c128(-2.0, kNaN))), -2.0);
  EXPECT_EQ((Conv<bf16, c64>(c64(259.0f, 1.0f))).bits, 0x4381);
  const c64 a = Conv<c64, float>(2.5f);
  EXPECT_EQ(a.real(), 2.5f);
  EXPECT_EQ(F32Bits(a.imag()), 0u);  // +0.0
  EXPECT_EQ((Conv<c128, int8_t>(-3)), c128(-3.0, 0.0));
  EXPECT_FALSE(std::signbit(Conv<c128, double>(-0.0).imag()));
  EXPECT_EQ((Conv<c64, c128>(c128(0.1, 1e39))), c64(0.1f, kInff));
  EXPECT_EQ((Conv<c128, c64>(c64(0.1f, -2.0f))), c128(0.10000000149011612, -2.0));
}

}  // namespace
}  // namespace pelemay::kernels
