// Elementwise kernels (Binary, Compare and Unary families) against their
// scalar references, driven by the op catalogue: every op, every dtype it
// accepts, lengths that cross SIMD tails and the thread-pool grain, on every
// compiled Highway target. Then hand-written known values for the semantics
// we promise (Nx's integer wraparound, rounding, NaN and signed-zero rules,
// and our documented IEEE behaviour where Nx.BinaryBackend would raise).
#include "executor/kernels/elementwise.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/test_values.h"

#include "executor/core/dtype.h"
#include "executor/core/half.h"
#include "executor/core/thread_pool.h"
#include "executor/kernels/simd_targets.h"
#include "executor/ops/op_catalogue.h"

namespace pelemay::kernels {
namespace {

using namespace pelemay::testing;  // NOLINT(google-build-using-namespace)

// 0 and 1 element, shorter than any vector, a tail after full vectors, many
// vectors, and more than one thread-pool grain (65536).
constexpr size_t kLengths[] = {0, 1, 3, 17, 1000, 70000};

// ---------------------------------------------------------------------------
// The accuracy contract, per op: the largest distance in units in the last
// place between the SIMD kernel and the scalar reference (which evaluates in
// double and rounds once). 0 means bit-exact (signed zeros included; any NaN
// matches any NaN). Ops that are not listed have no SIMD kernel or are exact
// IEEE operations, so they must be bit-exact.
//
//   op       f32/f64   f16/bf16   where the bound comes from
//   exp        2          1       hwy Exp: 1 ulp, plus the reference's 0.5
//   expm1      4          1       hwy Expm1: 4 ulp
//   log        4          1       hwy Log: 4 ulp
//   log1p      3          1       hwy Log1p: 2 ulp
//   tanh       4          1       hwy Tanh: 4 ulp
//   sigmoid    4          1       1 / (1 + hwy Exp(-x)): 1 ulp + 2 roundings
//   sin        3          1       hwy Sin: 3 ulp (|x| <= 39000)
//   cos        3          1       hwy Cos: 3 ulp (|x| <= 39000)
// Halves compute in f32 and round once to 11 (f16) or 8 (bf16) bits, so a
// few f32 ulp move the result by at most one half ulp step.
struct UlpBound {
  OpCode op;
  int64_t wide;  // f32, f64
  int64_t half;  // f16, bf16
};
constexpr UlpBound kUlpBounds[] = {
    {OpCode::exp, 2, 1},  {OpCode::expm1, 4, 1},   {OpCode::log, 4, 1}, {OpCode::log1p, 3, 1},
    {OpCode::tanh, 4, 1}, {OpCode::sigmoid, 4, 1}, {OpCode::sin, 3, 1}, {OpCode::cos, 3, 1},
};

int64_t AllowedUlps(OpCode op, DType dtype) {
  for (const auto& b : kUlpBounds)
    if (b.op == op) return (dtype == DType::kF16 || dtype == DType::kBF16) ? b.half : b.wide;
  return 0;
}

// ---------------------------------------------------------------------------
// Bits and ulp distances.

// Maps a float's bits onto a line where adjacent floats differ by 1 and both
// zeros are 0.
template <class T>
int64_t OrderedKey(T v) {
  constexpr int kBits = 8 * sizeof(T);
  const uint64_t u = Bits(v);
  const uint64_t sign = uint64_t{1} << (kBits - 1);
  const int64_t mag = static_cast<int64_t>(u & (sign - 1));
  return (u & sign) ? -mag : mag;
}

template <class T>
int64_t UlpDistance(T a, T b) {
  const int64_t ka = OrderedKey(a), kb = OrderedKey(b);
  return ka > kb ? ka - kb : kb - ka;
}

// Compares `got` with `want` element by element in `dtype`, allowing `ulps`
// for floats (0: bit-exact, any NaN equals any NaN). Returns the largest
// distance seen; reports at most a few mismatches.
int64_t ExpectClose(DType dtype, std::span<const std::byte> got, std::span<const std::byte> want, int64_t ulps,
                    const std::string& what) {
  EXPECT_EQ(got.size(), want.size()) << what;
  int64_t worst = 0;
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* g = reinterpret_cast<const T*>(got.data());
    const T* w = reinterpret_cast<const T*>(want.data());
    const size_t n = std::min(got.size(), want.size()) / sizeof(T);
    int failures = 0;
    for (size_t i = 0; i < n; ++i) {
      bool ok;
      if constexpr (kIsComplex<T>) {
        using R = typename T::value_type;
        auto same = [](R x, R y) { return (std::isnan(x) && std::isnan(y)) || Bits(x) == Bits(y); };
        ok = same(g[i].real(), w[i].real()) && same(g[i].imag(), w[i].imag());
      } else if constexpr (kIsInt<T>) {
        ok = g[i] == w[i];
      } else {
        if (IsNaNValue(g[i]) || IsNaNValue(w[i])) {
          ok = IsNaNValue(g[i]) && IsNaNValue(w[i]);
        } else if (ulps == 0) {
          ok = Bits(g[i]) == Bits(w[i]);
        } else {
          const int64_t d = UlpDistance(g[i], w[i]);
          worst = std::max(worst, d);
          ok = d <= ulps;
        }
      }
      if (!ok && failures++ < 5)
        ADD_FAILURE() << what << " element " << i << ": got " << Show(g[i]) << ", want " << Show(w[i]) << " (allowed "
                      << ulps << " ulp)";
    }
  });
  return worst;
}

// ---------------------------------------------------------------------------
// Deterministic inputs.

// Values every float op meets somewhere in the catalogue run: the special
// cases the guarded SIMD paths hand to the reference.
const double kFloatSpecials[] = {
    std::numeric_limits<double>::quiet_NaN(),
    std::numeric_limits<double>::infinity(),
    -std::numeric_limits<double>::infinity(),
    0.0,
    -0.0,
    1e-45,
    -1e-45,
    1e-40,
    1.17549435e-38,
    0.5,
    -0.5,
    1.5,
    2.5,
    -2.5,
    -0.4,
    0.49999997,
    1.0,
    -1.0,
    88.7,
    89.0,
    -87.5,
    -104.0,
    709.5,
    -745.0,
    1e6,
    -1e6,
    39001.0,
    3.4e38,
    -3.4e38,
    1e300,
    65504.0,
    65520.0,
    8388609.0,
    4503599627370497.0,
};

// A small, fast, deterministic generator (SplitMix64): input generation must
// not dominate the suite's run time.
struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed) {}
  uint64_t operator()() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double Unit() { return static_cast<double>((*this)() >> 11) * 0x1p-53; }  // [0, 1)
};

enum class Domain { kGeneral, kExp, kLog, kLog1p, kTrig, kSqrt };

