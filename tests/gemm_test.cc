// Gemm against GemmReference: every dtype, empty and odd shapes, shapes that
// cross the cache-block boundaries (KC, NC) and the micro-tile edges (MR,
// NR), batches, every compiled SIMD target, and a thread pool.
#include "executor/kernels/gemm.h"

#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "executor/core/dtype.h"
#include "executor/core/thread_pool.h"
#include "executor/kernels/simd_targets.h"

namespace pelemay::kernels {
namespace {

struct Shape4 {
  int64_t batch, m, n, k;
};

std::string ToString(const Shape4& s) {
  return "batch=" + std::to_string(s.batch) + " m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) +
         " k=" + std::to_string(s.k);
}

// Empty operands, single elements, odd sizes, exact and cut micro-tiles
// (MR is 4, 6 or 12 and NR 2..32 floats depending on the target), k across
// KC (256 f32, 128 f64), n across NC (512), skinny n (the dot-product path)
// and a single row panel (B read in place).
const std::vector<Shape4> kShapes = {
    {1, 0, 5, 3},    {1, 4, 0, 3},    {1, 3, 4, 0},     {0, 3, 4, 5},    {1, 1, 1, 1},
    {1, 1, 17, 9},   {1, 9, 1, 9},    {1, 7, 13, 5},    {1, 33, 65, 17}, {3, 5, 9, 7},
    {2, 12, 32, 64}, {1, 24, 64, 33}, {1, 13, 33, 300}, {1, 3, 600, 40}, {2, 25, 530, 270},
    {4, 2, 3, 1},    {2, 6, 16, 0},   {2, 20, 1, 300},  {1, 3, 4, 70},   {1, 11, 96, 20},
};

int64_t Count(int64_t x, int64_t y, int64_t z) { return x * y * z; }

template <class T>
T RandomValue(std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  if constexpr (kIsInt<T>) {
    return static_cast<T>(rng());  // the whole range: products and sums wrap
  } else if constexpr (kIsComplex<T>) {
    using R = typename T::value_type;
    return T(static_cast<R>(u(rng)), static_cast<R>(u(rng)));
  } else if constexpr (kIsHalf<T>) {
    return T(static_cast<float>(u(rng)));
  } else {
    return static_cast<T>(u(rng));
  }
}

std::vector<std::byte> Random(DType dtype, int64_t count, uint64_t seed) {
  std::vector<std::byte> bytes(static_cast<size_t>(count) * DTypeSize(dtype));
  std::mt19937_64 rng(seed);
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = reinterpret_cast<T*>(bytes.data());
    for (int64_t i = 0; i < count; ++i) p[i] = RandomValue<T>(rng);
  });
  return bytes;
}

// Unit roundoff of the type results are stored in.
template <class T>
double Epsilon() {
  if constexpr (std::is_same_v<T, f16>) return std::ldexp(1.0, -11);
  if constexpr (std::is_same_v<T, bf16>) return std::ldexp(1.0, -8);
  if constexpr (kIsComplex<T>) return std::numeric_limits<typename T::value_type>::epsilon();
  if constexpr (std::is_floating_point_v<T>) return std::numeric_limits<T>::epsilon();
  return 0;
}

template <class T>
double AsDouble(T v) {
  if constexpr (kIsHalf<T>) {
    return static_cast<float>(v);
  } else {
    return static_cast<double>(v);
  }
}

// Integers must match exactly. Floating results may differ by the rounding
// of two different summation orders: each of k terms (|a|, |b| <= 1)
// contributes about one unit roundoff of a sum of size up to k. Halves
// accumulate in f32 and round once, so they may differ by one unit of the
// half type.
void ExpectNear(DType dtype, int64_t k, std::span<const std::byte> got, std::span<const std::byte> want) {
  ASSERT_EQ(got.size(), want.size());
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* g = reinterpret_cast<const T*>(got.data());
    const T* w = reinterpret_cast<const T*>(want.data());
    const size_t count = got.size() / sizeof(T);
    int failures = 0;
    for (size_t i = 0; i < count && failures < 5; ++i) {
      if constexpr (kIsInt<T>) {
        if (g[i] != w[i]) {
          ++failures;
          ADD_FAILURE() << "element " << i << ": got " << +g[i] << ", want " << +w[i];
        }
      } else {
        double diff, mag;
        if constexpr (kIsComplex<T>) {
          diff = std::abs(std::complex<double>(g[i]) - std::complex<double>(w[i]));
          mag = std::abs(std::complex<double>(w[i]));
        } else {
          diff = std::abs(AsDouble(g[i]) - AsDouble(w[i]));
          mag = std::abs(AsDouble(w[i]));
        }
        const double tol =
            kIsHalf<T> ? 2 * Epsilon<T>() * (1 + mag) + 1e-5 * (k + 1) : 4 * Epsilon<T>() * (k + 1) * (1 + mag);
        if (!(diff <= tol)) {
          ++failures;
          ADD_FAILURE() << "element " << i << ": |got - want| = " << diff << " > " << tol;
        }
      }
    }
  });
}

