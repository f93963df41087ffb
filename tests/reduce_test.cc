// Reductions (sum, product, reduce_max, reduce_min) and argmax/argmin.
//   * Reduce against ReduceReference for every dtype the catalogue accepts,
//     scalar / empty / 3-D / large shapes, every subset of axes, on every
//     compiled Highway target and through a thread pool.
//   * Reduce against an independent row-major oracle written here (the
//     reference shares the axis decomposition with the kernel).
//   * Known values: integer wraparound, f64 accumulation of f32 sums, NaN,
//     empty-reduction identities; argmax/argmin tie breaks and the
//     Nx.BinaryBackend NaN quirk.
#include "executor/kernels/reduce.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/test_values.h"

#include "executor/core/dtype.h"
#include "executor/core/half.h"
#include "executor/core/shape.h"
#include "executor/core/thread_pool.h"
#include "executor/kernels/simd_targets.h"
#include "executor/ops/op_catalogue.h"

namespace pelemay::kernels {
namespace {

using namespace pelemay::testing;  // NOLINT(google-build-using-namespace)

template <class T>
double AsDouble(T v) {
  if constexpr (kIsHalf<T>) return static_cast<float>(v);
  else return static_cast<double>(v);
}

std::vector<std::vector<int64_t>> AllSubsets(size_t rank) {
  std::vector<std::vector<int64_t>> out;
  for (uint32_t mask = 0; mask < (1u << rank); ++mask) {
    std::vector<int64_t> axes;
    for (size_t i = 0; i < rank; ++i)
      if (mask & (1u << i)) axes.push_back(static_cast<int64_t>(i));
    out.push_back(axes);
  }
  return out;
}

Shape ReducedShape(const Shape& shape, const std::vector<int64_t>& axes) {
  Shape out;
  for (size_t i = 0; i < shape.size(); ++i)
    if (std::find(axes.begin(), axes.end(), static_cast<int64_t>(i)) == axes.end()) out.push_back(shape[i]);
  return out;
}

int64_t Count(const Shape& s) { return *ElementCount(s); }

std::string ShapeAxes(const Shape& shape, const std::vector<int64_t>& axes) {
  return "shape " + ShapeString(shape) + " axes " + ShapeString(axes);
}

// Inputs: products stay near 1 so long products neither overflow nor vanish;
// max/min see a NaN now and then (one element in 997).
std::vector<std::byte> MakeInput(OpCode op, DType dtype, int64_t n, uint64_t seed) {
  std::vector<std::byte> bytes(static_cast<size_t>(n) * DTypeSize(dtype));
  // SplitMix64: fast and deterministic.
  uint64_t state = seed;
  auto rng = [&state]() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  auto unit = [&]() { return static_cast<double>(rng() >> 11) * 0x1p-53; };
  auto sym = [&](auto&) { return unit() * 2 - 1; };
  auto near1 = [&](auto&) { return 0.9 + unit() * 0.2; };
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = reinterpret_cast<T*>(bytes.data());
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (kIsInt<T>) {
        p[i] = static_cast<T>(rng());
      } else if constexpr (kIsComplex<T>) {
        using R = typename T::value_type;
        if (op == OpCode::product) {
          const double ang = sym(rng) * 3.14159;
          const double mag = near1(rng);
          p[i] = T(static_cast<R>(mag * std::cos(ang)), static_cast<R>(mag * std::sin(ang)));
        } else {
          p[i] = T(static_cast<R>(sym(rng)), static_cast<R>(sym(rng)));
        }
      } else {
        double x = op == OpCode::product ? near1(rng) * (rng() % 2 ? 1 : -1) : sym(rng) * 100;
        if ((op == OpCode::reduce_max || op == OpCode::reduce_min) && rng() % 997 == 0) x = kNaN;
        if constexpr (kIsHalf<T>) p[i] = T(static_cast<float>(x));
        else p[i] = static_cast<T>(x);
      }
    }
  });
  return bytes;
}

// Sum of |x| over the same axes (in double): the scale of rounding errors.
std::vector<double> AbsSums(DType dtype, const Shape& shape, const std::vector<int64_t>& axes,
                            std::span<const std::byte> in) {
  const int64_t n = Count(shape);
  std::vector<double> abs(static_cast<size_t>(n));
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* p = reinterpret_cast<const T*>(in.data());
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (kIsComplex<T>) abs[i] = std::abs(std::complex<double>(p[i]));
      else if constexpr (kIsInt<T>) abs[i] = 0;
      else abs[i] = std::fabs(AsDouble(p[i]));
    }
  });
  std::vector<double> out(static_cast<size_t>(Count(ReducedShape(shape, axes))));
  ReduceReference(OpCode::sum, DType::kF64, shape, axes, AsBytes(abs), AsWritable(out));
  return out;
}

