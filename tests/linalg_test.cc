// Linear algebra ops (triangular_solve, lu_*, cholesky, qr_*, determinant,
// eigh_*), through the validator and the interpreter.
//   * Known values: Nx.BinaryBackend's f64 results (triangular_solve, lu and
//     eigh repeat its arithmetic: equal to the last bit), Nx's default
//     implementations in f64 for cholesky, qr and determinant (to 1e-14).
//   * Identities on random well-conditioned batches: A = P.L.U, A = L.L^T,
//     A = Q.R with Q orthogonal, A.V = V.diag(w), a x = b for every
//     left_side / lower / transpose_a, det(A) = prod(diag(U)) * sign.
//   * Every float dtype in and out; lu_p into an integer type.
//   * Data-dependent errors (singular triangular a, asymmetric eigh input)
//     and validator rejections for each bad shape or attribute.
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "executor/core/buffer.h"
#include "executor/core/dtype.h"
#include "executor/core/half.h"
#include "executor/interp/interpreter.h"
#include "executor/kernels/convert.h"
#include "executor/validate/validator.h"
#include "tests/program_builder.h"

namespace pelemay {
namespace {

using testing::ProgramBuilder;

struct In {
  Shape shape;
  std::vector<double> values;
  DType dtype = DType::kF64;
};

struct Result {
  Status status;
  std::vector<double> values;
};

using Attrs = std::function<void(v1::Attributes&)>;

// Complex dtypes hold their values interleaved: re0, im0, re1, im1, ...
std::vector<std::byte> Encode(DType dtype, const std::vector<double>& values) {
  const size_t per = IsComplex(dtype) ? 2 : 1;
  std::vector<std::byte> bytes(values.size() / per * DTypeSize(dtype));
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    auto* out = reinterpret_cast<T*>(bytes.data());
    for (size_t i = 0; i < values.size() / per; ++i) {
      if constexpr (kIsComplex<T>)
        out[i] = T(static_cast<typename T::value_type>(values[2 * i]),
                   static_cast<typename T::value_type>(values[2 * i + 1]));
      else out[i] = kernels::ConvertValue<T, double>(values[i]);
    }
  });
  return bytes;
}

std::vector<double> Decode(DType dtype, std::span<const std::byte> bytes) {
  const size_t per = IsComplex(dtype) ? 2 : 1;
  std::vector<double> v(bytes.size() / DTypeSize(dtype) * per);
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto* in = reinterpret_cast<const T*>(bytes.data());
    for (size_t i = 0; i < v.size() / per; ++i) {
      if constexpr (kIsHalf<T>) v[i] = static_cast<float>(in[i]);
      else if constexpr (kIsComplex<T>) v[2 * i] = in[i].real(), v[2 * i + 1] = in[i].imag();
      else v[i] = static_cast<double>(in[i]);
    }
  });
  return v;
}

// Validates a one-instruction program (a validation error is returned as the
// status, with no values).
Status Check(const std::string& op, const std::vector<In>& inputs, DType out_dtype, const Shape& out_shape,
             const Attrs& attrs = {}) {
  ProgramBuilder b;
  std::vector<uint32_t> operands;
  for (const In& in : inputs) operands.push_back(b.Input(in.dtype, in.shape));
  auto& ins = b.Add(op, operands, out_dtype, out_shape);
  if (attrs) attrs(*ins.mutable_attrs());
  b.Output(b.last());
  auto checked = Validate(b.program(), Limits{});
  return checked.ok() ? Status::Ok() : checked.status();
}

Result RunOp(const std::string& op, const std::vector<In>& inputs, DType out_dtype, const Shape& out_shape,
             const Attrs& attrs = {}) {
  ProgramBuilder b;
  std::vector<uint32_t> operands;
  for (const In& in : inputs) operands.push_back(b.Input(in.dtype, in.shape));
  auto& ins = b.Add(op, operands, out_dtype, out_shape);
  if (attrs) attrs(*ins.mutable_attrs());
  b.Output(b.last());
  auto checked = Validate(b.program(), Limits{});
  if (!checked.ok()) return {checked.status(), {}};
  std::vector<std::vector<std::byte>> data;
  std::vector<ConstTensorView> views;
  data.reserve(inputs.size());
  for (const In& in : inputs) {
    data.push_back(Encode(in.dtype, in.values));
    views.push_back({in.dtype, in.shape, data.back()});
  }
  auto out = Run(*checked, views, RunContext{});
  if (!out.ok()) return {out.status(), {}};
  return {Status::Ok(), Decode(out_dtype, (*out)[0].bytes)};
}

std::vector<double> RunOk(const std::string& op, const std::vector<In>& inputs, DType out_dtype, const Shape& out_shape,
                          const Attrs& attrs = {}) {
  Result r = RunOp(op, inputs, out_dtype, out_shape, attrs);
  EXPECT_TRUE(r.status.ok()) << op << ": " << r.status.ToString();
  return r.values;
}

void ExpectNear(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

// Row-major product of [batch, n, k] and [batch, k, m].
std::vector<double> MatMul(const std::vector<double>& a, const std::vector<double>& b, int64_t batch, int64_t n,
                           int64_t k, int64_t m) {
  std::vector<double> c(batch * n * m, 0.0);
  for (int64_t z = 0; z < batch; ++z)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j)
        for (int64_t l = 0; l < k; ++l) c[(z * n + i) * m + j] += a[(z * n + i) * k + l] * b[(z * k + l) * m + j];
  return c;
}

std::vector<double> Transpose(const std::vector<double>& a, int64_t batch, int64_t n, int64_t m) {
  std::vector<double> t(a.size());
  for (int64_t z = 0; z < batch; ++z)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) t[(z * m + j) * n + i] = a[(z * n + i) * m + j];
  return t;
}

std::vector<double> Random(size_t n, std::mt19937& rng, double lo = -1, double hi = 1) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(n);
  for (double& x : v) x = d(rng);
  return v;
}