Domain DomainOf(OpCode op) {
  switch (op) {
    case OpCode::exp:
    case OpCode::expm1:
    case OpCode::sigmoid:
    case OpCode::tanh: return Domain::kExp;
    case OpCode::log: return Domain::kLog;
    case OpCode::log1p: return Domain::kLog1p;
    case OpCode::sin:
    case OpCode::cos: return Domain::kTrig;
    case OpCode::sqrt:
    case OpCode::rsqrt: return Domain::kSqrt;
    default: return Domain::kGeneral;
  }
}

// A real float value for `op`: mostly inside the domain the SIMD kernel
// handles itself, with one block of 64 in every 512 full of special values and
// wide magnitudes (which send whole vectors down the guarded scalar path).
double FloatValue(Domain domain, bool wide_type, size_t i, Rng& rng) {
  auto uniform = [&](double lo, double hi) { return lo + (hi - lo) * rng.Unit(); };
  auto log_uniform = [&](double lo_exp2, double hi_exp2) { return std::exp2(uniform(lo_exp2, hi_exp2)); };
  auto sign = [&]() { return (rng() & 1) ? 1.0 : -1.0; };
  if ((i / 64) % 8 == 7) {
    if (rng() % 2 == 0) return kFloatSpecials[rng() % std::size(kFloatSpecials)];
    return sign() * log_uniform(-160, 160);
  }
  switch (domain) {
    case Domain::kExp:
      if (rng() % 2 == 0) return uniform(-3, 3);
      return wide_type && rng() % 2 == 0 ? uniform(-720, 720) : uniform(-90, 90);
    case Domain::kLog: return wide_type ? log_uniform(-1020, 1020) : log_uniform(-125, 127);
    case Domain::kLog1p: return rng() % 2 == 0 ? uniform(-0.999, 5) : log_uniform(-60, 60);
    case Domain::kTrig: return rng() % 2 == 0 ? uniform(-10, 10) : uniform(-40000, 40000);
    case Domain::kSqrt: return rng() % 10 == 0 ? -uniform(0, 100) : log_uniform(-100, 100);
    case Domain::kGeneral: break;
  }
  switch (rng() % 4) {
    case 0: return uniform(-100, 100);
    case 1: return sign() * log_uniform(-20, 20);
    case 2: return static_cast<double>(static_cast<int>(rng() % 41) - 20) / 2;  // halves: ties
    default: return uniform(-2, 2);
  }
}

template <class T>
T IntValue(Rng& rng) {
  if (rng() % 10 == 0) {
    const T edges[] = {T(0), T(1), static_cast<T>(-1), std::numeric_limits<T>::min(), std::numeric_limits<T>::max(),
                       T(2)};
    return edges[rng() % std::size(edges)];
  }
  return static_cast<T>(rng());
}

template <class T>
T FromDouble(double x) {
  if constexpr (kIsHalf<T>) return T(static_cast<float>(x));
  else return static_cast<T>(x);
}

// Operand `which` (0 or 1) of `op` for n elements. For binary ops operand 1
// may copy operand 0 (`first`) to make equal pairs.
bool IsShift(OpCode op) { return op == OpCode::left_shift || op == OpCode::right_shift; }

std::vector<std::byte> MakeOperand(OpCode op, DType dtype, size_t n, int which, uint64_t seed,
                                   const std::vector<std::byte>* first) {
  std::vector<std::byte> bytes(n * DTypeSize(dtype));
  Rng rng(seed * 1000003 + static_cast<uint64_t>(op) * 101 + static_cast<uint64_t>(dtype) * 7 +
          static_cast<uint64_t>(which));
  const Domain domain = DomainOf(op);
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = reinterpret_cast<T*>(bytes.data());
    const T* a = first != nullptr ? reinterpret_cast<const T*>(first->data()) : nullptr;
    for (size_t i = 0; i < n; ++i) {
      if (a != nullptr && rng() % 4 == 0) {  // equal pairs for ==, min, max, ...
        p[i] = a[i];
        if constexpr (kIsInt<T>) {
          if ((op == OpCode::quotient || op == OpCode::remainder) && p[i] == T(0)) p[i] = T(3);
          if (op == OpCode::pow || IsShift(op)) p[i] = static_cast<T>(rng() % 70);
        }
        continue;
      }
      if constexpr (kIsInt<T>) {
        T v = IntValue<T>(rng);
        if (which == 1 && (op == OpCode::quotient || op == OpCode::remainder) && v == T(0)) v = T(1);
        // Shift amounts 0..69: past every width too (the result is then 0 or -1).
        if (which == 1 && (op == OpCode::pow || IsShift(op))) v = static_cast<T>(rng() % 70);
        p[i] = v;
      } else if constexpr (kIsComplex<T>) {
        using R = typename T::value_type;
        const double re = rng.Unit() * 10 - 5, im = rng.Unit() * 10 - 5;
        p[i] = T(static_cast<R>(re), static_cast<R>(im));
      } else {
        const bool wide = std::is_same_v<T, double>;
        double x = FloatValue(domain, wide, i, rng);
        if (op == OpCode::pow && which == 1) x = std::fmod(x, 8.0);  // finite powers mostly
        p[i] = FromDouble<T>(x);
      }
    }
  });
  return bytes;
}

DType OutDType(OpCode op, DType dtype) {
  if (FamilyOf(op) == OpFamily::kCompare) return DType::kU8;
  if (op == OpCode::abs) return RealPart(dtype);
  return dtype;
}

bool IsElementwise(const OpInfo& info) {
  return info.family == OpFamily::kBinary || info.family == OpFamily::kCompare || info.family == OpFamily::kUnary;
}

// Output buffer with a canary after the n elements: kernels must write every
// element and nothing past the end.
struct OutBuffer {
  static constexpr size_t kCanary = 64;
  std::vector<std::byte> storage;
  size_t size;
  explicit OutBuffer(size_t bytes) : storage(bytes + kCanary, std::byte{0xa5}), size(bytes) {}
  std::span<std::byte> span() { return {storage.data(), size}; }
  std::span<const std::byte> data() const { return {storage.data(), size}; }
  bool CanaryIntact() const {
    return std::all_of(storage.begin() + static_cast<ptrdiff_t>(size), storage.end(),
                       [](std::byte b) { return b == std::byte{0xa5}; });
  }
};

Status RunOp(const OpInfo& info, DType dtype, const std::vector<std::byte>& a, const std::vector<std::byte>& b,
             std::span<std::byte> out, ThreadPool* pool, bool reference) {
  if (info.arity == 2) {
    return reference ? BinaryReference(info.code, dtype, a, b, out) : Binary(info.code, dtype, a, b, out, pool);
  }
  return reference ? UnaryReference(info.code, dtype, a, out) : Unary(info.code, dtype, a, out, pool);
}