template <class T>
double UlpOf(double v) {
  int e;
  std::frexp(v == 0 ? std::numeric_limits<float>::min() : v, &e);
  int mant_bits;
  if constexpr (std::is_same_v<T, f16>) mant_bits = 11;
  else if constexpr (std::is_same_v<T, bf16>) mant_bits = 8;
  else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, c64>) mant_bits = 24;
  else mant_bits = 53;
  return std::ldexp(1.0, e - mant_bits);
}

// Exact for integers, max/min and everything without SIMD; f32/f64/complex
// sums and products may differ in the order of additions, bounded by the
// number of reduced terms times the unit roundoff of the accumulator times
// the magnitudes (`scale`), plus one rounding to the output type.
void ExpectReduced(OpCode op, DType dtype, std::span<const std::byte> got, std::span<const std::byte> want,
                   const std::vector<double>& scale, int64_t terms, bool exact, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* g = reinterpret_cast<const T*>(got.data());
    const T* w = reinterpret_cast<const T*>(want.data());
    const size_t n = got.size() / sizeof(T);
    int failures = 0;
    for (size_t i = 0; i < n; ++i) {
      bool ok;
      if constexpr (kIsInt<T>) {
        ok = g[i] == w[i];
      } else if constexpr (kIsComplex<T>) {
        using R = typename T::value_type;
        const double eps = std::numeric_limits<R>::epsilon();
        const double diff = std::abs(std::complex<double>(g[i]) - std::complex<double>(w[i]));
        const double mag = op == OpCode::product ? std::abs(std::complex<double>(w[i])) : scale[i];
        ok = exact ? (g[i] == w[i]) : diff <= 4 * eps * (terms + 1) * (mag + 1e-300);
      } else {
        if (IsNaNValue(w[i])) {
          ok = IsNaNValue(g[i]);
        } else if (exact) {
          ok = AsDouble(g[i]) == AsDouble(w[i]);
        } else {
          const double diff = std::fabs(AsDouble(g[i]) - AsDouble(w[i]));
          const double mag = op == OpCode::product ? std::fabs(AsDouble(w[i])) : scale[i];
          // Accumulation is in f64 for every real float type.
          ok = diff <= UlpOf<T>(AsDouble(w[i])) + 4 * (terms + 1) * 0x1p-53 * mag;
        }
      }
      if (!ok && failures++ < 5)
        ADD_FAILURE() << what << " element " << i << ": got " << Show(g[i]) << ", want " << Show(w[i]);
    }
  });
}

struct ShapeCase {
  Shape shape;
  std::vector<std::vector<int64_t>> axes_sets;
};

std::vector<ShapeCase> Shapes() {
  return {
      {{}, {{}}},
      {{0}, AllSubsets(1)},
      {{5}, AllSubsets(1)},
      {{3, 0, 2}, AllSubsets(3)},
      {{2, 3, 4}, AllSubsets(3)},
      {{1, 37, 1}, AllSubsets(3)},
      {{1000, 77}, AllSubsets(2)},
      {{3, 5, 2, 7}, AllSubsets(4)},
  };
}

bool IsReduce(const OpInfo& info) { return info.family == OpFamily::kReduce; }

// Whether the SIMD path may legitimately differ from the reference: only
// f32/f64 sums have SIMD row kernels (different addition order); the rest are
// the same scalar code on every target.
bool MayReorder(OpCode op, DType dtype) { return op == OpCode::sum && (dtype == DType::kF32 || dtype == DType::kF64); }

// Runs Reduce (on every compiled target, or once through `pool`) and
// compares it with ReduceReference.
void CheckAgainstReference(const OpInfo& info, DType dtype, const Shape& shape, const std::vector<int64_t>& axes,
                           ThreadPool* pool) {
  const std::string what = std::string(info.name) + " " + std::string(DTypeName(dtype)) + " " + ShapeAxes(shape, axes) +
                           (pool ? " pool" : "");
  const int64_t n = Count(shape);
  const auto in = MakeInput(info.code, dtype, n, 17 + n + axes.size() * 131);
  const Shape out_shape = ReducedShape(shape, axes);
  const size_t out_bytes = static_cast<size_t>(Count(out_shape)) * DTypeSize(dtype);
  std::vector<std::byte> want(out_bytes, std::byte{0x3c});
  ReduceReference(info.code, dtype, shape, axes, in, want);
  int64_t terms = 1;
  for (int64_t a : axes) terms *= shape[a];
  const bool exact = !MayReorder(info.code, dtype);
  const auto scale = exact ? std::vector<double>(Count(out_shape), 0.0) : AbsSums(dtype, shape, axes, in);
  auto check = [&](const std::string& where) {
    // Pre-filled with garbage: every output element must be written.
    std::vector<std::byte> got(out_bytes, std::byte{0x7f});
    Reduce(info.code, dtype, shape, axes, in, got, pool);
    ExpectReduced(info.code, dtype, got, want, scale, terms, exact, what + " " + where);
  };
  if (pool != nullptr) check("best");
  else ForEachTarget([&](const std::string& target) { check("target " + target); });
}