// A batch of diagonally dominant (well-conditioned) matrices.
std::vector<double> WellConditioned(int64_t batch, int64_t n, std::mt19937& rng) {
  std::vector<double> a = Random(batch * n * n, rng);
  for (int64_t z = 0; z < batch; ++z)
    for (int64_t i = 0; i < n; ++i) a[(z * n + i) * n + i] += (i % 2 == 0 ? 1 : -1) * (n + 1.0);
  return a;
}

// Symmetric positive definite: A A^T + n I.
std::vector<double> Spd(int64_t batch, int64_t n, std::mt19937& rng) {
  const std::vector<double> a = Random(batch * n * n, rng);
  std::vector<double> s = MatMul(a, Transpose(a, batch, n, n), batch, n, n, n);
  for (int64_t z = 0; z < batch; ++z)
    for (int64_t i = 0; i < n; ++i) s[(z * n + i) * n + i] += static_cast<double>(n);
  return s;
}

const DType kFloats[] = {DType::kF16, DType::kBF16, DType::kF32, DType::kF64};

// Tolerance relative to O(1) values for results rounded into `t`.
double Tol(DType t) {
  switch (t) {
    case DType::kF16: return 4e-3;
    case DType::kBF16: return 3e-2;
    case DType::kF32: return 1e-5;
    default: return 1e-11;
  }
}

// ---------------------------------------------------------------------------
// triangular_solve

const std::vector<double> kLower3 = {3, 0, 0, 2, 1, 0, 1, 1, 1};

TEST(TriangularSolve, KnownValuesAreNxBinaryBackendsBits) {
  const In a{{3, 3}, kLower3};
  const In b{{3, 2}, {4, 1, 2, 3, 4, -1}};
  EXPECT_EQ(RunOk("triangular_solve", {a, b}, DType::kF64, {3, 2}),
            (std::vector<double>{1.3333333333333333, 0.3333333333333333, -0.6666666666666665, 2.3333333333333335,
                                 3.333333333333333, -3.666666666666667}));
  EXPECT_EQ(RunOk("triangular_solve", {a, b}, DType::kF64, {3, 2}, [](auto& at) { at.set_transpose_a(true); }),
            (std::vector<double>{1.3333333333333333, -2.0, -2.0, 4.0, 4.0, -1.0}));
  const In upper{{3, 3}, Transpose(kLower3, 1, 3, 3)};
  const In bt{{2, 3}, Transpose(b.values, 1, 3, 2)};
  EXPECT_EQ(RunOk("triangular_solve", {upper, bt}, DType::kF64, {2, 3},
                  [](auto& at) {
                    at.set_left_side(false);
                    at.set_lower(false);
                  }),
            (std::vector<double>{1.3333333333333333, -0.6666666666666665, 3.333333333333333, 0.3333333333333333,
                                 2.3333333333333335, -3.666666666666667}));
  EXPECT_EQ(RunOk("triangular_solve", {a, In{{3}, {4, 2, 4}}}, DType::kF64, {3}),
            (std::vector<double>{1.3333333333333333, -0.6666666666666665, 3.333333333333333}));
}

// Every combination of options against the identity it must satisfy, on a
// batch, with matrix and vector right-hand sides.
TEST(TriangularSolve, SolvesEveryVariantOnBatches) {
  std::mt19937 rng(1);
  const int64_t batch = 3, n = 5, m = 2;
  std::vector<double> a = WellConditioned(batch, n, rng);
  for (bool left : {true, false})
    for (bool lower : {true, false})
      for (bool transpose : {false, true}) {
        // Triangular part of a as the kernel reads it; the other half is noise.
        std::vector<double> tri(a.size(), 0.0);
        for (int64_t z = 0; z < batch; ++z)
          for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j)
              if (lower ? j <= i : j >= i) tri[(z * n + i) * n + j] = a[(z * n + i) * n + j];
        const std::vector<double> op_a = transpose ? Transpose(tri, batch, n, n) : tri;
        const Shape b_shape = left ? Shape{batch, n, m} : Shape{batch, m, n};
        const std::vector<double> b = Random(batch * n * m, rng);
        auto set = [&](v1::Attributes& at) {
          at.set_left_side(left);
          at.set_lower(lower);
          at.set_transpose_a(transpose);
        };
        const std::vector<double> x =
            RunOk("triangular_solve", {{{batch, n, n}, a}, {b_shape, b}}, DType::kF64, b_shape, set);
        const std::vector<double> check = left ? MatMul(op_a, x, batch, n, n, m) : MatMul(x, op_a, batch, m, n, n);
        SCOPED_TRACE(::testing::Message() << "left " << left << " lower " << lower << " transpose " << transpose);
        ExpectNear(check, b, 1e-12);
        // A batch of vectors: each solves like a one-column matrix.
        const std::vector<double> bv = Random(batch * n, rng);
        const std::vector<double> xv =
            RunOk("triangular_solve", {{{batch, n, n}, a}, {{batch, n}, bv}}, DType::kF64, {batch, n}, set);
        const std::vector<double> cv = left ? MatMul(op_a, xv, batch, n, n, 1) : MatMul(xv, op_a, batch, 1, n, n);
        ExpectNear(cv, bv, 1e-12);
      }
}

TEST(TriangularSolve, EveryFloatDtype) {
  for (DType in : kFloats)
    for (DType out : kFloats) {
      const std::vector<double> x = RunOk("triangular_solve", {{{3, 3}, kLower3, in}, {{3}, {4, 2, 4}, in}}, out, {3});
      SCOPED_TRACE(std::string(DTypeName(in)) + " -> " + std::string(DTypeName(out)));
      ExpectNear(x, {4.0 / 3, -2.0 / 3, 10.0 / 3}, 4 * Tol(out));
    }
}

