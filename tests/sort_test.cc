// sort, argsort and the cumulative ops.
//   * Known values computed with Nx.BinaryBackend (Nx 0.7.2): NaN, infinities
//     and signed zeros in both directions, stable ties, sorting along a
//     leading axis, f32 and f16 running sums whose rounding shows Nx's
//     pairwise scan order, integer wraparound, complex products.
//   * Every real dtype, every axis of 1-3-D shapes, both directions, with
//     and without the thread pool, against an oracle written here
//     (std::stable_sort; sequential scans on values whose sums are exact).
//   * Inside programs: the validator's shape and attribute rules, and its
//     rejections (missing or out-of-range axis, non-integer argsort result,
//     complex min/max scans, an attribute the op does not take).
#include "executor/kernels/sort.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/program_builder.h"
#include "tests/test_values.h"

#include "executor/core/dtype.h"
#include "executor/core/half.h"
#include "executor/core/shape.h"
#include "executor/core/thread_pool.h"
#include "executor/kernels/scalar_ops.h"
#include "executor/validate/validator.h"

namespace pelemay::kernels {
namespace {

using namespace pelemay::testing;  // NOLINT(google-build-using-namespace)

template <class T>
std::vector<T> SortOf(const std::vector<T>& x, const Shape& shape, int64_t axis, bool descending,
                      ThreadPool* pool = nullptr) {
  std::vector<T> out(x.size());
  Sort(OpCode::sort, DTypeOf<T>::value, DTypeOf<T>::value, shape, axis, descending, AsBytes(x), AsWritable(out), pool);
  return out;
}

template <class T, class Out = int64_t>
std::vector<Out> ArgsortOf(const std::vector<T>& x, const Shape& shape, int64_t axis, bool descending,
                           ThreadPool* pool = nullptr) {
  std::vector<Out> out(x.size());
  Sort(OpCode::argsort, DTypeOf<T>::value, DTypeOf<Out>::value, shape, axis, descending, AsBytes(x), AsWritable(out),
       pool);
  return out;
}

template <class T>
std::vector<T> ScanOf(OpCode op, const std::vector<T>& x, const Shape& shape, int64_t axis, bool reverse,
                      ThreadPool* pool = nullptr) {
  std::vector<T> out(x.size());
  Scan(op, DTypeOf<T>::value, shape, axis, reverse, AsBytes(x), AsWritable(out), pool);
  return out;
}

template <class T>
std::vector<uint64_t> BitsOf(const std::vector<T>& v) {
  std::vector<uint64_t> b;
  for (const T& x : v) b.push_back(Bits(x));
  return b;
}

// --- Known values (Nx.BinaryBackend) ---------------------------------------

const std::vector<float> kSpecial = {3.0F, kNaNf, -0.0F, 1.0F, kInff, 0.0F, -kInff, kNaNf, 1.0F};

TEST(SortKnown, AscendingPutsNaNLastAndKeepsEqualValuesInOrder) {
  EXPECT_EQ(ArgsortOf(kSpecial, {9}, 0, false), (std::vector<int64_t>{6, 2, 5, 3, 8, 0, 4, 1, 7}));
  const auto sorted = SortOf(kSpecial, {9}, 0, false);
  // -0.0 before 0.0: they are equal, so their input order stays.
  EXPECT_EQ(BitsOf(sorted), BitsOf(std::vector<float>{-kInff, -0.0F, 0.0F, 1, 1, 3, kInff, kNaNf, kNaNf}));
}

TEST(SortKnown, DescendingPutsNaNFirstAndIsStableToo) {
  EXPECT_EQ(ArgsortOf(kSpecial, {9}, 0, true), (std::vector<int64_t>{1, 7, 4, 0, 3, 8, 2, 5, 6}));
  const auto sorted = SortOf(kSpecial, {9}, 0, true);
  EXPECT_EQ(BitsOf(sorted), BitsOf(std::vector<float>{kNaNf, kNaNf, kInff, 3, 1, 1, -0.0F, 0.0F, -kInff}));
}

TEST(SortKnown, LeadingAxisDescendingWithTies) {
  const std::vector<int32_t> x = {3, 1, 2, 1, 1, 0};
  EXPECT_EQ(SortOf(x, {2, 3}, 0, true), (std::vector<int32_t>{3, 1, 2, 1, 1, 0}));
  EXPECT_EQ(ArgsortOf(x, {2, 3}, 0, true), (std::vector<int64_t>{0, 0, 0, 1, 1, 1}));
}

TEST(SortKnown, Bf16DescendingAndNarrowIndexTypes) {
  std::vector<bf16> x;
  for (float v : {2.0F, 1.0F, 2.0F, 1.0F, kNaNf, 2.0F}) x.emplace_back(v);
  EXPECT_EQ(ArgsortOf(x, {6}, 0, true), (std::vector<int64_t>{4, 0, 2, 5, 1, 3}));
  EXPECT_EQ((ArgsortOf<bf16, uint8_t>(x, {6}, 0, true)), (std::vector<uint8_t>{4, 0, 2, 5, 1, 3}));
  // Indices past the index type's range wrap, as Nx's conversion does.
  std::vector<int16_t> big(300);
  std::iota(big.rbegin(), big.rend(), int16_t{0});  // 299, 298, ..., 0
  const auto idx = ArgsortOf<int16_t, int8_t>(big, {300}, 0, false);
  EXPECT_EQ(idx[0], static_cast<int8_t>(299));
  EXPECT_EQ(idx[299], 0);
}

TEST(ScanKnown, F32SumFollowsNxsPairwiseOrder) {
  // Sequentially in f32 the tail would be 1, 2, 5, 5.5; in f64 1e8 + 1 would
  // survive. Nx's pairwise scan gives:
  const std::vector<float> x = {1.0e8F, 1, -1.0e8F, 1, 1, 3, 0.5F};
  EXPECT_EQ(ScanOf(OpCode::cumulative_sum, x, {7}, 0, false), (std::vector<float>{1.0e8F, 1.0e8F, 0, 0, 1, 4, 4.5F}));
  EXPECT_EQ(ScanOf(OpCode::cumulative_sum, x, {7}, 0, true),
            (std::vector<float>{8, -99999992.0F, -99999992.0F, 5.5F, 4.5F, 3.5F, 0.5F}));
}

TEST(ScanKnown, F16SumRoundsEveryStepToF16) {
  const std::vector<f16> x(11, f16(0.1F));
  const std::vector<uint64_t> want = {0x2E66, 0x3266, 0x34CC, 0x3666, 0x3800, 0x38CC,
                                      0x3999, 0x3A66, 0x3B33, 0x3C00, 0x3C66};
  EXPECT_EQ(BitsOf(ScanOf(OpCode::cumulative_sum, x, {11}, 0, false)), want);
}

TEST(ScanKnown, IntegersWrap) {
  EXPECT_EQ(ScanOf(OpCode::cumulative_sum, std::vector<int8_t>{100, 100, 100, 100}, {4}, 0, false),
            (std::vector<int8_t>{100, -56, 44, -112}));
  EXPECT_EQ(ScanOf(OpCode::cumulative_product, std::vector<uint8_t>{16, 16, 2, 3}, {4}, 0, false),
            (std::vector<uint8_t>{16, 0, 0, 0}));
}

TEST(ScanKnown, MinMaxNaNAndLeadingAxisReversed) {
  const auto m = ScanOf(OpCode::cumulative_max, std::vector<float>{1, kNaNf, 3, 0}, {4}, 0, false);
  EXPECT_EQ(m[0], 1.0F);
  for (int i = 1; i < 4; ++i) EXPECT_TRUE(std::isnan(m[i])) << i;
  EXPECT_EQ(ScanOf(OpCode::cumulative_min, std::vector<int64_t>{3, 1, 2, 5, 0, 7}, {3, 2}, 0, true),
            (std::vector<int64_t>{0, 1, 0, 5, 0, 7}));
}

TEST(ScanKnown, ComplexProduct) {
  const std::vector<c64> x = {{1, 2}, {3, -1}, {0.5F, 0.5F}};
  EXPECT_EQ(ScanOf(OpCode::cumulative_product, x, {3}, 0, false), (std::vector<c64>{{1, 2}, {5, 5}, {0, 5}}));
}

// --- Every dtype and axis against an oracle --------------------------------

template <class T>
T FromDouble(double v) {
  if constexpr (kIsHalf<T>) return T(static_cast<float>(v));
  else return static_cast<T>(v);
}

template <class T>
double ToDouble(T v) {
  if constexpr (kIsHalf<T>) return static_cast<float>(v);
  else return static_cast<double>(v);
}

// Small values with many repeats; floats also get NaN, infinities and zeros
// of both signs.
template <class T>
std::vector<T> Special(int64_t n, std::mt19937& rng) {
  std::vector<T> v(n);
  std::uniform_int_distribution<int> pick(0, 11);
  for (auto& x : v) {
    const int k = pick(rng);
    if constexpr (kIsFloat<T>) {
      const double specials[] = {kNaN, kInf, -kInf, 0.0, -0.0};
      x = k < 5 ? FromDouble<T>(specials[k]) : FromDouble<T>(k - 8);
    } else {
      x = static_cast<T>(std::is_signed_v<T> ? k - 6 : k);
    }
  }
  return v;
}

template <class T>
void CheckSortAgainstOracle(ThreadPool* pool) {
  std::mt19937 rng(7);
  for (const Shape& shape : {Shape{1}, Shape{17}, Shape{4, 9}, Shape{3, 5, 6}, Shape{2, 0, 3}, Shape{40, 300}}) {
    const auto x = Special<T>(*ElementCount(shape), rng);
    for (int64_t axis = 0; axis < static_cast<int64_t>(shape.size()); ++axis) {
      for (bool desc : {false, true}) {
        const auto sorted = SortOf(x, shape, axis, desc, pool);
        const auto idx = ArgsortOf(x, shape, axis, desc, pool);
        // Oracle: per line, std::stable_sort by class (NaN / number) and value.
        int64_t outer = 1, inner = 1;
        for (int64_t i = 0; i < axis; ++i) outer *= shape[i];
        for (size_t i = axis + 1; i < shape.size(); ++i) inner *= shape[i];
        const int64_t n = shape[axis];
        for (int64_t o = 0; o < outer; ++o) {
          for (int64_t i = 0; i < inner; ++i) {
            std::vector<int64_t> want(n);
            std::iota(want.begin(), want.end(), 0);
            auto key = [&](int64_t j) { return ToDouble(x[(o * n + j) * inner + i]); };
            std::stable_sort(want.begin(), want.end(), [&](int64_t a, int64_t b) {
              const double ka = key(a), kb = key(b);
              if (std::isnan(ka) || std::isnan(kb))
                return desc ? std::isnan(ka) && !std::isnan(kb) : std::isnan(kb) && !std::isnan(ka);
              return desc ? ka > kb : ka < kb;
            });
            for (int64_t j = 0; j < n; ++j) {
              const int64_t at = (o * n + j) * inner + i;
              ASSERT_EQ(idx[at], want[j]) << DTypeName(DTypeOf<T>::value) << " " << ShapeString(shape) << " axis "
                                          << axis << (desc ? " desc" : " asc") << " line " << o << "," << i;
              ASSERT_EQ(Bits(sorted[at]), Bits(x[(o * n + want[j]) * inner + i]));
            }
          }
        }
      }
    }
  }
}

TEST(SortOracle, EveryRealDTypeEveryAxisBothDirections) {
  ThreadPool pool(4);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    CheckSortAgainstOracle<int8_t>(p);
    CheckSortAgainstOracle<int16_t>(p);
    CheckSortAgainstOracle<int32_t>(p);
    CheckSortAgainstOracle<int64_t>(p);
    CheckSortAgainstOracle<uint8_t>(p);
    CheckSortAgainstOracle<uint16_t>(p);
    CheckSortAgainstOracle<uint32_t>(p);
    CheckSortAgainstOracle<uint64_t>(p);
    CheckSortAgainstOracle<f16>(p);
    CheckSortAgainstOracle<bf16>(p);
    CheckSortAgainstOracle<float>(p);
    CheckSortAgainstOracle<double>(p);
  }
}

// Values whose every partial sum and product is exact in the dtype, so any
// combination order gives the sequential result.
template <class T>
void CheckScanAgainstOracle(ThreadPool* pool) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> small(-2, 2);
  for (const Shape& shape :
       {Shape{1}, Shape{2}, Shape{13}, Shape{4, 9}, Shape{3, 5, 6}, Shape{2, 0, 3}, Shape{8, 600}}) {
    std::vector<T> x(*ElementCount(shape));
    for (auto& v : x) {
      int k = small(rng);
      if constexpr (std::is_unsigned_v<T>) k = k < 0 ? -k : k;
      if constexpr (kIsComplex<T>) v = T(static_cast<float>(k), 0);
      else v = FromDouble<T>(k);
    }
    for (int64_t axis = 0; axis < static_cast<int64_t>(shape.size()); ++axis) {
      for (bool reverse : {false, true}) {
        for (OpCode op :
             {OpCode::cumulative_sum, OpCode::cumulative_product, OpCode::cumulative_min, OpCode::cumulative_max}) {
          if (kIsComplex<T> && (op == OpCode::cumulative_min || op == OpCode::cumulative_max)) continue;
          // Products of up to 600 values of |v| <= 2 would overflow floats'
          // exact range: only short axes for products of floats.
          if (op == OpCode::cumulative_product && !kIsInt<T> && shape[axis] > 13) continue;
          const auto got = ScanOf(op, x, shape, axis, reverse, pool);
          int64_t outer = 1, inner = 1;
          for (int64_t i = 0; i < axis; ++i) outer *= shape[i];
          for (size_t i = axis + 1; i < shape.size(); ++i) inner *= shape[i];
          const int64_t n = shape[axis];
          for (int64_t o = 0; o < outer; ++o) {
            for (int64_t i = 0; i < inner; ++i) {
              T acc{};
              for (int64_t s = 0; s < n; ++s) {
                const int64_t j = reverse ? n - 1 - s : s;
                const T v = x[(o * n + j) * inner + i];
                if (s == 0) acc = v;
                else if (op == OpCode::cumulative_sum) acc = ref::Binary<OpCode::add, T>(acc, v);
                else if (op == OpCode::cumulative_product) acc = ref::Binary<OpCode::multiply, T>(acc, v);
                else if constexpr (!kIsComplex<T>) {
                  const bool less = ToDouble(v) < ToDouble(acc);
                  if (op == OpCode::cumulative_min ? less : ToDouble(v) > ToDouble(acc)) acc = v;
                }
                // Complex zeros compare by value: the sign of a zero
                // imaginary part depends on the order of the products.
                const T g = got[(o * n + j) * inner + i];
                ASSERT_EQ(kIsComplex<T> ? Show(g == acc ? acc : g) : Show(g), Show(acc))
                    << DTypeName(DTypeOf<T>::value) << " " << GetOpInfo(op).name << " " << ShapeString(shape)
                    << " axis " << axis << (reverse ? " reverse" : "") << " step " << s;
              }
            }
          }
        }
      }
    }
  }
}