TEST(ReduceTest, EveryOpDTypeShapeAndAxesMatchReferenceOnEveryTarget) {
  int checked = 0;
  for (const OpInfo& info : AllOps()) {
    if (!IsReduce(info)) continue;
    for (DType dtype : kAllDTypes) {
      if (!Accepts(info.dtypes, dtype)) continue;
      for (const ShapeCase& sc : Shapes())
        for (const auto& axes : sc.axes_sets) {
          CheckAgainstReference(info, dtype, sc.shape, axes, nullptr);
          ++checked;
        }
    }
  }
  EXPECT_GT(checked, 200);
}

TEST(ReduceTest, ThreadPoolMatchesReference) {
  ThreadPool pool(2);
  // Enough outer rows to split (the grain is 65536 elements of work).
  const std::vector<ShapeCase> shapes = {
      {{1000, 77}, {{1}, {0}, {0, 1}}},
      {{64, 2048}, {{1}}},
      {{40, 30, 70}, {{2}, {1}, {1, 2}, {0, 2}}},
  };
  for (const OpInfo& info : AllOps()) {
    if (!IsReduce(info)) continue;
    for (DType dtype : kAllDTypes) {
      if (!Accepts(info.dtypes, dtype)) continue;
      for (const ShapeCase& sc : shapes)
        for (const auto& axes : sc.axes_sets) CheckAgainstReference(info, dtype, sc.shape, axes, &pool);
    }
  }
}