constexpr DType kAllDTypes[] = {
    DType::kS8,  DType::kS16, DType::kS32,  DType::kS64, DType::kU8,  DType::kU16, DType::kU32,
    DType::kU64, DType::kF16, DType::kBF16, DType::kF32, DType::kF64, DType::kC64, DType::kC128,
};

// Runs Gemm and GemmReference on random operands and compares them. The
// output starts as 0xFF bytes (NaN for floats) so every element must be
// written, including the zeros of k == 0.
void CheckShape(DType dtype, const Shape4& s, ThreadPool* pool, uint64_t seed) {
  SCOPED_TRACE(std::string(DTypeName(dtype)) + " " + ToString(s));
  const auto a = Random(dtype, Count(s.batch, s.m, s.k), seed);
  const auto b = Random(dtype, Count(s.batch, s.k, s.n), seed + 1);
  const size_t c_bytes = static_cast<size_t>(Count(s.batch, s.m, s.n)) * DTypeSize(dtype);
  std::vector<std::byte> got(c_bytes, std::byte{0xff});
  std::vector<std::byte> want(c_bytes, std::byte{0x5a});
  Gemm(dtype, s.batch, s.m, s.n, s.k, a, b, got, pool);
  GemmReference(dtype, s.batch, s.m, s.n, s.k, a, b, want);
  ExpectNear(dtype, s.k, got, want);
}

TEST(GemmTest, EveryDTypeAndShapeMatchesReference) {
  for (DType dtype : kAllDTypes)
    for (const Shape4& s : kShapes) CheckShape(dtype, s, nullptr, 42);
}

// The floating types run Highway kernels: check each one compiled in (on x86
// AVX3, AVX2, SSE4, SSSE3, EMU128), not only the best for this machine.
TEST(GemmTest, FloatKernelsMatchReferenceOnEveryTarget) {
  ForEachTarget([](const std::string& target) {
    SCOPED_TRACE("target " + target);
    for (DType dtype : {DType::kF32, DType::kF64, DType::kF16, DType::kBF16})
      for (const Shape4& s : kShapes) CheckShape(dtype, s, nullptr, 7);
  });
}

TEST(GemmTest, KZeroGivesZeros) {
  for (DType dtype : kAllDTypes) {
    SCOPED_TRACE(std::string(DTypeName(dtype)));
    const size_t bytes = 3 * 5 * DTypeSize(dtype);
    std::vector<std::byte> c(bytes, std::byte{0xff});
    Gemm(dtype, 1, 3, 5, 0, {}, {}, c, nullptr);
    EXPECT_EQ(c, std::vector<std::byte>(bytes, std::byte{0}));
  }
}

TEST(GemmTest, SmallIntegersAreExact) {
  // 2x3 * 3x2 by hand, signed values.
  const int32_t a[] = {1, -2, 3, 4, 5, -6};
  const int32_t b[] = {7, 8, 9, 10, -11, 12};
  int32_t c[4] = {};
  Gemm(DType::kS32, 1, 2, 2, 3, std::as_bytes(std::span(a)), std::as_bytes(std::span(b)),
       std::as_writable_bytes(std::span(c)), nullptr);
  EXPECT_EQ(c[0], 1 * 7 - 2 * 9 - 3 * 11);
  EXPECT_EQ(c[1], 1 * 8 - 2 * 10 + 3 * 12);
  EXPECT_EQ(c[2], 4 * 7 + 5 * 9 + 6 * 11);
  EXPECT_EQ(c[3], 4 * 8 + 5 * 10 - 6 * 12);
}

TEST(GemmTest, IntegersWrap) {
  const int8_t a[] = {100, 100};
  const int8_t b[] = {100, 100};
  int8_t c[1] = {};
  Gemm(DType::kS8, 1, 1, 1, 2, std::as_bytes(std::span(a)), std::as_bytes(std::span(b)),
       std::as_writable_bytes(std::span(c)), nullptr);
  EXPECT_EQ(c[0], static_cast<int8_t>(20000 % 256));
}

// Shapes big enough to split: rows across threads, B panels across threads
// when there are fewer row panels than threads, whole matrices of a batch,
// and the rows of a skinny product.
TEST(GemmTest, ThreadPoolMatchesReference) {
  const std::vector<Shape4> shapes = {
      {1, 130, 260, 300}, {1, 61, 600, 280}, {5, 9, 17, 11}, {3, 40, 70, 90}, {1, 1, 700, 300}, {1, 3000, 2, 700},
  };
  for (unsigned threads : {2u, 8u}) {
    ThreadPool pool(threads);
    SCOPED_TRACE("threads " + std::to_string(threads));
    for (DType dtype : kAllDTypes)
      for (const Shape4& s : shapes) CheckShape(dtype, s, &pool, 99);
  }
}

}  // namespace
}  // namespace pelemay::kernels