struct Case {
  const OpInfo* info;
  DType dtype;
  size_t n;
  std::vector<std::byte> a, b, want;
};

std::vector<Case> MakeCases(size_t n_override = 0) {
  std::vector<Case> cases;
  for (const OpInfo& info : AllOps()) {
    if (!IsElementwise(info)) continue;
    for (DType dtype : kAllDTypes) {
      if (!Accepts(info.dtypes, dtype)) continue;
      std::vector<size_t> lengths(std::begin(kLengths), std::end(kLengths));
      if (n_override != 0) lengths = {n_override};
      for (size_t n : lengths) {
        Case c{&info, dtype, n, {}, {}, {}};
        c.a = MakeOperand(info.code, dtype, n, 0, n, nullptr);
        if (info.arity == 2) c.b = MakeOperand(info.code, dtype, n, 1, n, &c.a);
        c.want.assign(n * DTypeSize(OutDType(info.code, dtype)), std::byte{0});
        const Status st = RunOp(info, dtype, c.a, c.b, c.want, nullptr, /*reference=*/true);
        EXPECT_TRUE(st.ok()) << info.name << " " << DTypeName(dtype) << ": " << st.ToString();
        cases.push_back(std::move(c));
      }
    }
  }
  return cases;
}

std::string Label(const Case& c, const std::string& target) {
  return std::string(c.info->name) + " " + std::string(DTypeName(c.dtype)) + " n=" + std::to_string(c.n) + " target " +
         target;
}

TEST(ElementwiseTest, CatalogueCoversEveryFamilyMember) {
  // The catalogue drives the tests below; make sure it is not silently empty
  // and that every elementwise op has one or two operands as the kernels assume.
  int binary = 0, compare = 0, unary = 0;
  for (const OpInfo& info : AllOps()) {
    if (info.family == OpFamily::kBinary) {
      ++binary;
      EXPECT_EQ(info.arity, 2) << info.name;
    } else if (info.family == OpFamily::kCompare) {
      ++compare;
      EXPECT_EQ(info.arity, 2) << info.name;
    } else if (info.family == OpFamily::kUnary) {
      ++unary;
      EXPECT_EQ(info.arity, 1) << info.name;
    }
  }
  EXPECT_GE(binary, 13);
  EXPECT_GE(compare, 9);
  EXPECT_GE(unary, 18);
}

// Every op x dtype x length, on every compiled target, against the reference.
TEST(ElementwiseTest, EveryOpAndDTypeMatchesReferenceOnEveryTarget) {
  const std::vector<Case> cases = MakeCases();
  ASSERT_FALSE(cases.empty());
  const bool verbose = std::getenv("PELEMAY_TEST_VERBOSE") != nullptr;
  std::map<std::string, int64_t> worst;  // "op dtype" -> max ulp seen
  std::vector<std::string> targets;
  ForEachTarget([&](const std::string& target) {
    targets.push_back(target);
    for (const Case& c : cases) {
      const std::string label = Label(c, target);
      const DType out_dtype = OutDType(c.info->code, c.dtype);
      OutBuffer got(c.want.size());
      const Status st = RunOp(*c.info, c.dtype, c.a, c.b, got.span(), nullptr, false);
      ASSERT_TRUE(st.ok()) << label << ": " << st.ToString();
      EXPECT_TRUE(got.CanaryIntact()) << label << " wrote past the end";
      const int64_t allowed = AllowedUlps(c.info->code, out_dtype);
      const int64_t w = ExpectClose(out_dtype, got.data(), c.want, allowed, label);
      auto& slot = worst[std::string(c.info->name) + " " + std::string(DTypeName(c.dtype))];
      slot = std::max(slot, w);
    }
  });
  EXPECT_FALSE(targets.empty());
  if (verbose) {
    std::cout << "targets:";
    for (const auto& t : targets) std::cout << " " << t;
    std::cout << "\n";
    for (const auto& [k, v] : worst)
      if (v > 0) std::cout << "max ulp " << k << ": " << v << "\n";
  }
}

// The same through a two-thread pool: the array is split in the middle of a
// vector, so every op must handle chunks that start anywhere.
TEST(ElementwiseTest, ThreadPoolMatchesReference) {
  ThreadPool pool(2);
  ASSERT_EQ(pool.threads(), 2u);
  // 70001 elements: two chunks of 35001, so the second starts mid-vector.
  const std::vector<Case> cases = MakeCases(/*n_override=*/70001);
  for (const Case& c : cases) {
    const std::string label = Label(c, "best") + " pool";
    const DType out_dtype = OutDType(c.info->code, c.dtype);
    OutBuffer got(c.want.size());
    const Status st = RunOp(*c.info, c.dtype, c.a, c.b, got.span(), &pool, false);
    ASSERT_TRUE(st.ok()) << label << ": " << st.ToString();
    EXPECT_TRUE(got.CanaryIntact()) << label;
    ExpectClose(out_dtype, got.data(), c.want, AllowedUlps(c.info->code, out_dtype), label);
  }
}

// ---------------------------------------------------------------------------
// Known values. Each helper runs the op on every target and on the reference
// and checks all of them against the expected values.

template <class T>
bool SameValue(T got, T want) {
  if constexpr (kIsComplex<T>) {
    return SameValue(got.real(), want.real()) && SameValue(got.imag(), want.imag());
  } else if constexpr (kIsInt<T>) {
    return got == want;
  } else {
    if (IsNaNValue(want)) return IsNaNValue(got);
    return Bits(got) == Bits(want);  // -0.0 and +0.0 differ
  }
}

template <class T, class R>
void CheckAll(const char* what, const std::vector<R>& got, const std::vector<R>& want) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_TRUE(SameValue(got[i], want[i]))
        << what << " element " << i << ": got " << Show(got[i]) << ", want " << Show(want[i]);
}

// out = op(a, b) in T (the result in R: T, or u8 for comparisons).
template <class T, class R = T>
void ExpectBinary(OpCode op, std::vector<T> a, std::vector<T> b, std::vector<R> want) {
  ASSERT_EQ(a.size(), b.size());
  const DType dtype = DTypeOf<T>::value;
  const std::string base = std::string(GetOpInfo(op).name) + " " + std::string(DTypeName(dtype));
  {
    std::vector<R> got(a.size());
    const Status st = BinaryReference(op, dtype, AsBytes(a), AsBytes(b), std::as_writable_bytes(std::span(got)));
    ASSERT_TRUE(st.ok()) << base << ": " << st.ToString();
    CheckAll<T>((base + " reference").c_str(), got, want);
  }
  // Repeat the inputs so the values also go through full vectors, not only tails.
  std::vector<T> a_long, b_long;
  std::vector<R> want_long;
  for (int rep = 0; rep < 37; ++rep) {
    a_long.insert(a_long.end(), a.begin(), a.end());
    b_long.insert(b_long.end(), b.begin(), b.end());
    want_long.insert(want_long.end(), want.begin(), want.end());
  }
  ForEachTarget([&](const std::string& target) {
    for (const auto* in : {&a, &a_long}) {
      const auto& ia = *in;
      const auto& ib = in == &a ? b : b_long;
      const auto& w = in == &a ? want : want_long;
      std::vector<R> got(ia.size());
      const Status st = Binary(op, dtype, AsBytes(ia), AsBytes(ib), std::as_writable_bytes(std::span(got)), nullptr);
      ASSERT_TRUE(st.ok()) << base << " " << target << ": " << st.ToString();
      CheckAll<T>((base + " on " + target).c_str(), got, w);
    }
  });
}