// ---------------------------------------------------------------------------
// An independent oracle: one pass in row-major order, each element added to
// the output element it maps to. Integers wrap in their own width; reals
// accumulate in double; NaN poisons max/min.
template <class T>
std::vector<T> Oracle(OpCode op, const Shape& shape, const std::vector<int64_t>& axes, const std::vector<T>& in) {
  using A = std::conditional_t<kIsInt<T>, T, double>;
  const Shape out_shape = ReducedShape(shape, axes);
  const auto out_strides = Strides(out_shape);
  const int64_t out_n = Count(out_shape);
  A init;
  if (op == OpCode::sum) init = A(0);
  else if (op == OpCode::product) init = A(1);
  else if constexpr (kIsInt<T>)
    init = op == OpCode::reduce_max ? std::numeric_limits<T>::min() : std::numeric_limits<T>::max();
  else init = op == OpCode::reduce_max ? -kInf : kInf;
  std::vector<A> acc(static_cast<size_t>(out_n), init);
  std::vector<int64_t> idx(shape.size(), 0);
  for (size_t flat = 0; flat < in.size(); ++flat) {
    int64_t o = 0;
    for (size_t d = 0, od = 0; d < shape.size(); ++d) {
      if (std::find(axes.begin(), axes.end(), static_cast<int64_t>(d)) != axes.end()) continue;
      o += idx[d] * out_strides[od++];
    }
    A v;
    if constexpr (kIsInt<T>) v = in[flat];
    else v = AsDouble(in[flat]);
    A& a = acc[static_cast<size_t>(o)];
    if constexpr (kIsInt<T>) {
      const uint64_t ua = static_cast<uint64_t>(a), uv = static_cast<uint64_t>(v);
      if (op == OpCode::sum) a = static_cast<T>(ua + uv);
      else if (op == OpCode::product) a = static_cast<T>(ua * uv);
      else if (op == OpCode::reduce_max) a = std::max(a, v);
      else a = std::min(a, v);
    } else {
      if (op == OpCode::sum) a += v;
      else if (op == OpCode::product) a *= v;
      else if (std::isnan(a) || std::isnan(v)) a = kNaN;
      else if (op == OpCode::reduce_max) a = std::max(a, v);
      else a = std::min(a, v);
    }
    for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  std::vector<T> out;
  for (A a : acc) {
    if constexpr (kIsHalf<T>) out.push_back(T(static_cast<float>(a)));
    else out.push_back(static_cast<T>(a));
  }
  return out;
}

template <class T>
void CheckOracle(OpCode op, const Shape& shape, const std::vector<int64_t>& axes, ThreadPool* pool) {
  const DType dtype = DTypeOf<T>::value;
  const std::string what =
      std::string(GetOpInfo(op).name) + " " + std::string(DTypeName(dtype)) + " " + ShapeAxes(shape, axes);
  const auto bytes = MakeInput(op, dtype, Count(shape), 5 + shape.size() + axes.size());
  std::vector<T> in(static_cast<size_t>(Count(shape)));
  if (!in.empty()) std::memcpy(in.data(), bytes.data(), bytes.size());  // memcpy(nullptr, ..., 0) is UB
  const std::vector<T> want = Oracle<T>(op, shape, axes, in);
  std::vector<T> got(want.size());
  Reduce(op, dtype, shape, axes, bytes, AsWritable(got), pool);
  int64_t terms = 1;
  for (int64_t a : axes) terms *= shape[a];
  const bool exact = kIsInt<T> || op == OpCode::reduce_max || op == OpCode::reduce_min;
  const auto scale = exact ? std::vector<double>(want.size(), 0.0) : AbsSums(dtype, shape, axes, bytes);
  ExpectReduced(op, dtype, AsBytes(got), AsBytes(want), scale, terms, exact, what);
}

TEST(ReduceTest, MatchesRowMajorOracle) {
  ThreadPool pool(2);
  const std::vector<ShapeCase> shapes = {
      {{2, 3, 4}, AllSubsets(3)},  {{3, 0, 2}, AllSubsets(3)}, {{3, 5, 2, 7}, AllSubsets(4)},
      {{1000, 77}, AllSubsets(2)}, {{7}, AllSubsets(1)},       {{}, {{}}},
  };
  for (const auto& sc : shapes)
    for (const auto& axes : sc.axes_sets)
      for (OpCode op : {OpCode::sum, OpCode::product, OpCode::reduce_max, OpCode::reduce_min})
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
          CheckOracle<int8_t>(op, sc.shape, axes, p);
          CheckOracle<uint16_t>(op, sc.shape, axes, p);
          CheckOracle<int32_t>(op, sc.shape, axes, p);
          CheckOracle<uint64_t>(op, sc.shape, axes, p);
          CheckOracle<int64_t>(op, sc.shape, axes, p);
          CheckOracle<float>(op, sc.shape, axes, p);
          CheckOracle<double>(op, sc.shape, axes, p);
          CheckOracle<f16>(op, sc.shape, axes, p);
          CheckOracle<bf16>(op, sc.shape, axes, p);
        }
}

// ---------------------------------------------------------------------------
// Known values, on every target.

template <class T>
bool SameValue(T got, T want) {
  if constexpr (kIsComplex<T>) {
    return got == want;
  } else if constexpr (kIsInt<T>) {
    return got == want;
  } else {
    if (IsNaNValue(want)) return IsNaNValue(got);
    uint64_t g = 0, w = 0;
    if constexpr (kIsHalf<T>) g = got.bits, w = want.bits;
    else std::memcpy(&g, &got, sizeof(T)), std::memcpy(&w, &want, sizeof(T));
    return g == w;  // -0.0 differs from +0.0
  }
}

template <class T>
void ExpectReduce(OpCode op, const Shape& shape, std::vector<int64_t> axes, const std::vector<T>& in,
                  const std::vector<T>& want) {
  const DType dtype = DTypeOf<T>::value;
  const std::string what =
      std::string(GetOpInfo(op).name) + " " + std::string(DTypeName(dtype)) + " " + ShapeAxes(shape, axes);
  ASSERT_EQ(static_cast<int64_t>(in.size()), Count(shape)) << what;
  ASSERT_EQ(static_cast<int64_t>(want.size()), Count(ReducedShape(shape, axes))) << what;
  auto check = [&](const std::vector<T>& got, const std::string& where) {
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_TRUE(SameValue(got[i], want[i]))
          << what << " " << where << " element " << i << ": got " << Show(got[i]) << ", want " << Show(want[i]);
  };
  std::vector<T> got(want.size());
  ReduceReference(op, dtype, shape, axes, AsBytes(in), AsWritable(got));
  check(got, "reference");
  ThreadPool pool(2);
  ForEachTarget([&](const std::string& target) {
    std::vector<T> g(want.size());
    Reduce(op, dtype, shape, axes, AsBytes(in), AsWritable(g), nullptr);
    check(g, target);
    std::vector<T> gp(want.size());
    Reduce(op, dtype, shape, axes, AsBytes(in), AsWritable(gp), &pool);
    check(gp, target + " pool");
  });
}