// Complex systems: Nx.BinaryBackend's results (the complex library's
// multiply / divide formulas, computed in f64), to the last bit; mixed real
// and complex operands as Nx merges them.
TEST(TriangularSolve, ComplexKnownValuesAreNxBinaryBackendsBits) {
  const std::vector<double> lower = {2, 1, 0, 0, 0, 0, 1, -3, 0, 2, 0, 0, 0.5, 0.25, -1, 1, 3, 0};
  const std::vector<double> bv = {1, 2, 3, -1, 0, 1, 4, 0, -2, 0.5, 1, 1};
  const In a{{3, 3}, lower, DType::kC128};
  const In b{{3, 2}, bv, DType::kC128};
  const std::vector<double> x = {0.8,
                                 0.6,
                                 1.0,
                                 -1.0,
                                 1.4000000000000001,
                                 1.2999999999999998,
                                 2.0,
                                 -3.0,
                                 0.15000000000000005,
                                 -0.03333333333333344,
                                 -0.25,
                                 -1.25};
  EXPECT_EQ(RunOk("triangular_solve", {a, b}, DType::kC128, {3, 2}), x);
  EXPECT_EQ(RunOk("triangular_solve", {a, b}, DType::kC128, {3, 2}, [](auto& at) { at.set_transpose_a(true); }),
            (std::vector<double>{0.8000000000000002, 1.8916666666666668, 4.183333333333334, -1.5500000000000003,
                                 0.9166666666666666, 0.25, 0.0, -2.3333333333333335, -0.6666666666666666,
                                 0.16666666666666666, 0.3333333333333333, 0.3333333333333333}));
  // x a = b with a upper: the transposed system, x transposed.
  std::vector<double> upper(18), bt(12);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int c = 0; c < 2; ++c) upper[(j * 3 + i) * 2 + c] = lower[(i * 3 + j) * 2 + c];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j)
      for (int c = 0; c < 2; ++c) bt[(j * 3 + i) * 2 + c] = bv[(i * 2 + j) * 2 + c];
  EXPECT_EQ(RunOk("triangular_solve", {{{3, 3}, upper, DType::kC128}, {{2, 3}, bt, DType::kC128}}, DType::kC128, {2, 3},
                  [](auto& at) {
                    at.set_left_side(false);
                    at.set_lower(false);
                  }),
            (std::vector<double>{0.8, 0.6, 1.4000000000000001, 1.2999999999999998, 0.15000000000000005,
                                 -0.03333333333333344, 1.0, -1.0, 2.0, -3.0, -0.25, -1.25}));
  EXPECT_EQ(RunOk("triangular_solve", {a, {{3}, {1, 2, 0, 1, -2, 0.5}, DType::kC128}}, DType::kC128, {3}),
            (std::vector<double>{0.8, 0.6, 1.4000000000000001, 1.2999999999999998, 0.15000000000000005,
                                 -0.03333333333333344}));
  // Real a (Nx multiplies its numbers into complex values), complex b.
  EXPECT_EQ(RunOk("triangular_solve", {{{3, 3}, {2, 0, 0, 1.5, -3, 0, 0.5, 4, 0.75}}, b}, DType::kC128, {3, 2}),
            (std::vector<double>{0.5, 1.0, 1.5, -0.5, 0.25, 0.16666666666666666, -0.5833333333333334, -0.25,
                                 -4.333333333333333, -0.8888888888888887, 3.4444444444444446, 3.0}));
  // Complex a, real b.
  EXPECT_EQ(
      RunOk("triangular_solve", {a, {{3, 2}, {1, 2, 3, -1, 0.5, 7}}}, DType::kC128, {3, 2}),
      (std::vector<double>{0.4, -0.2, 0.8, -0.4, 0.7000000000000001, -1.6, 1.4000000000000001, 0.29999999999999993,
                           -0.21666666666666665, -0.7666666666666667, 2.733333333333333, -0.3666666666666667}));
  // c64: computed in f64, rounded once, as Nx.BinaryBackend.
  EXPECT_EQ(
      RunOk("triangular_solve", {{{3, 3}, lower, DType::kC64}, {{3, 2}, bv, DType::kC64}}, DType::kC64, {3, 2}),
      (std::vector<double>{0.800000011920929, 0.6000000238418579, 1.0, -1.0, 1.399999976158142, 1.2999999523162842, 2.0,
                           -3.0, 0.15000000596046448, -0.03333333507180214, -0.25, -1.25}));
  // A complex zero on the diagonal.
  std::vector<double> singular = lower;
  singular[8] = singular[9] = 0;
  Result r = RunOp("triangular_solve", {{{3, 3}, singular, DType::kC128}, b}, DType::kC128, {3, 2});
  EXPECT_EQ(r.status.code(), ErrorCode::kInvalidArgument);
}

TEST(TriangularSolve, ComplexResidualOnBatches) {
  std::mt19937 rng(7);
  const int64_t batch = 2, n = 4;
  // a x = b checked in complex arithmetic: lower a with a dominant diagonal.
  std::vector<double> a = Random(batch * n * n * 2, rng), b = Random(batch * n * 2, rng);
  for (int64_t z = 0; z < batch; ++z)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) a[((z * n + i) * n + j) * 2] = a[((z * n + i) * n + j) * 2 + 1] = 0;
  for (int64_t z = 0; z < batch; ++z)
    for (int64_t i = 0; i < n; ++i) a[((z * n + i) * n + i) * 2] += 4;
  const std::vector<double> x = RunOk(
      "triangular_solve", {{{batch, n, n}, a, DType::kC128}, {{batch, n}, b, DType::kC128}}, DType::kC128, {batch, n});
  ASSERT_EQ(x.size(), b.size());
  for (int64_t z = 0; z < batch; ++z)
    for (int64_t i = 0; i < n; ++i) {
      c128 sum = 0;
      for (int64_t j = 0; j < n; ++j)
        sum += c128(a[((z * n + i) * n + j) * 2], a[((z * n + i) * n + j) * 2 + 1]) *
               c128(x[(z * n + j) * 2], x[(z * n + j) * 2 + 1]);
      EXPECT_NEAR(sum.real(), b[(z * n + i) * 2], 1e-12);
      EXPECT_NEAR(sum.imag(), b[(z * n + i) * 2 + 1], 1e-12);
    }
}