template <class T>
void ExpectCompare(OpCode op, std::vector<T> a, std::vector<T> b, std::vector<uint8_t> want) {
  ExpectBinary<T, uint8_t>(op, std::move(a), std::move(b), std::move(want));
}

template <class T, class R = T>
void ExpectUnary(OpCode op, std::vector<T> a, std::vector<R> want) {
  const DType dtype = DTypeOf<T>::value;
  const std::string base = std::string(GetOpInfo(op).name) + " " + std::string(DTypeName(dtype));
  {
    std::vector<R> got(a.size());
    const Status st = UnaryReference(op, dtype, AsBytes(a), std::as_writable_bytes(std::span(got)));
    ASSERT_TRUE(st.ok()) << base << ": " << st.ToString();
    CheckAll<T>((base + " reference").c_str(), got, want);
  }
  std::vector<T> a_long;
  std::vector<R> want_long;
  for (int rep = 0; rep < 37; ++rep) {
    a_long.insert(a_long.end(), a.begin(), a.end());
    want_long.insert(want_long.end(), want.begin(), want.end());
  }
  ForEachTarget([&](const std::string& target) {
    for (const auto* in : {&a, &a_long}) {
      const auto& w = in == &a ? want : want_long;
      std::vector<R> got(in->size());
      const Status st = Unary(op, dtype, AsBytes(*in), std::as_writable_bytes(std::span(got)), nullptr);
      ASSERT_TRUE(st.ok()) << base << " " << target << ": " << st.ToString();
      CheckAll<T>((base + " on " + target).c_str(), got, w);
    }
  });
}

TEST(ElementwiseKnownValues, IntegerAddSubtractMultiplyWrap) {
  ExpectBinary<int8_t>(OpCode::add, {127, -128, 100, -1}, {1, -1, 100, 1}, {-128, 127, -56, 0});
  ExpectBinary<uint8_t>(OpCode::add, {200, 255, 0}, {100, 1, 0}, {44, 0, 0});
  ExpectBinary<int8_t>(OpCode::subtract, {-128, 127}, {1, -1}, {127, -128});
  ExpectBinary<uint8_t>(OpCode::subtract, {0, 5}, {1, 10}, {255, 251});
  ExpectBinary<int32_t>(OpCode::multiply, {65536, 2147483647, -2147483647 - 1, 123456789}, {65536, 2, -1, 1000},
                        {0, -2, -2147483647 - 1, static_cast<int32_t>(123456789000LL & 0xffffffff)});
  ExpectBinary<int64_t>(OpCode::multiply, {INT64_MAX, 4294967296LL}, {3, 4294967296LL},
                        {static_cast<int64_t>(static_cast<uint64_t>(INT64_MAX) * 3), 0});
  ExpectBinary<uint16_t>(OpCode::multiply, {300, 65535}, {300, 65535}, {24464, 1});
}

TEST(ElementwiseKnownValues, NegateAndAbsWrap) {
  ExpectUnary<uint8_t>(OpCode::negate, {0, 1, 2, 255}, {0, 255, 254, 1});
  ExpectUnary<int8_t>(OpCode::negate, {-128, 127, 0, -5}, {-128, -127, 0, 5});
  ExpectUnary<int8_t>(OpCode::abs, {-128, -127, 0, 5, -5}, {-128, 127, 0, 5, 5});
  ExpectUnary<int64_t>(OpCode::abs, {INT64_MIN, -3}, {INT64_MIN, 3});
  ExpectUnary<uint32_t>(OpCode::abs, {0xffffffffu, 7}, {0xffffffffu, 7});
}

TEST(ElementwiseKnownValues, QuotientAndRemainderSigns) {
  ExpectBinary<int32_t>(OpCode::quotient, {-7, 7, -7, 7, 0}, {2, -2, -2, 2, 5}, {-3, -3, 3, 3, 0});
  ExpectBinary<int32_t>(OpCode::remainder, {-11, 11, -11, 11}, {10, -10, -10, 10}, {-1, 1, -1, 1});
  ExpectBinary<int8_t>(OpCode::quotient, {-128, -128, 127}, {-1, 1, -1}, {-128, -128, -127});
  ExpectBinary<int8_t>(OpCode::remainder, {-128, -128, 127}, {-1, 3, -1}, {0, -2, 0});
  ExpectBinary<int64_t>(OpCode::quotient, {INT64_MIN}, {-1}, {INT64_MIN});
  ExpectBinary<uint8_t>(OpCode::quotient, {255, 7}, {2, 255}, {127, 0});
  ExpectBinary<uint8_t>(OpCode::remainder, {255, 7}, {2, 255}, {1, 7});
  // Floats: C fmod, the sign of the dividend.
  ExpectBinary<float>(OpCode::remainder, {-11.5f, 11.5f, 5.0f, -0.0f}, {10.0f, -10.0f, 2.5f, 3.0f},
                      {-1.5f, 1.5f, 0.0f, -0.0f});
  ExpectBinary<double>(OpCode::remainder, {1.0, kInf, 2.0}, {0.0, 2.0, kInf}, {kNaN, kNaN, 2.0});
}

template <class T>
void ExpectDivisionByZeroRejected() {
  const DType dtype = DTypeOf<T>::value;
  for (OpCode op : {OpCode::quotient, OpCode::remainder}) {
    // The zero sits far from the start so a check that only looks at the
    // first vector would miss it; nothing may be written.
    std::vector<T> a(1000, T(7)), b(1000, T(3));
    b[997] = T(0);
    std::vector<T> out(1000, T(42));
    const Status st = Binary(op, dtype, AsBytes(a), AsBytes(b), std::as_writable_bytes(std::span(out)), nullptr);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << GetOpInfo(op).name << " " << DTypeName(dtype);
    EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](T v) { return v == T(42); }))
        << "output written before the error";
    const Status ref = BinaryReference(op, dtype, AsBytes(a), AsBytes(b), std::as_writable_bytes(std::span(out)));
    EXPECT_EQ(ref.code(), ErrorCode::kInvalidArgument);
    ThreadPool pool(2);
    std::vector<T> big_a(200000, T(1)), big_b(200000, T(1));
    big_b[199999] = T(0);
    std::vector<T> big_out(200000);
    EXPECT_EQ(
        Binary(op, dtype, AsBytes(big_a), AsBytes(big_b), std::as_writable_bytes(std::span(big_out)), &pool).code(),
        ErrorCode::kInvalidArgument);
  }
}