TEST(ScanOracle, EveryDTypeEveryAxisBothDirections) {
  ThreadPool pool(4);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    CheckScanAgainstOracle<int8_t>(p);
    CheckScanAgainstOracle<int16_t>(p);
    CheckScanAgainstOracle<int32_t>(p);
    CheckScanAgainstOracle<int64_t>(p);
    CheckScanAgainstOracle<uint8_t>(p);
    CheckScanAgainstOracle<uint16_t>(p);
    CheckScanAgainstOracle<uint32_t>(p);
    CheckScanAgainstOracle<uint64_t>(p);
    CheckScanAgainstOracle<double>(p);
    CheckScanAgainstOracle<float>(p);
    CheckScanAgainstOracle<c64>(p);
    CheckScanAgainstOracle<c128>(p);
  }
}

// --- The validator's rules -------------------------------------------------

Status Check(const v1::Program& p) {
  auto r = Validate(p, {});
  return r.ok() ? Status::Ok() : r.status();
}

void ExpectRejected(const v1::Program& p, ErrorCode code, const std::string& fragment) {
  const Status st = Check(p);
  ASSERT_FALSE(st.ok()) << "accepted";
  EXPECT_EQ(st.code(), code) << st.ToString();
  EXPECT_EQ(st.instruction(), 0) << st.ToString();
  EXPECT_NE(st.message().find(fragment), std::string::npos) << st.ToString();
}