TEST(ReduceKnownValues, IntegerSumsAndProductsWrap) {
  ExpectReduce<int8_t>(OpCode::sum, {3}, {0}, {100, 100, 100}, {44});
  ExpectReduce<uint8_t>(OpCode::sum, {2}, {0}, {200, 100}, {44});
  ExpectReduce<int32_t>(OpCode::sum, {2}, {0}, {INT32_MAX, 1}, {INT32_MIN});
  ExpectReduce<int64_t>(OpCode::sum, {3}, {0}, {INT64_MAX, INT64_MAX, 2}, {0});
  ExpectReduce<uint64_t>(OpCode::sum, {2}, {0}, {UINT64_MAX, 2}, {1});
  ExpectReduce<int8_t>(OpCode::product, {2}, {0}, {16, 16}, {0});
  ExpectReduce<uint8_t>(OpCode::product, {6}, {0}, {3, 3, 3, 3, 3, 3}, {217});  // 729 mod 256
  ExpectReduce<int16_t>(OpCode::product, {3}, {0}, {-1, 256, 200}, {-51200 + 65536});
  // 2x3 by hand: rows and columns.
  ExpectReduce<int32_t>(OpCode::sum, {2, 3}, {1}, {1, 2, 3, 4, 5, 6}, {6, 15});
  ExpectReduce<int32_t>(OpCode::sum, {2, 3}, {0}, {1, 2, 3, 4, 5, 6}, {5, 7, 9});
  ExpectReduce<int32_t>(OpCode::sum, {2, 3}, {0, 1}, {1, 2, 3, 4, 5, 6}, {21});
  ExpectReduce<int32_t>(OpCode::reduce_max, {2, 3}, {0}, {1, 9, 3, 4, 5, -6}, {4, 9, 3});
  ExpectReduce<uint32_t>(OpCode::reduce_min, {2, 3}, {1}, {7, 0xffffffffu, 3, 4, 5, 6}, {3, 4});
}

TEST(ReduceKnownValues, FloatSumsAccumulateInF64) {
  // 1M ones: exact.
  ExpectReduce<float>(OpCode::sum, {1000000}, {0}, std::vector<float>(1000000, 1.0f), {1e6f});
  // 2^24 + 1000 ones: f32 accumulation would stay at 2^24.
  std::vector<float> big(1001, 1.0f);
  big[0] = 16777216.0f;
  ExpectReduce<float>(OpCode::sum, {1001}, {0}, big, {16778216.0f});
  // 1M * 0.1f in f64 is 100000.0015; f32 accumulation drifts to ~100958.
  ExpectReduce<float>(OpCode::sum, {1000000}, {0}, std::vector<float>(1000000, 0.1f), {100000.0f});
  // Halves too: 3000 ones in f16 (f16 accumulation would stop at 2048).
  ExpectReduce<f16>(OpCode::sum, {3000}, {0}, std::vector<f16>(3000, f16(1.0f)), {f16(3000.0f)});
  ExpectReduce<bf16>(OpCode::sum, {300}, {0}, std::vector<bf16>(300, bf16(1.0f)), {bf16(300.0f)});
  // f16 results round once from the f64 sum, as Nx writes them: 1 + 2^-11 +
  // 2^-24 is just above the tie between 1 and 1 + 2^-10 (rounding through
  // f32 first would make it the tie, and give 1).
  const float tiny = std::ldexp(1.0f, -24);
  ExpectReduce<f16>(OpCode::sum, {3}, {0}, {f16(1.0f), f16(std::ldexp(1.0f, -11)), f16(tiny)},
                    {f16(1.0f + std::ldexp(1.0f, -10))});
  // A sum is never -0.0 (it starts at +0), as Nx.
  ExpectReduce<float>(OpCode::sum, {3}, {0}, {-0.0f, -0.0f, -0.0f}, {0.0f});
  ExpectReduce<double>(OpCode::sum, {100}, {0}, std::vector<double>(100, -0.0), {0.0});
  // Column sums (strided path) of the same large data.
  ExpectReduce<double>(OpCode::sum, {4, 2}, {0}, {1, 2, 3, 4, 5, 6, 7, 8}, {16.0, 20.0});
  ExpectReduce<float>(OpCode::sum, {1001, 2}, {0},
                      [] {
                        std::vector<float> v(2002, 1.0f);
                        v[0] = v[1] = 16777216.0f;
                        return v;
                      }(),
                      {16778216.0f, 16778216.0f});
  ExpectReduce<float>(OpCode::sum, {3}, {0}, {kInff, 1.0f, -kInff}, {kNaNf});
  ExpectReduce<double>(OpCode::product, {3}, {0}, {2.0, -0.5, 4.0}, {-4.0});
  ExpectReduce<c64>(OpCode::product, {2}, {0}, {c64(1, 2), c64(3, 4)}, {c64(-5, 10)});
  ExpectReduce<c128>(OpCode::sum, {2, 2}, {1}, {c128(1, 2), c128(3, 4), c128(-1, 0), c128(0, -1)},
                     {c128(4, 6), c128(-1, -1)});
}