TEST(TriangularSolve, ZeroOnTheDiagonalIsInvalidArgument) {
  const In a{{2, 2}, {1, 0, 5, 0}};
  Result r = RunOp("triangular_solve", {a, In{{2}, {1, 1}}}, DType::kF32, {2});
  EXPECT_EQ(r.status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status.message().find("can't solve for singular matrix"), std::string::npos) << r.status.ToString();
  // As Nx.BinaryBackend: no column of b, nothing to solve, no error.
  EXPECT_TRUE(RunOp("triangular_solve", {a, In{{2, 0}, {}}}, DType::kF32, {2, 0}).status.ok());
}

// ---------------------------------------------------------------------------
// lu

TEST(Lu, KnownValuesAreNxBinaryBackendsBits) {
  const In a{{3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
  EXPECT_EQ(RunOk("lu_p", {a}, DType::kS64, {3, 3}), (std::vector<double>{0, 0, 1, 0, 1, 0, 1, 0, 0}));
  EXPECT_EQ(RunOk("lu_l", {a}, DType::kF64, {3, 3}),
            (std::vector<double>{1, 0, 0, 0.5714285714285714, 1, 0, 0.14285714285714285, 1.999999999999999, 1}));
  EXPECT_EQ(RunOk("lu_u", {a}, DType::kF64, {3, 3}),
            (std::vector<double>{7, 8, 9, 0, 0.4285714285714288, 0.8571428571428577, 0, 0, 0}));
  const In a4{{4, 4}, {2, -1, 0, 3, 1, 4, 2, -2, -3, 0, 5, 1, 0.5, 2, -1, 6}};
  EXPECT_EQ(RunOk("lu_p", {a4}, DType::kF32, {4, 4}),
            (std::vector<double>{0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0}));
  EXPECT_EQ(RunOk("lu_l", {a4}, DType::kF64, {4, 4}),
            (std::vector<double>{1, 0, 0, 0, -0.3333333333333333, 1, 0, 0, -0.16666666666666666, 0.5, 1, 0,
                                 -0.6666666666666666, -0.25, -2.125, 1}));
  EXPECT_EQ(
      RunOk("lu_u", {a4}, DType::kF64, {4, 4}),
      (std::vector<double>{-3, 0, 5, 1, 0, 4, 3.6666666666666665, -1.6666666666666667, 0, 0, -2, 7, 0, 0, 0, 18.125}));
}

TEST(Lu, PLUReconstructsBatchesInEveryDtype) {
  std::mt19937 rng(2);
  const int64_t batch = 2, n = 6;
  const std::vector<double> a = WellConditioned(batch, n, rng);
  for (DType t : kFloats) {
    const In in{{batch, n, n}, a, t};
    const std::vector<double> exact = Decode(t, Encode(t, a));
    const auto p = RunOk("lu_p", {in}, DType::kS32, {batch, n, n});
    const auto l = RunOk("lu_l", {in}, t, {batch, n, n});
    const auto u = RunOk("lu_u", {in}, t, {batch, n, n});
    for (int64_t z = 0; z < batch; ++z)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          if (j > i) {
            EXPECT_EQ(l[(z * n + i) * n + j], 0);
          }
          if (j == i) {
            EXPECT_EQ(l[(z * n + i) * n + j], 1);
          }
          if (j < i) {
            EXPECT_EQ(u[(z * n + i) * n + j], 0);
          }
        }
    SCOPED_TRACE(DTypeName(t));
    ExpectNear(MatMul(MatMul(p, l, batch, n, n, n), u, batch, n, n, n), exact, (n + 1) * n * 2 * Tol(t));
  }
}

TEST(Lu, ComplexKnownValuesAreNxBinaryBackendsBits) {
  // Nx.LinAlg.lu on Nx.BinaryBackend (c128):
  // [[1+i, 2, 3], [4, 5i, 6], [7, 8, 10]].
  const In a{{3, 3}, {1, 1, 2, 0, 3, 0, 4, 0, 0, 5, 6, 0, 7, 0, 8, 0, 10, 0}, DType::kC128};
  EXPECT_EQ(RunOk("lu_p", {a}, DType::kC128, {3, 3}),
            (std::vector<double>{0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(RunOk("lu_l", {a}, DType::kC128, {3, 3}),
            (std::vector<double>{1, 0, 0, 0, 0, 0, 0.5714285714285714, 0, 1, 0, 0, 0, 0.14285714285714285,
                                 0.14285714285714285, -0.20987105380168963, 0.020453534904401934, 1, 0}));
  EXPECT_EQ(RunOk("lu_u", {a}, DType::kC128, {3, 3}),
            (std::vector<double>{7, 0, 8, 0, 10, 0, 0, 0, -4.571428571428571, 5, 0.2857142857142865, 0, 0, 0, 0, 0,
                                 1.631391729657626, -1.4344152956869718}));
  // A tie in modulus (|3+4i| = |5|): the first row stays.
  const In tie{{2, 2}, {3, 4, 1, 0, 5, 0, 2, 0}, DType::kC128};
  EXPECT_EQ(RunOk("lu_p", {tie}, DType::kC128, {2, 2}), (std::vector<double>{1, 0, 0, 0, 0, 0, 1, 0}));
  EXPECT_EQ(RunOk("lu_u", {tie}, DType::kC128, {2, 2}), (std::vector<double>{3, 4, 1, 0, 0, 0, 1.4, 0.8}));
  // c64: [[1, 1], [2i, 2]] pivots on 2i; l[1][0] = 1 / 2i = -0.5i.
  const In c64{{2, 2}, {1, 0, 1, 0, 0, 2, 2, 0}, DType::kC64};
  EXPECT_EQ(RunOk("lu_p", {c64}, DType::kC64, {2, 2}), (std::vector<double>{0, 0, 1, 0, 1, 0, 0, 0}));
  EXPECT_EQ(RunOk("lu_l", {c64}, DType::kC64, {2, 2}), (std::vector<double>{1, 0, 0, 0, 0, -0.5, 1, 0}));
  EXPECT_EQ(RunOk("lu_u", {c64}, DType::kC64, {2, 2}), (std::vector<double>{0, 2, 2, 0, 0, 0, 1, 1}));
}

TEST(Lu, ComplexPLUReconstructsBatches) {
  std::mt19937 rng(11);
  const int64_t batch = 2, n = 5;
  const std::vector<double> a = Random(batch * n * n * 2, rng);
  for (DType t : {DType::kC64, DType::kC128}) {
    SCOPED_TRACE(DTypeName(t));
    const In in{{batch, n, n}, a, t};
    const std::vector<double> exact = Decode(t, Encode(t, a));
    const auto p = RunOk("lu_p", {in}, t, {batch, n, n});
    const auto l = RunOk("lu_l", {in}, t, {batch, n, n});
    const auto u = RunOk("lu_u", {in}, t, {batch, n, n});
    auto at = [&](const std::vector<double>& m, int64_t z, int64_t i, int64_t j) {
      const size_t k = static_cast<size_t>(((z * n + i) * n + j) * 2);
      return c128(m[k], m[k + 1]);
    };
    const double tol = t == DType::kC64 ? 1e-5 : 1e-12;
    for (int64_t z = 0; z < batch; ++z)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          if (j > i) {
            EXPECT_EQ(at(l, z, i, j), c128(0));
          }
          if (j == i) {
            EXPECT_EQ(at(l, z, i, j), c128(1));
          }
          if (j < i) {
            EXPECT_EQ(at(u, z, i, j), c128(0));
          }
          // (P L U)[i][j]
          c128 sum = 0;
          for (int64_t k = 0; k < n; ++k)
            for (int64_t m = 0; m < n; ++m) sum += at(p, z, i, k) * at(l, z, k, m) * at(u, z, m, j);
          EXPECT_NEAR(sum.real(), at(exact, z, i, j).real(), tol) << z << " " << i << " " << j;
          EXPECT_NEAR(sum.imag(), at(exact, z, i, j).imag(), tol) << z << " " << i << " " << j;
        }
  }
}

// ---------------------------------------------------------------------------
// cholesky

TEST(Cholesky, KnownValuesAndReconstruction) {
  const In a{{4, 4}, {6, 3, 4, 8, 3, 6, 5, 1, 4, 5, 10, 7, 8, 1, 7, 25}};
  ExpectNear(
      RunOk("cholesky", {a}, DType::kF64, {4, 4}),
      {2.449489742783178, 0, 0, 0, 1.2247448713415892, 2.12132034358851, 0, 0, 1.6329931617887856, 1.4142135623641632,
       2.309401076811113, 0, 3.2659863235775712, -1.4142135621332237, 1.5877132402027527, 3.1324910218175557},
      1e-14);
  std::mt19937 rng(3);
  const int64_t batch = 3, n = 5;
  const std::vector<double> s = Spd(batch, n, rng);
  for (DType t : kFloats) {
    const auto l = RunOk("cholesky", {{{batch, n, n}, s, t}}, t, {batch, n, n});
    SCOPED_TRACE(DTypeName(t));
    // Nx's default divides by l[j][j] + eps: the identity holds to ~1e-10.
    ExpectNear(MatMul(l, Transpose(l, batch, n, n), batch, n, n, n), Decode(t, Encode(t, s)),
               std::max(1e-8, 2 * n * n * Tol(t)));
  }
}

TEST(Cholesky, NotPositiveDefiniteGivesNaN) {
  const auto l = RunOk("cholesky", {{{2, 2}, {1, 2, 2, 1}}}, DType::kF32, {2, 2});
  EXPECT_TRUE(std::isnan(l[3]));
}

// ---------------------------------------------------------------------------
// qr

TEST(Qr, KnownValuesWithNxSigns) {
  const In a{{3, 3}, {-3, 2, 1, 0, 1, 1, 0, 0, -1}};
  EXPECT_EQ(RunOk("qr_q", {a}, DType::kF64, {3, 3}), (std::vector<double>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(RunOk("qr_r", {a}, DType::kF64, {3, 3}), (std::vector<double>{-3, 2, 1, 0, 1, 1, 0, 0, -1}));
  const In tall{{3, 2}, {1, 2, 3, 4, 5, 6}};
  ExpectNear(RunOk("qr_q", {tall}, DType::kF64, {3, 2}),
             {0.16903085094570314, 0.8970852271450607, 0.5070925528371101, 0.2760262237369416, 0.8451542547285167,
              -0.3450327796711772},
             1e-14);
  ExpectNear(RunOk("qr_r", {tall}, DType::kF64, {2, 2}), {5.916079783099617, 7.437357441610947, 0, 0.828078671210824},
             1e-14);
}

TEST(Qr, ReducedCompleteAndWideReconstruct) {
  std::mt19937 rng(4);
  const int64_t batch = 2;
  for (auto [m, n] : {std::pair<int64_t, int64_t>{5, 3}, {3, 5}, {4, 4}, {1, 1}, {3, 1}})
    for (bool complete : {false, true}) {
      const int64_t k = std::min(m, n);
      const int64_t qc = complete ? m : k, rr = complete ? m : k;
      const std::vector<double> a = Random(batch * m * n, rng);
      for (DType t : {DType::kF32, DType::kF64}) {
        const auto q = RunOk("qr_q", {{{batch, m, n}, a, t}}, t, {batch, m, qc});
        const auto r = RunOk("qr_r", {{{batch, m, n}, a, t}}, t, {batch, rr, n});
        SCOPED_TRACE(::testing::Message() << m << "x" << n << (complete ? " complete " : " reduced ") << DTypeName(t));
        ExpectNear(MatMul(q, r, batch, m, qc, n), Decode(t, Encode(t, a)), 20 * Tol(t));
        // Q has orthonormal columns; R is upper triangular.
        std::vector<double> eye(batch * qc * qc, 0.0);
        for (int64_t z = 0; z < batch; ++z)
          for (int64_t i = 0; i < qc; ++i) eye[(z * qc + i) * qc + i] = 1;
        ExpectNear(MatMul(Transpose(q, batch, m, qc), q, batch, qc, m, qc), eye, 20 * Tol(t));
        for (int64_t z = 0; z < batch; ++z)
          for (int64_t i = 0; i < rr; ++i)
            for (int64_t j = 0; j < std::min(i, n); ++j) EXPECT_EQ(r[(z * rr + i) * n + j], 0);
      }
    }
}

// ---------------------------------------------------------------------------
// determinant

TEST(Determinant, ClosedFormsLuAndSingular) {
  EXPECT_EQ(RunOk("determinant", {{{2, 2}, {1, 2, 3, 4}}}, DType::kF64, {}), std::vector<double>{-2});
  EXPECT_EQ(RunOk("determinant", {{{3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 10}}}, DType::kF32, {}), std::vector<double>{-3});
  EXPECT_EQ(RunOk("determinant", {{{4, 4}, {2, -1, 0, 3, 1, 4, 2, -2, -3, 0, 5, 1, 0.5, 2, -1, 6}}}, DType::kF64, {}),
            std::vector<double>{435});
  // A row swap flips the sign; a zero pivot gives exactly 0.
  EXPECT_EQ(RunOk("determinant", {{{4, 4}, {0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}}}, DType::kF64, {}),
            std::vector<double>{-1});
  EXPECT_EQ(RunOk("determinant", {{{4, 4}, {1, 2, 3, 4, 2, 4, 6, 8, 0, 0, 1, 0, 0, 0, 0, 1}}}, DType::kF64, {}),
            std::vector<double>{0});
  EXPECT_EQ(RunOk("determinant", {{{1, 1}, {-7}}}, DType::kF64, {}), std::vector<double>{-7});
  // A batch of 2x2, 3x3 and 5x5 matrices against their LU product.
  std::mt19937 rng(5);
  for (int64_t n : {2, 3, 5}) {
    const std::vector<double> a = WellConditioned(3, n, rng);
    const auto d = RunOk("determinant", {{{3, n, n}, a}}, DType::kF64, {3});
    const auto u = RunOk("lu_u", {{{3, n, n}, a}}, DType::kF64, {3, n, n});
    const auto p = RunOk("lu_p", {{{3, n, n}, a}}, DType::kF64, {3, n, n});
    for (int64_t z = 0; z < 3; ++z) {
      double prod = 1;
      for (int64_t i = 0; i < n; ++i) prod *= u[(z * n + i) * n + i];
      // sign(P) from its cycle structure.
      std::vector<int64_t> perm(n);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j)
          if (p[(z * n + i) * n + j] == 1) perm[i] = j;
      int64_t inversions = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = i + 1; j < n; ++j) inversions += perm[i] > perm[j] ? 1 : 0;
      EXPECT_NEAR(d[z], inversions % 2 == 0 ? prod : -prod, 1e-9 * std::fabs(prod));
    }
  }
}

TEST(Determinant, ComplexKnownValues) {
  // Nx.LinAlg.determinant's default on Nx.BinaryBackend (c128); the 4x4
  // goes through lu.
  const std::vector<double> d2 =
      RunOk("determinant", {{{2, 2}, {1, 2, 2, 0, 4, 0, 6, -1}, DType::kC128}}, DType::kC128, {});
  ExpectNear(d2, {0, 11}, 1e-12);
  const std::vector<double> d3 =
      RunOk("determinant", {{{3, 3}, {1, 2, 2, 0, 3, 0, 4, 0, 5, 0, 6, -1, 7, 0, 8, 0, 10, 0}, DType::kC128}},
            DType::kC128, {});
  ExpectNear(d3, {-19, -2}, 1e-12);
  const In a4{{4, 4},
              {1, 2, 2, 0, 3, 0, 4, 0, 4, 0, 5, 0, 6, -1, 1, 0, 7, 0, 8, 0, 10, 0, 2, 0, 1, 0, 0, 1, 1, 0, 9, 0},
              DType::kC128};
  ExpectNear(RunOk("determinant", {a4}, DType::kC128, {}), {-194.99999999999997, -55.000000000000085}, 1e-11);
  ExpectNear(RunOk("determinant", {{a4.shape, a4.values, DType::kC64}}, DType::kC64, {}), {-195, -55}, 1e-3);
}

// ---------------------------------------------------------------------------
// eigh

// Runs the packed eigh op on a batch of n x n matrices and splits its result
// into eigenvalues [batch, n] and eigenvectors [batch, n, n].
struct EighResult {
  std::vector<double> values, vectors;
};
EighResult RunEigh(const In& in, DType out, const Attrs& attrs = {}) {
  const int64_t n = in.shape.back();
  Shape shape = in.shape;
  shape[shape.size() - 2] = n + 1;
  const std::vector<double> packed = RunOk("eigh", {in}, out, shape, attrs);
  EighResult r;
  for (size_t z = 0; z * (n + 1) * n < packed.size(); ++z) {
    const auto* m = &packed[z * (n + 1) * n];
    r.values.insert(r.values.end(), m, m + n);
    r.vectors.insert(r.vectors.end(), m + n, m + (n + 1) * n);
  }
  return r;
}

const std::vector<double> kSym5 = {5, -1, 0, 1, 2, -1, 5, 0, 5, 3, 0, 0, 4, 7, 2, 1, 5, 7, 0, 9, 2, 3, 2, 9, 2};

TEST(Eigh, KnownValuesAreNxBinaryBackendsBits) {
  const In a{{5, 5}, kSym5};
  const EighResult r = RunEigh(a, DType::kF64);
  EXPECT_EQ(r.values, (std::vector<double>{16.394095751822213, -9.737915095022883, 5.901451237179783, 4.334058850914665,
                                           -0.8916907045443621}));
  EXPECT_EQ(r.vectors,
            (std::vector<double>{0.11221971239916512,  -0.004602509490776548, -0.8307172394420058, -0.43588434819470223,
                                 -0.3275605627451578,  0.3952523722472298,    0.16311017043147058, 0.5304110625743325,
                                 -0.5369559937472889,  -0.497474980177016,    0.42671245567659816, 0.325636054916526,
                                 -0.13328218879649026, 0.6999857500434663,    -0.4518174021046361, 0.6031083405526857,
                                 -0.7830181172241995,  -0.006855522560709417, 0.07909569449568182, 0.1297938547447491,
                                 0.5341901422791441,   0.5042000249465092,    -0.103739257917157,  -0.15952086504438948,
                                 0.6513350168779571}));
  EXPECT_EQ(RunOk("eigh", {{{1, 1}, {3}}}, DType::kF64, {2, 1}), (std::vector<double>{3, 1}));
}

// Nx.BinaryBackend's eigh (unshifted QR iterations that stop once Q moves
// by at most eps) is only roughly accurate: on these well-separated 4x4
// matrices its eigenpairs leave residuals |A v - w v| up to ~2e-2 even with
// eps 1e-10, and the eigenvalues' sum misses the trace by as much: its
// reflectors compute |tail|^2 as |x|^2 - x_0^2, which cancels when the tail
// is small (but over eps), so they are orthogonal only to ~1e-3. We repeat
// its bits (above); here, each batch element computed as if alone, and
// orthonormality and the residual only loosely.
TEST(Eigh, EigenpairsOfBatchesInEveryDtype) {
  std::mt19937 rng(6);
  const int64_t batch = 2, n = 4;
  std::vector<double> s = Random(batch * n * n, rng, -0.2, 0.2);
  for (int64_t z = 0; z < batch; ++z)
    for (int64_t i = 0; i < n; ++i) {
      s[(z * n + i) * n + i] += std::pow(4.0, static_cast<double>(n - 1 - i));
      for (int64_t j = 0; j < i; ++j) s[(z * n + i) * n + j] = s[(z * n + j) * n + i];
    }
  for (DType t : kFloats) {
    const In in{{batch, n, n}, s, t};
    auto set = [](v1::Attributes& at) {
      at.set_eps(1e-10);
      at.set_max_iter(5000);
    };
    const EighResult r = RunEigh(in, t, set);
    const auto& w = r.values;
    const auto& v = r.vectors;
    const std::vector<double> a = Decode(t, Encode(t, s));
    SCOPED_TRACE(DTypeName(t));
    std::vector<double> vw(v.size()), eye(v.size(), 0.0);
    for (int64_t z = 0; z < batch; ++z) {
      for (int64_t i = 0; i < n; ++i) {
        eye[(z * n + i) * n + i] = 1;
        for (int64_t j = 0; j < n; ++j) vw[(z * n + i) * n + j] = v[(z * n + i) * n + j] * w[z * n + j];
      }
      const std::vector<double> one(a.begin() + z * n * n, a.begin() + (z + 1) * n * n);
      const auto w1 = RunEigh({{n, n}, one, t}, t, set).values;
      EXPECT_EQ(w1, std::vector<double>(w.begin() + z * n, w.begin() + (z + 1) * n));
    }
    ExpectNear(MatMul(Transpose(v, batch, n, n), v, batch, n, n, n), eye, 1e-2);
    ExpectNear(MatMul(a, v, batch, n, n, n), vw, 0.1);
  }
}

TEST(Eigh, ComplexKnownValuesAreNxBinaryBackendsBits) {
  // Nx.LinAlg.eigh on Nx.BinaryBackend (c128), packed as values then vectors.
  const In a2{{2, 2}, {2, 0, 0, 1, 0, -1, 3, 0}, DType::kC128};
  const std::vector<double> want2 = {3.6180339631667104,
                                     0,
                                     1.3819660149826423,
                                     0,
                                     0.5258220963885962,
                                     0,
                                     0,
                                     0.8505945676874339,
                                     0,
                                     -0.8505945676874337,
                                     -0.5258220963885956,
                                     0};
  EXPECT_EQ(RunOk("eigh", {a2}, DType::kC128, {3, 2}), want2);
  const In a3{{3, 3}, {4, 0, 1, 2, 0.5, 0, 1, -2, 3, 0, 0, 1, 0.5, 0, 0, -1, 1, 0}, DType::kC128};
  const std::vector<double> want3 = {5.814661031848545,     0,
                                     2.165484369810139,     0,
                                     0.01985457300297721,   0,
                                     0.7704752674002732,    2.0328782691828178e-19,
                                     0.22444078725782157,   0.44888157451564314,
                                     0.36958044610924445,   -0.1338136097981747,
                                     0.29550134064340844,   -0.5603236825930608,
                                     -0.5493885575647539,   -0.056898140286325546,
                                     -0.017190872864839644, 0.541626515849755,
                                     -0.03632332184083239,  -0.06135799738751219,
                                     0.04747779675891059,   0.6639369963810764,
                                     -0.7411318575677398,   0.05072447701200757};
  EXPECT_EQ(RunOk("eigh", {a3}, DType::kC128, {4, 3}), want3);
  // A diagonal matrix: Nx's complex reflector of a zero column is 0 / 0, and
  // every value and vector element comes out NaN + 0i.
  const auto nan = RunOk("eigh", {{{2, 2}, {1, 0, 0, 0, 0, 0, 4, 0}, DType::kC128}}, DType::kC128, {3, 2});
  for (size_t i = 0; i < nan.size(); i += 2) {
    EXPECT_TRUE(std::isnan(nan[i])) << i;
    EXPECT_EQ(nan[i + 1], 0) << i;
  }
  // Not hermitian (a real part asymmetric, or an imaginary part not negated).
  EXPECT_EQ(RunOp("eigh", {{{2, 2}, {1, 0, 0, 1, 0, 1, 2, 0}, DType::kC64}}, DType::kC64, {3, 2}).status.code(),
            ErrorCode::kInvalidArgument);
}

TEST(Eigh, AsymmetricInputIsInvalidArgument) {
  Result r = RunOp("eigh", {{{2, 2}, {1, 2, 3, 4}}}, DType::kF32, {3, 2});
  EXPECT_EQ(r.status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status.message().find("must be hermitian"), std::string::npos) << r.status.ToString();
  // Within eps (Nx's default 1e-4) counts as symmetric.
  EXPECT_TRUE(RunOp("eigh", {{{2, 2}, {1, 2, 2.00001, 4}}}, DType::kF32, {3, 2}).status.ok());
}

// ---------------------------------------------------------------------------
// Validation

void ExpectInvalid(const Status& s, const std::string& fragment) {
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.ToString();
}

TEST(LinAlgValidation, ShapesDtypesAndAttributes) {
  const In sq{{3, 3}, {}};
  ExpectInvalid(Check("lu_l", {{{3, 4}, {}}}, DType::kF32, {3, 4}), "square");
  ExpectInvalid(Check("cholesky", {{{3}, {}}}, DType::kF32, {3}), "rank >= 2");
  ExpectInvalid(Check("lu_l", {sq}, DType::kS32, {3, 3}), "cannot produce");
  EXPECT_TRUE(Check("lu_p", {sq}, DType::kS64, {3, 3}).ok());
  ExpectInvalid(Check("determinant", {sq}, DType::kF32, {3}), "produces");
  ExpectInvalid(Check("eigh", {sq}, DType::kF32, {3, 3}), "produces");
  ExpectInvalid(Check("qr_q", {{{5, 3}, {}}}, DType::kF32, {5, 4}), "produces");
  EXPECT_TRUE(Check("qr_q", {{{5, 3}, {}}}, DType::kF32, {5, 5}).ok());
  EXPECT_TRUE(Check("qr_r", {{{5, 3}, {}}}, DType::kF32, {3, 3}).ok());
  EXPECT_EQ(Check("lu_l", {{{3, 3}, {}, DType::kS32}}, DType::kF32, {3, 3}).code(), ErrorCode::kUnsupported);
  EXPECT_EQ(Check("cholesky", {{{3, 3}, {}, DType::kC64}}, DType::kC64, {3, 3}).code(), ErrorCode::kUnsupported);
  // Complex triangular_solve: a complex result exactly when an operand is.
  const In csq{{3, 3}, {}, DType::kC64};
  EXPECT_TRUE(Check("triangular_solve", {csq, {{3}, {}}}, DType::kC64, {3}).ok());
  EXPECT_TRUE(Check("triangular_solve", {sq, {{3}, {}, DType::kC128}}, DType::kC128, {3}).ok());
  ExpectInvalid(Check("triangular_solve", {csq, {{3}, {}}}, DType::kF64, {3}), "cannot produce");
  ExpectInvalid(Check("triangular_solve", {sq, {{3}, {}}}, DType::kC64, {3}), "cannot produce");
  // Complex lu and determinant: complex results exactly for complex a.
  EXPECT_TRUE(Check("lu_l", {csq}, DType::kC64, {3, 3}).ok());
  EXPECT_TRUE(Check("lu_p", {csq}, DType::kC128, {3, 3}).ok());
  EXPECT_TRUE(Check("determinant", {csq}, DType::kC64, {}).ok());
  ExpectInvalid(Check("lu_p", {csq}, DType::kS64, {3, 3}), "cannot produce");
  ExpectInvalid(Check("lu_u", {csq}, DType::kF64, {3, 3}), "cannot produce");
  ExpectInvalid(Check("lu_u", {sq}, DType::kC64, {3, 3}), "cannot produce");
  ExpectInvalid(Check("determinant", {csq}, DType::kF32, {}), "cannot produce");
  EXPECT_TRUE(Check("eigh", {csq}, DType::kC64, {4, 3}).ok());
  ExpectInvalid(Check("eigh", {csq}, DType::kF64, {4, 3}), "cannot produce");
  // triangular_solve's b must fit a (batch and the solved dimension).
  ExpectInvalid(Check("triangular_solve", {sq, {{4}, {}}}, DType::kF32, {4}), "does not fit");
  ExpectInvalid(Check("triangular_solve", {sq, {{2, 3}, {}}}, DType::kF32, {2, 3}), "does not fit");
  EXPECT_TRUE(Check("triangular_solve", {sq, {{2, 3}, {}}}, DType::kF32, {2, 3}, [](auto& at) {
                at.set_left_side(false);
              }).ok());
  ExpectInvalid(Check("triangular_solve", {{{2, 3, 3}, {}}, {{3, 3, 1}, {}}}, DType::kF32, {3, 3, 1}), "does not fit");
  ExpectInvalid(Check("triangular_solve", {sq, {{3}, {}}}, DType::kF32, {3, 1}), "produces");
  // Attributes: ranges, and only the op's own.
  ExpectInvalid(Check("eigh", {sq}, DType::kF32, {4, 3}, [](auto& at) { at.set_max_iter(0); }), "max_iter");
  ExpectInvalid(Check("eigh", {sq}, DType::kF32, {4, 3}, [](auto& at) { at.set_max_iter(1'000'001); }), "max_iter");
  ExpectInvalid(Check("lu_u", {sq}, DType::kF32, {3, 3}, [](auto& at) { at.set_eps(NAN); }), "eps");
  ExpectInvalid(Check("lu_u", {sq}, DType::kF32, {3, 3}, [](auto& at) { at.set_left_side(true); }),
                "does not take the attribute 'left_side'");
  ExpectInvalid(Check("determinant", {sq}, DType::kF32, {}, [](auto& at) { at.set_eps(1); }),
                "does not take the attribute 'eps'");
  ExpectInvalid(Check("triangular_solve", {sq, {{3}, {}}}, DType::kF32, {3}, [](auto& at) { at.set_max_iter(3); }),
                "does not take the attribute 'max_iter'");
}

TEST(LinAlgValidation, ScratchCountsAgainstTheBudget) {
  ProgramBuilder b;
  const uint32_t a = b.Input(DType::kF32, {4096, 4096});
  b.Add("eigh", {a}, DType::kF32, {4097, 4096});
  b.Output(b.last());
  Limits limits;
  limits.memory_budget_bytes = int64_t{256} << 20;
  auto checked = Validate(b.program(), limits);
  ASSERT_FALSE(checked.ok());
  EXPECT_EQ(checked.status().code(), ErrorCode::kResourceExhausted);
}

}  // namespace
}  // namespace pelemay