TEST(ElementwiseKnownValues, IntegerDivisionByZeroIsInvalidArgument) {
  ExpectDivisionByZeroRejected<int8_t>();
  ExpectDivisionByZeroRejected<int32_t>();
  ExpectDivisionByZeroRejected<int64_t>();
  ExpectDivisionByZeroRejected<uint8_t>();
  ExpectDivisionByZeroRejected<uint64_t>();
  // Floats divide by zero into IEEE values, never an error.
  ExpectBinary<float>(OpCode::divide, {1.0f, -1.0f, 0.0f, kInff}, {0.0f, 0.0f, 0.0f, -0.0f},
                      {kInff, -kInff, kNaNf, -kInff});
  ExpectBinary<double>(OpCode::divide, {1.0, 0.0, 3.0}, {-0.0, kInf, -kInf}, {-kInf, 0.0, -0.0});
  ExpectBinary<float>(OpCode::remainder, {1.0f}, {0.0f}, {kNaNf});
}

TEST(ElementwiseKnownValues, IntegerPow) {
  ExpectBinary<int32_t>(OpCode::pow, {2, -2, 3, 0, 0, -1, 7}, {10, 3, 40, 0, 5, 1001, 1},
                        {1024, -8, static_cast<int32_t>(0x291fe821u) /* 3^40 mod 2^32 */, 1, 0, -1, 7});
  ExpectBinary<uint8_t>(OpCode::pow, {2, 3, 255}, {8, 5, 2}, {0, 243, 1});
  ExpectBinary<int64_t>(OpCode::pow, {2, 10}, {63, 18}, {INT64_MIN, 1000000000000000000LL});
  for (DType dtype : {DType::kS8, DType::kS32, DType::kS64}) {
    VisitDType(dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (kIsInt<T>) {
        std::vector<T> a(100, T(2)), b(100, T(1)), out(100, T(5));
        b[60] = T(-1);
        EXPECT_EQ(
            Binary(OpCode::pow, dtype, AsBytes(a), AsBytes(b), std::as_writable_bytes(std::span(out)), nullptr).code(),
            ErrorCode::kInvalidArgument)
            << DTypeName(dtype);
        EXPECT_EQ(out[0], T(5)) << "written before the error";
      }
    });
  }
  // Unsigned exponents are never negative: 2^255 wraps to 0 in u8.
  ExpectBinary<uint8_t>(OpCode::pow, {2, 1}, {255, 255}, {0, 1});
}

TEST(ElementwiseKnownValues, FloatMinMaxPropagateNaN) {
  ExpectBinary<float>(OpCode::max, {kNaNf, 1.0f, kNaNf, -kInff, 2.0f}, {1.0f, kNaNf, kNaNf, 3.0f, kInff},
                      {kNaNf, kNaNf, kNaNf, 3.0f, kInff});
  ExpectBinary<float>(OpCode::min, {kNaNf, 1.0f, kInff, 2.0f}, {1.0f, kNaNf, 3.0f, -kInff},
                      {kNaNf, kNaNf, 3.0f, -kInff});
  ExpectBinary<double>(OpCode::max, {kNaN, 5.0}, {-kInf, kNaN}, {kNaN, kNaN});
  ExpectBinary<double>(OpCode::min, {kNaN, 5.0}, {kInf, kNaN}, {kNaN, kNaN});
  // Ties return the first operand, as :erlang.max/min (visible only on zeros).
  ExpectBinary<float>(OpCode::max, {0.0f, -0.0f}, {-0.0f, 0.0f}, {0.0f, -0.0f});
  ExpectBinary<float>(OpCode::min, {0.0f, -0.0f}, {-0.0f, 0.0f}, {0.0f, -0.0f});
  ExpectBinary<double>(OpCode::max, {0.0, -0.0}, {-0.0, 0.0}, {0.0, -0.0});
  ExpectBinary<double>(OpCode::min, {0.0, -0.0}, {-0.0, 0.0}, {0.0, -0.0});
  ExpectBinary<f16>(OpCode::max, {f16(kNaNf), f16(1.0f)}, {f16(2.0f), f16(3.0f)}, {f16(kNaNf), f16(3.0f)});
  ExpectBinary<bf16>(OpCode::min, {bf16(1.0f), bf16(-2.0f)}, {bf16(kNaNf), bf16(3.0f)}, {bf16(kNaNf), bf16(-2.0f)});
  ExpectBinary<int8_t>(OpCode::max, {-128, 5}, {127, -5}, {127, 5});
  ExpectBinary<uint64_t>(OpCode::min, {UINT64_MAX, 0}, {1, 1}, {1, 0});
}

TEST(ElementwiseKnownValues, ComparisonsWithNaN) {
  const std::vector<float> a = {kNaNf, 1.0f, kNaNf};
  const std::vector<float> b = {1.0f, kNaNf, kNaNf};
  ExpectCompare<float>(OpCode::equal, a, b, {0, 0, 0});
  ExpectCompare<float>(OpCode::not_equal, a, b, {1, 1, 1});
  ExpectCompare<float>(OpCode::less, a, b, {0, 0, 0});
  ExpectCompare<float>(OpCode::less_equal, a, b, {0, 0, 0});
  ExpectCompare<float>(OpCode::greater, a, b, {0, 0, 0});
  ExpectCompare<float>(OpCode::greater_equal, a, b, {0, 0, 0});
  // NaN is truthy, like any non-zero.
  ExpectCompare<float>(OpCode::logical_and, {kNaNf, 0.0f, -0.0f}, {1.0f, 1.0f, 1.0f}, {1, 0, 0});
  ExpectCompare<double>(OpCode::logical_or, {kNaN, 0.0, -0.0}, {0.0, 0.0, 0.0}, {1, 0, 0});
  ExpectCompare<double>(OpCode::logical_xor, {kNaN, 0.0, 2.0}, {1.0, 0.0, 0.0}, {0, 0, 1});
  // Signed zeros are equal; infinities equal themselves.
  ExpectCompare<float>(OpCode::equal, {-0.0f, kInff, -kInff}, {0.0f, kInff, kInff}, {1, 1, 0});
  ExpectCompare<float>(OpCode::greater, {kInff, 0.0f}, {kInff, -0.0f}, {0, 0});
  ExpectCompare<f16>(OpCode::not_equal, {f16(kNaNf), f16(1.0f)}, {f16(kNaNf), f16(1.0f)}, {1, 0});
  ExpectCompare<bf16>(OpCode::less, {bf16(kNaNf), bf16(1.0f)}, {bf16(2.0f), bf16(2.0f)}, {0, 1});
  // Integers: unsigned order, not signed.
  ExpectCompare<uint8_t>(OpCode::greater, {255, 0}, {1, 1}, {1, 0});
  ExpectCompare<int8_t>(OpCode::greater, {-1, 0}, {1, -128}, {0, 1});
  ExpectCompare<uint64_t>(OpCode::less, {0, UINT64_MAX}, {UINT64_MAX, 0}, {1, 0});
  // Complex: equality only; a NaN component makes them unequal.
  ExpectCompare<c64>(OpCode::equal, {c64(1, 2), c64(1, 2), c64(kNaNf, 0)}, {c64(1, 2), c64(1, -2), c64(kNaNf, 0)},
                     {1, 0, 0});
  ExpectCompare<c128>(OpCode::logical_and, {c128(0, 1), c128(0, 0)}, {c128(2, 0), c128(1, 0)}, {1, 0});
}