TEST(ReduceKnownValues, MaxMinWithNaNAndInfinities) {
  for (size_t pos : {0u, 1u, 16u, 99u}) {
    std::vector<float> v(100, 1.0f);
    v[pos] = kNaNf;
    ExpectReduce<float>(OpCode::reduce_max, {100}, {0}, v, {kNaNf});
    ExpectReduce<float>(OpCode::reduce_min, {100}, {0}, v, {kNaNf});
  }
  ExpectReduce<double>(OpCode::reduce_max, {2, 2}, {0}, {kNaN, 1.0, 2.0, 3.0}, {kNaN, 3.0});
  ExpectReduce<double>(OpCode::reduce_min, {2, 2}, {1}, {kNaN, 1.0, 2.0, 3.0}, {kNaN, 2.0});
  ExpectReduce<f16>(OpCode::reduce_max, {3}, {0}, {f16(1.0f), f16(kNaNf), f16(2.0f)}, {f16(kNaNf)});
  ExpectReduce<bf16>(OpCode::reduce_min, {3}, {0}, {bf16(1.0f), bf16(-kInff), bf16(2.0f)}, {bf16(-kInff)});
  ExpectReduce<float>(OpCode::reduce_max, {3}, {0}, {-kInff, -kInff, -kInff}, {-kInff});
  ExpectReduce<int8_t>(OpCode::reduce_min, {3}, {0}, {-128, 127, 0}, {-128});
  ExpectReduce<uint64_t>(OpCode::reduce_max, {2}, {0}, {UINT64_MAX, 0}, {UINT64_MAX});
}

TEST(ReduceKnownValues, EmptyReductionsGiveIdentities) {
  ExpectReduce<float>(OpCode::sum, {0}, {0}, {}, {0.0f});
  ExpectReduce<float>(OpCode::product, {0}, {0}, {}, {1.0f});
  ExpectReduce<float>(OpCode::reduce_max, {0}, {0}, {}, {-kInff});
  ExpectReduce<float>(OpCode::reduce_min, {0}, {0}, {}, {kInff});
  ExpectReduce<double>(OpCode::reduce_max, {0}, {0}, {}, {-kInf});
  ExpectReduce<f16>(OpCode::reduce_max, {0}, {0}, {}, {f16(-kInff)});
  ExpectReduce<bf16>(OpCode::reduce_min, {0}, {0}, {}, {bf16(kInff)});
  ExpectReduce<int8_t>(OpCode::reduce_max, {0}, {0}, {}, {-128});
  ExpectReduce<int8_t>(OpCode::reduce_min, {0}, {0}, {}, {127});
  ExpectReduce<uint16_t>(OpCode::reduce_max, {0}, {0}, {}, {0});
  ExpectReduce<uint16_t>(OpCode::reduce_min, {0}, {0}, {}, {65535});
  ExpectReduce<int64_t>(OpCode::reduce_min, {0}, {0}, {}, {INT64_MAX});
  ExpectReduce<int32_t>(OpCode::sum, {0}, {0}, {}, {0});
  ExpectReduce<uint32_t>(OpCode::product, {0}, {0}, {}, {1});
  ExpectReduce<c64>(OpCode::product, {0}, {0}, {}, {c64(1, 0)});
  ExpectReduce<c128>(OpCode::sum, {0}, {0}, {}, {c128(0, 0)});
  // A zero-size middle axis: every output element is the identity.
  ExpectReduce<int32_t>(OpCode::reduce_max, {3, 0, 2}, {1}, {}, std::vector<int32_t>(6, INT32_MIN));
  ExpectReduce<float>(OpCode::product, {3, 0, 2}, {0, 1}, {}, std::vector<float>(2, 1.0f));
  ExpectReduce<double>(OpCode::sum, {3, 0, 2}, {1, 2}, {}, std::vector<double>(3, 0.0));
  // Nothing to write when the result is empty.
  ExpectReduce<float>(OpCode::sum, {3, 0, 2}, {0}, {}, {});
}