TEST(SortValidator, AcceptsAndChargesScratch) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {3, 100});
  b.Add("argsort", {x}, DType::kS32, {3, 100}).mutable_attrs()->set_axis(1);
  b.Output(b.last());
  auto r = Validate(b.program(), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->instructions[0].scratch_bytes, 3 * 100 * 16);
}

TEST(SortValidator, SortNeedsAnAxisInRange) {
  {
    ProgramBuilder b;
    auto x = b.Input(DType::kF32, {4});
    b.Add("sort", {x}, DType::kF32, {4});
    b.Output(b.last());
    ExpectRejected(b.program(), ErrorCode::kInvalidArgument, "sort needs an axis");
  }
  {
    ProgramBuilder b;
    auto x = b.Input(DType::kF32, {4});
    b.Add("sort", {x}, DType::kF32, {4}).mutable_attrs()->set_axis(1);
    b.Output(b.last());
    ExpectRejected(b.program(), ErrorCode::kInvalidArgument, "sort axis 1 is out of range for rank 1");
  }
  {
    ProgramBuilder b;
    auto x = b.Input(DType::kF32, {});
    b.Add("cumulative_sum", {x}, DType::kF32, {}).mutable_attrs()->set_axis(0);
    b.Output(b.last());
    ExpectRejected(b.program(), ErrorCode::kInvalidArgument, "cumulative_sum axis 0 is out of range for rank 0");
  }
  {
    ProgramBuilder b;
    auto x = b.Input(DType::kF32, {4});
    b.Add("cumulative_max", {x}, DType::kF32, {4}).mutable_attrs()->set_axis(-1);
    b.Output(b.last());
    ExpectRejected(b.program(), ErrorCode::kInvalidArgument, "cumulative_max axis -1 is out of range");
  }
}