TEST(ElementwiseKnownValues, RoundingAndSignedZero) {
  ExpectUnary<float>(OpCode::round, {2.5f, -2.5f, 0.5f, -0.5f, 1.5f, -0.4f, 0.49999997f, -0.0f, 0.0f},
                     {3.0f, -3.0f, 1.0f, -1.0f, 2.0f, 0.0f, 0.0f, 0.0f, 0.0f});
  ExpectUnary<float>(OpCode::round, {8388609.0f, -8388609.0f, 1e30f, kInff, -kInff, kNaNf},
                     {8388609.0f, -8388609.0f, 1e30f, kInff, -kInff, kNaNf});
  ExpectUnary<double>(OpCode::round, {2.5, -2.5, 0.5, -0.4, 4503599627370497.0, -0.49999999999999994},
                      {3.0, -3.0, 1.0, 0.0, 4503599627370497.0, 0.0});
  ExpectUnary<f16>(OpCode::round, {f16(2.5f), f16(-0.25f)}, {f16(3.0f), f16(0.0f)});
  ExpectUnary<bf16>(OpCode::round, {bf16(-2.5f), bf16(-0.25f)}, {bf16(-3.0f), bf16(0.0f)});
  // floor and ceil keep the sign of zero (C floor/ceil, as Nx).
  ExpectUnary<float>(OpCode::floor, {-0.0f, 0.0f, -0.5f, 0.5f, -1.5f, 1e30f, -kInff, kNaNf},
                     {-0.0f, 0.0f, -1.0f, 0.0f, -2.0f, 1e30f, -kInff, kNaNf});
  ExpectUnary<float>(OpCode::ceil, {-0.0f, -0.5f, 0.5f, -1.5f, 1e30f, kInff},
                     {-0.0f, -0.0f, 1.0f, -1.0f, 1e30f, kInff});
  ExpectUnary<double>(OpCode::floor, {-0.0, -0.5, 2.7, -2.7}, {-0.0, -1.0, 2.0, -3.0});
  ExpectUnary<double>(OpCode::ceil, {-0.0, -0.5, 2.2, -2.7}, {-0.0, -0.0, 3.0, -2.0});
  ExpectUnary<f16>(OpCode::ceil, {f16(-0.5f)}, {f16(-0.0f)});
  // Integers pass through.
  ExpectUnary<int32_t>(OpCode::round, {-7, 7}, {-7, 7});
  ExpectUnary<uint8_t>(OpCode::floor, {200}, {200});
  // sign keeps NaN and signed zeros (we differ from Nx's sign(NaN) = 1.0).
  ExpectUnary<float>(OpCode::sign, {kNaNf, -0.0f, 0.0f, -3.0f, 5.0f, -kInff, kInff},
                     {kNaNf, -0.0f, 0.0f, -1.0f, 1.0f, -1.0f, 1.0f});
  ExpectUnary<int8_t>(OpCode::sign, {-128, 0, 127}, {-1, 0, 1});
  ExpectUnary<uint16_t>(OpCode::sign, {0, 65535}, {0, 1});
  // negate and abs of signed zero.
  ExpectUnary<float>(OpCode::negate, {0.0f, -0.0f, kInff}, {-0.0f, 0.0f, -kInff});
  ExpectUnary<double>(OpCode::abs, {-0.0, -kInf, kNaN}, {0.0, kInf, kNaN});
}

TEST(ElementwiseKnownValues, InfinityArithmetic) {
  ExpectBinary<float>(OpCode::add, {kInff, kInff, 3e38f}, {-kInff, 1.0f, 3e38f}, {kNaNf, kInff, kInff});
  ExpectBinary<float>(OpCode::multiply, {kInff, 0.0f, -2.0f}, {0.0f, -kInff, kInff}, {kNaNf, kNaNf, -kInff});
  ExpectBinary<double>(OpCode::subtract, {kInf, 1e308}, {kInf, -1e308}, {kNaN, kInf});
  ExpectUnary<float>(OpCode::sqrt, {-1.0f, -0.0f, kInff, -kInff, 4.0f, 2.0f},
                     {kNaNf, -0.0f, kInff, kNaNf, 2.0f, std::sqrt(2.0f)});
  ExpectUnary<double>(OpCode::rsqrt, {0.0, -0.0, kInf, 4.0, -1.0}, {kInf, -kInf, 0.0, 0.5, kNaN});
  ExpectUnary<float>(OpCode::tanh, {kInff, -kInff, 0.0f, -0.0f, 30.0f}, {1.0f, -1.0f, 0.0f, -0.0f, 1.0f});
  ExpectUnary<float>(OpCode::sigmoid, {kInff, -kInff, 0.0f}, {1.0f, 0.0f, 0.5f});
  ExpectUnary<double>(OpCode::sigmoid, {kInf, -kInf, -800.0}, {1.0, 0.0, 0.0});
  ExpectBinary<float>(OpCode::pow, {0.0f, 2.0f, -8.0f, kNaNf, 2.0f}, {-1.0f, 0.5f, 1.0f / 3, 2.0f, kNaNf},
                      {kInff, std::sqrt(2.0f), kNaNf, kNaNf, kNaNf});
  ExpectBinary<float>(OpCode::atan2, {0.0f, -0.0f, 1.0f}, {-1.0f, -1.0f, 0.0f},
                      {static_cast<float>(M_PI), -static_cast<float>(M_PI), static_cast<float>(M_PI / 2)});
}