TEST(ReduceKnownValues, ScalarAndNoAxesCopy) {
  ExpectReduce<float>(OpCode::sum, {}, {}, {-0.0f}, {-0.0f});
  ExpectReduce<int8_t>(OpCode::product, {2, 2}, {}, {1, 2, 3, 4}, {1, 2, 3, 4});
}

// ---------------------------------------------------------------------------
// argmax / argmin.

template <class T, class I = int64_t>
std::vector<I> Arg(OpCode op, const Shape& shape, std::optional<int64_t> axis, bool high, const std::vector<T>& in) {
  Shape out_shape;
  if (axis) {
    for (size_t i = 0; i < shape.size(); ++i)
      if (static_cast<int64_t>(i) != *axis) out_shape.push_back(shape[i]);
  }
  std::vector<I> out(static_cast<size_t>(Count(out_shape)), I(99));
  ArgReduce(op, DTypeOf<T>::value, DTypeOf<I>::value, shape, axis, high, AsBytes(in), AsWritable(out));
  return out;
}

TEST(ArgReduceTest, TieBreakLowAndHigh) {
  const std::vector<int32_t> v = {3, 1, 3, 2, 1};
  EXPECT_EQ(Arg(OpCode::argmax, {5}, 0, false, v), std::vector<int64_t>{0});
  EXPECT_EQ(Arg(OpCode::argmax, {5}, 0, true, v), std::vector<int64_t>{2});
  EXPECT_EQ(Arg(OpCode::argmin, {5}, 0, false, v), std::vector<int64_t>{1});
  EXPECT_EQ(Arg(OpCode::argmin, {5}, 0, true, v), std::vector<int64_t>{4});
  // Signed zeros are equal: a tie.
  const std::vector<float> z = {-0.0f, 0.0f};
  EXPECT_EQ(Arg(OpCode::argmax, {2}, 0, false, z), std::vector<int64_t>{0});
  EXPECT_EQ(Arg(OpCode::argmax, {2}, 0, true, z), std::vector<int64_t>{1});
  // Every element equal.
  EXPECT_EQ(Arg(OpCode::argmin, {4}, std::nullopt, true, std::vector<uint8_t>(4, 7)), std::vector<int64_t>{3});
  EXPECT_EQ(Arg(OpCode::argmin, {4}, std::nullopt, false, std::vector<uint8_t>(4, 7)), std::vector<int64_t>{0});
}

TEST(ArgReduceTest, NaNQuirkOfBinaryBackend) {
  // Comparisons with NaN are false: a NaN wins only as the first element.
  EXPECT_EQ(Arg(OpCode::argmax, {3}, 0, false, std::vector<float>{1, kNaNf, 3}), std::vector<int64_t>{2});
  EXPECT_EQ(Arg(OpCode::argmax, {2}, 0, false, std::vector<float>{kNaNf, 5}), std::vector<int64_t>{0});
  EXPECT_EQ(Arg(OpCode::argmin, {2}, 0, false, std::vector<double>{kNaN, -5}), std::vector<int64_t>{0});
  EXPECT_EQ(Arg(OpCode::argmin, {3}, 0, false, std::vector<double>{2, kNaN, 1}), std::vector<int64_t>{2});
  EXPECT_EQ(Arg(OpCode::argmax, {3}, 0, true, std::vector<float>{1, kNaNf, kNaNf}), std::vector<int64_t>{0});
  // With tie_break high a later NaN replaces a leading NaN (NaN == NaN in Erlang's term order).
  EXPECT_EQ(Arg(OpCode::argmax, {3}, 0, true, std::vector<float>{kNaNf, 5, kNaNf}), std::vector<int64_t>{2});
  EXPECT_EQ(Arg(OpCode::argmax, {3}, 0, false, std::vector<float>{kNaNf, 5, kNaNf}), std::vector<int64_t>{0});
  EXPECT_EQ(Arg(OpCode::argmax, {3}, 0, false, std::vector<f16>{f16(1.0f), f16(kNaNf), f16(3.0f)}),
            std::vector<int64_t>{2});
  EXPECT_EQ(Arg(OpCode::argmin, {2}, 0, false, std::vector<bf16>{bf16(kNaNf), bf16(-1.0f)}), std::vector<int64_t>{0});
  // Infinities are ordinary extremes.
  EXPECT_EQ(Arg(OpCode::argmax, {3}, 0, false, std::vector<float>{-kInff, kInff, 1}), std::vector<int64_t>{1});
  EXPECT_EQ(Arg(OpCode::argmin, {3}, 0, false, std::vector<float>{1, kInff, -kInff}), std::vector<int64_t>{2});
}