TEST(SortValidator, ArgsortMustProduceIntegers) {
  ProgramBuilder b;
  auto x = b.Input(DType::kS32, {4});
  b.Add("argsort", {x}, DType::kF32, {4}).mutable_attrs()->set_axis(0);
  b.Output(b.last());
  ExpectRejected(b.program(), ErrorCode::kInvalidArgument, "argsort must produce an integer type, not f32");
}

TEST(SortValidator, SortKeepsDTypeAndShape) {
  ProgramBuilder b;
  auto x = b.Input(DType::kS32, {4, 2});
  b.Add("sort", {x}, DType::kS64, {4, 2}).mutable_attrs()->set_axis(0);
  b.Output(b.last());
  ExpectRejected(b.program(), ErrorCode::kInvalidArgument, "sort produces s32[4, 2]");
}

TEST(SortValidator, ComplexIsUnsupportedWhereThereIsNoOrder) {
  for (const char* op : {"sort", "argsort", "cumulative_min", "cumulative_max"}) {
    ProgramBuilder b;
    auto x = b.Input(DType::kC64, {4});
    b.Add(op, {x}, std::string(op) == "argsort" ? DType::kS64 : DType::kC64, {4}).mutable_attrs()->set_axis(0);
    b.Output(b.last());
    ExpectRejected(b.program(), ErrorCode::kUnsupported, std::string(op) + " does not accept c64");
  }
}