// exp in f32 through the SIMD path and at its range guards: the last finite
// result, overflow, subnormal and zero results, NaN. All targets must give
// the correctly rounded double result.
TEST(ElementwiseKnownValues, ExpEdgesF32) {
  const std::vector<float> x = {88.7f,     89.0f,  -104.0f, -103.0f, kNaNf,  0.0f, -0.0f,
                                88.72283f, -87.3f, kInff,   -kInff,  100.0f, 1.0f};
  std::vector<float> want;
  for (float v : x) want.push_back(static_cast<float>(std::exp(static_cast<double>(v))));
  EXPECT_TRUE(std::isfinite(want[0]));
  EXPECT_EQ(want[1], kInff);
  EXPECT_EQ(want[2], 0.0f);
  EXPECT_EQ(want[3], std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(want[5], 1.0f);
  EXPECT_EQ(want[11], kInff);  // Nx.BinaryBackend: f32 exp(100.0) is +Inf
  ExpectUnary<float>(OpCode::exp, x, want);
  // Vectors of in-range values take hwy Exp; check a few exact points there.
  ExpectUnary<float>(OpCode::exp, std::vector<float>(64, 0.0f), std::vector<float>(64, 1.0f));
  ExpectUnary<double>(OpCode::exp, {709.5, 710.0, -745.2, -746.0, kNaN},
                      {std::exp(709.5), kInf, std::exp(-745.2), 0.0, kNaN});
  ExpectUnary<float>(OpCode::expm1, {0.0f, -0.0f, -kInff, 89.0f, 1e-10f},
                     {0.0f, -0.0f, -1.0f, kInff, static_cast<float>(std::expm1(static_cast<double>(1e-10f)))});
}

TEST(ElementwiseKnownValues, TrigGuardedPath) {
  // |x| > 39000 leaves hwy's accurate range: the reference handles it.
  const std::vector<float> x = {1e6f, -1e6f, 1e30f, 39001.0f, kInff, kNaNf};
  std::vector<float> s, c;
  for (float v : x) {
    s.push_back(static_cast<float>(std::sin(static_cast<double>(v))));
    c.push_back(static_cast<float>(std::cos(static_cast<double>(v))));
  }
  EXPECT_NEAR(s[0], -0.3499935f, 1e-6f);
  ExpectUnary<float>(OpCode::sin, x, s);
  ExpectUnary<float>(OpCode::cos, x, c);
  ExpectUnary<double>(OpCode::sin, {1e6, 0.0, -0.0}, {std::sin(1e6), 0.0, -0.0});
}

TEST(ElementwiseKnownValues, LogEdges) {
  const float sub = std::numeric_limits<float>::denorm_min();
  const std::vector<float> x = {0.0f,  -0.0f,  -1.0f, sub,  1e-40f,
                                kInff, -kInff, kNaNf, 1.0f, std::numeric_limits<float>::min()};
  std::vector<float> want;
  for (float v : x) want.push_back(static_cast<float>(std::log(static_cast<double>(v))));
  EXPECT_EQ(want[0], -kInff);
  EXPECT_TRUE(std::isnan(want[2]));
  EXPECT_NEAR(want[3], -103.27893f, 1e-4f);
  ExpectUnary<float>(OpCode::log, x, want);
  ExpectUnary<double>(OpCode::log, {0.0, -2.0, 4.9e-324, 1.0}, {-kInf, kNaN, std::log(4.9e-324), 0.0});
  ExpectUnary<float>(OpCode::log1p, {-1.0f, -2.0f, -0.0f, 1e-30f, kInff}, {-kInff, kNaNf, -0.0f, 1e-30f, kInff});
  ExpectUnary<f16>(OpCode::log, {f16(0.0f), f16(-1.0f), f16(1.0f)}, {f16(-kInff), f16(kNaNf), f16(0.0f)});
}

TEST(ElementwiseKnownValues, ComplexAbsIsRealModulus) {
  ExpectUnary<c64, float>(OpCode::abs, {c64(3, 4), c64(-5, 12), c64(0, -2), c64(0, 0)}, {5.0f, 13.0f, 2.0f, 0.0f});
  ExpectUnary<c128, double>(OpCode::abs, {c128(3, -4), c128(1e300, 1e300)}, {5.0, std::hypot(1e300, 1e300)});
  ExpectUnary<c64>(OpCode::negate, {c64(1, -2)}, {c64(-1, 2)});
  ExpectBinary<c64>(OpCode::multiply, {c64(1, 2)}, {c64(3, 4)}, {c64(-5, 10)});
  ExpectBinary<c128>(OpCode::add, {c128(1, 2)}, {c128(3, -4)}, {c128(4, -2)});
  ExpectBinary<c128>(OpCode::divide, {c128(4, 6)}, {c128(2, 0)}, {c128(2, 3)});
  ExpectUnary<c128>(OpCode::exp, {c128(0, M_PI)}, {std::exp(c128(0, M_PI))});
}

// On the negative real axis, the complex library's branch (Nx.BinaryBackend):
// an imaginary part of -0.0 counts as +0.0, unlike C99's csqrt.
TEST(ElementwiseKnownValues, ComplexSqrtTakesTheComplexLibrarysBranch) {
  ExpectUnary<c128>(OpCode::sqrt, {c128(-4, -0.0), c128(-4, 0.0), c128(-4, -1e-300), c128(9, -0.0)},
                    {c128(0, 2), c128(0, 2), std::sqrt(c128(-4, -1e-300)), c128(3, 0)});
  ExpectUnary<c64>(OpCode::sqrt, {c64(-0.25f, -0.0f)}, {c64(0, 0.5f)});
  ExpectUnary<c128>(OpCode::rsqrt, {c128(-4, -0.0)}, {c128(1, 0) / c128(0, 2)});
}

TEST(ElementwiseKnownValues, HalfFloats) {
  // f16 rounds to nearest even: 1 + 2^-11 is a tie (to 1), 1 + 3 * 2^-11 a
  // tie up (to 1 + 2^-9); past 65520 is Inf.
  ExpectBinary<f16>(OpCode::add, {f16(1.0f), f16(1.0f), f16(65504.0f), f16(65504.0f), f16(65504.0f)},
                    {f16(0.00048828125f), f16(0.00146484375f), f16(8.0f), f16(16.0f), f16(-65504.0f)},
                    {f16(1.0f), f16(1.001953125f), f16(65504.0f), f16(kInff), f16(0.0f)});
  const float min_normal = std::ldexp(1.0f, -14);
  ExpectBinary<f16>(OpCode::multiply, {f16(256.0f), f16(min_normal)}, {f16(256.0f), f16(0.5f)},
                    {f16(kInff), f16(min_normal / 2)});
  EXPECT_EQ(f16(256.0f * 256.0f).bits, 0x7c00);  // Inf
  EXPECT_EQ(f16(3.0517578e-05f).bits, 0x0200);   // a subnormal
  // bf16 truncates the f32 result: 1 + 0.01171875 = 1.01171875 -> 1.0078125
  // (round to nearest would give 1.015625).
  ExpectBinary<bf16>(OpCode::add, {bf16(1.0f), bf16(1.0f)}, {bf16(0.01171875f), bf16(0.0078125f)},
                     {bf16(1.0078125f), bf16(1.0078125f)});
  EXPECT_EQ(bf16(1.0078125f).bits, 0x3f81);
  // sqrt(3) = 1.7320508 (0x3fddb3d7): truncated to 0x3fdd, not rounded up to 0x3fde.
  ExpectUnary<bf16>(OpCode::sqrt, {bf16(3.0f), bf16(-1.0f)}, {bf16(1.7265625f), bf16(kNaNf)});
  EXPECT_EQ(bf16(1.7265625f).bits, 0x3fdd);
  ExpectUnary<f16>(OpCode::negate, {f16(0.0f), f16(-2.0f)}, {f16(-0.0f), f16(2.0f)});
  ExpectUnary<f16>(OpCode::exp, {f16(0.0f), f16(12.0f), f16(-20.0f)},
                   {f16(1.0f), f16(kInff), f16(static_cast<float>(std::exp(-20.0)))});
  ExpectBinary<f16>(OpCode::divide, {f16(1.0f), f16(0.0f)}, {f16(0.0f), f16(0.0f)}, {f16(kInff), f16(kNaNf)});
}

TEST(ElementwiseKnownValues, Bitwise) {
  ExpectBinary<uint8_t>(OpCode::bitwise_and, {0xf0, 0xff}, {0x3c, 0x00}, {0x30, 0x00});
  ExpectBinary<int16_t>(OpCode::bitwise_or, {-32768, 1}, {1, 2}, {-32767, 3});
  ExpectBinary<uint64_t>(OpCode::bitwise_xor, {UINT64_MAX}, {1}, {UINT64_MAX - 1});
  ExpectUnary<int8_t>(OpCode::bitwise_not, {0, -1, 127}, {-1, 0, -128});
  ExpectUnary<uint32_t>(OpCode::bitwise_not, {0}, {0xffffffffu});
}

TEST(ElementwiseKnownValues, ShiftsAsNx) {
  // Nx shifts an unbounded integer and wraps it to the type.
  ExpectBinary<int8_t>(OpCode::left_shift, {1, 1, -1, 3, 5}, {3, 7, 1, 8, 100}, {8, -128, -2, 0, 0});
  ExpectBinary<int8_t>(OpCode::right_shift, {-128, -1, 100, -7, 64}, {3, 70, 2, 1, 8}, {-16, -1, 25, -4, 0});
  ExpectBinary<uint16_t>(OpCode::right_shift, {65535, 2}, {15, 16}, {1, 0});
  ExpectBinary<uint64_t>(OpCode::left_shift, {1, 1}, {63, 64}, {uint64_t{1} << 63, 0});
  for (OpCode op : {OpCode::left_shift, OpCode::right_shift}) {
    const std::vector<int32_t> a = {1, 2}, b = {1, -1};
    std::vector<int32_t> out(2);
    const Status st = Binary(op, DType::kS32, AsBytes(a), AsBytes(b), std::as_writable_bytes(std::span(out)), nullptr);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << GetOpInfo(op).name;
  }
}

TEST(ElementwiseKnownValues, BitCountsAsNx) {
  ExpectUnary<int8_t>(OpCode::count_leading_zeros, {0, 1, -1, 64}, {8, 7, 0, 1});
  ExpectUnary<uint32_t>(OpCode::count_leading_zeros, {0, 1, 0xFFFF}, {32, 31, 16});
  ExpectUnary<int16_t>(OpCode::population_count, {0, -1, 7, -32768}, {0, 16, 3, 1});
  ExpectUnary<uint64_t>(OpCode::population_count, {~uint64_t{0}, 5}, {64, 2});
}

TEST(ElementwiseKnownValues, InverseTrigAndFriends) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  ExpectUnary<double>(OpCode::asin, {0.5, 2.0}, {std::asin(0.5), nan});
  ExpectUnary<double>(OpCode::acosh, {1.0, 0.5}, {0.0, nan});
  ExpectUnary<double>(OpCode::atanh, {1.0, -1.0, 2.0}, {inf, -inf, nan});
  ExpectUnary<double>(OpCode::cbrt, {-27.0, 8.0, 0.0}, {-std::pow(27.0, 1.0 / 3), std::pow(8.0, 1.0 / 3), 0.0});
  ExpectUnary<double>(OpCode::erfc, {0.0, 10.0}, {1.0, std::erfc(10.0)});
  // Nx.erf_inv(0.5204998778130465) == 0.5000000069276399 (its approximation).
  ExpectUnary<double>(OpCode::erf_inv, {0.5204998778130465, 1.0, -1.0, 0.0, 1.5},
                      {0.5000000069276399, inf, -inf, 0.0, nan});
}