TEST(ArgReduceTest, FlattenedIndexWithoutAxis) {
  // 2x3 with the max at (1, 2) and the min at (0, 1).
  const std::vector<int16_t> v = {5, -7, 2, 0, 3, 9};
  EXPECT_EQ(Arg(OpCode::argmax, {2, 3}, std::nullopt, false, v), std::vector<int64_t>{5});
  EXPECT_EQ(Arg(OpCode::argmin, {2, 3}, std::nullopt, false, v), std::vector<int64_t>{1});
  // A scalar has index 0.
  EXPECT_EQ(Arg(OpCode::argmax, {}, std::nullopt, false, std::vector<double>{4.0}), std::vector<int64_t>{0});
  EXPECT_EQ(Arg(OpCode::argmax, {2, 2}, 0, false, std::vector<uint64_t>{UINT64_MAX, 0, 1, 2}),
            (std::vector<int64_t>{0, 1}));
}

TEST(ArgReduceTest, AxisInTheMiddleOf3D) {
  const Shape shape = {3, 5, 4};
  std::mt19937 rng(7);
  std::vector<float> v(60);
  for (auto& x : v) x = static_cast<float>(rng() % 11);  // many ties
  for (OpCode op : {OpCode::argmax, OpCode::argmin})
    for (bool high : {false, true}) {
      const auto got = Arg(op, shape, 1, high, v);
      ASSERT_EQ(got.size(), 12u);
      for (int i = 0; i < 3; ++i)
        for (int k = 0; k < 4; ++k) {
          int64_t best = 0;
          for (int j = 1; j < 5; ++j) {
            const float x = v[(i * 5 + j) * 4 + k], b = v[(i * 5 + best) * 4 + k];
            const bool better = op == OpCode::argmax ? x > b : x < b;
            if (better || (high && x == b)) best = j;
          }
          EXPECT_EQ(got[i * 4 + k], best) << GetOpInfo(op).name << " high=" << high << " at (" << i << ", " << k << ")";
        }
      // Axis 0 and 2 too, against the same brute force.
      const auto got0 = Arg(op, shape, 0, high, v);
      for (int j = 0; j < 5; ++j)
        for (int k = 0; k < 4; ++k) {
          int64_t best = 0;
          for (int i = 1; i < 3; ++i) {
            const float x = v[(i * 5 + j) * 4 + k], b = v[(best * 5 + j) * 4 + k];
            if ((op == OpCode::argmax ? x > b : x < b) || (high && x == b)) best = i;
          }
          EXPECT_EQ(got0[j * 4 + k], best);
        }
      const auto got2 = Arg(op, shape, 2, high, v);
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 5; ++j) {
          int64_t best = 0;
          for (int k = 1; k < 4; ++k) {
            const float x = v[(i * 5 + j) * 4 + k], b = v[(i * 5 + j) * 4 + best];
            if ((op == OpCode::argmax ? x > b : x < b) || (high && x == b)) best = k;
          }
          EXPECT_EQ(got2[i * 5 + j], best);
        }
    }
}

TEST(ArgReduceTest, OutputDTypes) {
  std::vector<int32_t> v(301, 0);
  v[300] = 1;
  EXPECT_EQ((Arg<int32_t, int64_t>(OpCode::argmax, {301}, 0, false, v)), std::vector<int64_t>{300});
  EXPECT_EQ((Arg<int32_t, int32_t>(OpCode::argmax, {301}, 0, false, v)), std::vector<int32_t>{300});
  // Written with wraparound, as Nx: 300 in u8 is 44.
  EXPECT_EQ((Arg<int32_t, uint8_t>(OpCode::argmax, {301}, 0, false, v)), std::vector<uint8_t>{44});
  EXPECT_EQ((Arg<int32_t, int8_t>(OpCode::argmax, {301}, std::nullopt, false, v)), std::vector<int8_t>{44});
  EXPECT_EQ((Arg<int32_t, uint16_t>(OpCode::argmin, {301}, 0, true, v)), std::vector<uint16_t>{299});
  EXPECT_EQ((Arg<double, uint64_t>(OpCode::argmin, {2, 2}, 1, false, std::vector<double>{2, 1, 0, 3})),
            (std::vector<uint64_t>{1, 0}));
}

}  // namespace
}  // namespace pelemay::kernels