TEST(SortValidator, AttributesOfOtherOpsAreRejected) {
  {
    ProgramBuilder b;
    auto x = b.Input(DType::kF32, {4});
    auto& in = b.Add("sort", {x}, DType::kF32, {4});
    in.mutable_attrs()->set_axis(0);
    in.mutable_attrs()->set_reverse(true);
    b.Output(b.last());
    ExpectRejected(b.program(), ErrorCode::kInvalidArgument, "sort does not take the attribute 'reverse'");
  }
  {
    ProgramBuilder b;
    auto x = b.Input(DType::kF32, {4});
    auto& in = b.Add("cumulative_sum", {x}, DType::kF32, {4});
    in.mutable_attrs()->set_axis(0);
    in.mutable_attrs()->set_descending(true);
    b.Output(b.last());
    ExpectRejected(b.program(), ErrorCode::kInvalidArgument, "cumulative_sum does not take the attribute 'descending'");
  }
  {
    ProgramBuilder b;
    auto x = b.Input(DType::kF32, {4});
    b.Add("add", {x, x}, DType::kF32, {4}).mutable_attrs()->set_length(3);
    b.Output(b.last());
    ExpectRejected(b.program(), ErrorCode::kInvalidArgument, "add does not take the attribute 'length'");
  }
}

TEST(SortValidator, ScratchCountsTowardTheMemoryBudget) {
  ProgramBuilder b;
  auto x = b.Input(DType::kU8, {1 << 20});
  b.Add("argsort", {x}, DType::kU8, {1 << 20}).mutable_attrs()->set_axis(0);
  b.Output(b.last());
  Limits limits;
  limits.memory_budget_bytes = 8 << 20;  // the 16 MiB of (key, index) pairs do not fit
  auto r = Validate(b.program(), limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted) << r.status().ToString();
}

}  // namespace
}  // namespace pelemay::kernels