TEST(ElementwiseKnownValues, OpsOutsideTheirFamilyAreInternalErrors) {
  const std::vector<float> a(4, 1.0f);
  std::vector<float> out(4);
  EXPECT_EQ(Binary(OpCode::negate, DType::kF32, AsBytes(a), AsBytes(a), std::as_writable_bytes(std::span(out)), nullptr)
                .code(),
            ErrorCode::kInternal);
  EXPECT_EQ(Unary(OpCode::add, DType::kF32, AsBytes(a), std::as_writable_bytes(std::span(out)), nullptr).code(),
            ErrorCode::kInternal);
}

TEST(ElementwiseKnownValues, SimdKernelsExistForTheFloatHotPaths) {
  for (OpCode op : {OpCode::add, OpCode::multiply, OpCode::exp, OpCode::sin, OpCode::round}) {
    EXPECT_TRUE(HasSimdKernel(op, DType::kF32)) << GetOpInfo(op).name;
    EXPECT_TRUE(HasSimdKernel(op, DType::kF64)) << GetOpInfo(op).name;
    EXPECT_TRUE(HasSimdKernel(op, DType::kBF16)) << GetOpInfo(op).name;
  }
  EXPECT_FALSE(HasSimdKernel(OpCode::add, DType::kS32));
  EXPECT_FALSE(HasSimdKernel(OpCode::pow, DType::kF32));
}

}  // namespace
}  // namespace pelemay::kernels

namespace pelemay::kernels {
namespace {

TEST(ElementwiseKnownValues, FloatPowWithNaNIsNaNAsInNx) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  ExpectBinary<float>(OpCode::pow, {1.0f, nan, 2.0f}, {nan, 0.0f, 3.0f}, {nan, nan, 8.0f});
}

}  // namespace
}  // namespace pelemay::kernels
