// Convolution (im2col + GEMM):
//   * known values computed with Nx.BinaryBackend 0.7.2 (strides, padding,
//     input and kernel dilation, feature groups; batch groups);
//   * every dtype against the direct-loop oracle ConvReference over random
//     geometries (1 to 3 spatial axes, negative padding, groups), with and
//     without a thread pool, on small integer values so every dtype is exact;
//   * f32 on random reals within an error bound, a case large enough to be
//     split into several im2col chunks, and each validator rejection.
#include "executor/kernels/conv.h"

#include <cmath>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "executor/core/dtype.h"
#include "executor/core/half.h"
#include "executor/core/shape.h"
#include "executor/core/thread_pool.h"
#include "executor/interp/interpreter.h"
#include "executor/validate/validator.h"
#include "tests/program_builder.h"
#include "tests/test_values.h"

namespace pelemay::kernels {
namespace {

using namespace pelemay::testing;  // NOLINT(google-build-using-namespace)

template <class T>
T FromDouble(double v) {
  if constexpr (kIsHalf<T>) return T(static_cast<float>(v));
  else if constexpr (kIsComplex<T>)
    return T(static_cast<typename T::value_type>(v), static_cast<typename T::value_type>(v > 0 ? 1 : -1));
  else return static_cast<T>(v);
}

std::vector<std::byte> Fill(DType dtype, const std::vector<double>& values) {
  std::vector<std::byte> b(values.size() * DTypeSize(dtype));
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    for (size_t i = 0; i < values.size(); ++i) {
      const T v = FromDouble<T>(values[i]);
      std::memcpy(b.data() + i * sizeof(T), &v, sizeof(T));
    }
  });
  return b;
}

template <class T>
std::vector<T> As(const std::vector<std::byte>& b) {
  std::vector<T> v(b.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), b.data(), b.size());
  return v;
}

std::vector<double> Iota(int64_t n, double scale, double offset) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = i * scale + offset;
  return v;
}

// A geometry with its vectors owned here.
struct Case {
  Shape input, kernel, result;
  std::vector<int64_t> strides, lo, hi, input_dilation, kernel_dilation;
  int64_t fg = 1, bg = 1;
  ConvGeometry Geometry() const {
    return {input, kernel, result, strides, lo, input_dilation, kernel_dilation, fg, bg};
  }
};

// The result shape by Nx.Shape.conv's rule.
Shape ResultShape(const Case& c) {
  Shape r = {c.input[0] / c.bg, c.kernel[0]};
  for (size_t d = 0; d + 2 < c.input.size(); ++d) {
    const int64_t padded = (c.input[2 + d] - 1) * c.input_dilation[d] + 1 + c.lo[d] + c.hi[d];
    const int64_t eff = (c.kernel[2 + d] - 1) * c.kernel_dilation[d] + 1;
    const int64_t diff = padded - eff;
    r.push_back(diff < 0 ? 0 : diff / c.strides[d] + 1);
  }
  return r;
}

TEST(Conv, KnownValuesFromBinaryBackend) {
  // inp = Nx.iota({2, 4, 5, 4}, type: :f32) * 0.25 - 3
  // ker = Nx.iota({6, 2, 2, 3}, type: :f32) * -0.5 + 2
  // Nx.conv(inp, ker, strides: [2, 1], padding: [{1, 0}, {2, 1}],
  //         input_dilation: [1, 2], kernel_dilation: [2, 1], feature_group_size: 2)
  Case c{{2, 4, 5, 4}, {6, 2, 2, 3}, {}, {2, 1}, {1, 2}, {0, 1}, {1, 2}, {2, 1}, 2, 1};
  c.result = ResultShape(c);
  ASSERT_EQ(c.result, (Shape{2, 6, 2, 8}));
  const auto in = Fill(DType::kF32, Iota(160, 0.25, -3));
  const auto ker = Fill(DType::kF32, Iota(72, -0.5, 2));
  std::vector<std::byte> out(2 * 6 * 2 * 8 * 4);
  Conv(DType::kF32, c.Geometry(), in, ker, out, nullptr);
  const auto got = As<float>(out);
  const std::vector<float> head = {-9.5,  -9.0,  -19.0,  -9.75,  -20.5,  -10.5, -22.0,  -11.25,
                                   -25.5, -22.5, -46.25, -23.25, -47.75, -24.0, -49.25, -24.75};
  const std::vector<float> tail = {-1959.5, -1929.0, -3874.0,  -1944.75, -3905.5,  -1960.5, -3937.0,  -1976.25,
                                   -3955.5, -3892.5, -7816.25, -3923.25, -7877.75, -3954.0, -7939.25, -3984.75};
  EXPECT_EQ(std::vector<float>(got.begin(), got.begin() + 16), head);
  EXPECT_EQ(std::vector<float>(got.end() - 16, got.end()), tail);
  // Element [0, 3, 0, :] (filter 3 is in feature group 1).
  EXPECT_EQ(std::vector<float>(got.begin() + 48, got.begin() + 56),
            (std::vector<float>{-427.5, -417.0, -844.0, -426.75, -863.5, -436.5, -883.0, -446.25}));

  // ker2 = Nx.iota({4, 4, 2, 2}, type: :f32) * 0.5 - 1
  // Nx.conv(inp, ker2, strides: [1, 2], padding: [{0, 1}, {1, 1}], batch_group_size: 2)
  Case b{{2, 4, 5, 4}, {4, 4, 2, 2}, {}, {1, 2}, {0, 1}, {1, 1}, {1, 1}, {1, 1}, 1, 2};
  b.result = ResultShape(b);
  ASSERT_EQ(b.result, (Shape{1, 4, 5, 3}));
  std::vector<std::byte> out2(60 * 4);
  Conv(DType::kF32, b.Geometry(), in, Fill(DType::kF32, Iota(64, 0.5, -1)), out2, nullptr);
  EXPECT_EQ(As<float>(out2),
            (std::vector<float>{222.0,  441.0,  217.0,   246.0,  485.0,  237.0,   270.0,   529.0,  257.0,  294.0,
                                573.0,  277.0,  135.0,   260.0,  124.0,  542.0,   1129.0,  585.0,  630.0,  1301.0,
                                669.0,  718.0,  1473.0,  753.0,  806.0,  1645.0,  837.0,   407.0,  828.0,  420.0,
                                3902.0, 7817.0, 3913.0,  4054.0, 8117.0, 4061.0,  4206.0,  8417.0, 4209.0, 4358.0,
                                8717.0, 4357.0, 2159.0,  4316.0, 2156.0, 5502.0,  11065.0, 5561.0, 5718.0, 11493.0,
                                5773.0, 5934.0, 11921.0, 5985.0, 6150.0, 12349.0, 6197.0,  3071.0, 6164.0, 3092.0}));
}

Case RandomCase(std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return static_cast<int64_t>(std::uniform_int_distribution<int>(lo, hi)(rng)); };
  while (true) {
    Case c;
    const int64_t sp = pick(0, 3);
    const int64_t groups = pick(1, 3);
    const bool batch_groups = pick(0, 1) == 1;
    c.fg = batch_groups ? 1 : groups;
    c.bg = batch_groups ? groups : 1;
    const int64_t i = pick(1, 3);
    c.input = {c.bg * pick(1, 2), i * c.fg};
    c.kernel = {groups * pick(1, 2), i};
    for (int64_t d = 0; d < sp; ++d) {
      c.input.push_back(pick(1, sp == 3 ? 4 : 7));
      c.kernel.push_back(pick(1, 3));
      c.strides.push_back(pick(1, 3));
      c.lo.push_back(pick(-1, 2));
      c.hi.push_back(pick(-1, 2));
      c.input_dilation.push_back(pick(1, 2));
      c.kernel_dilation.push_back(pick(1, 2));
    }
    bool ok = true;
    for (int64_t d = 0; d < sp; ++d)
      if ((c.input[2 + d] - 1) * c.input_dilation[d] + 1 + c.lo[d] + c.hi[d] < 0) ok = false;
    if (!ok) continue;
    c.result = ResultShape(c);
    return c;
  }
}

template <class T>
bool Same(T a, T b) {
  if constexpr (kIsComplex<T>) return a == b;
  else return Bits(a) == Bits(b);
}

TEST(Conv, EveryDTypeAgainstTheReference) {
  std::mt19937 rng(5);
  ThreadPool pool(4);
  for (DType dtype : kAllDTypes) {
    for (int trial = 0; trial < 40; ++trial) {
      const Case c = RandomCase(rng);
      std::uniform_int_distribution<int> small(-2, 2);
      std::vector<double> xv(*ElementCount(c.input)), kv(*ElementCount(c.kernel));
      for (auto& v : xv) v = IsUnsigned(dtype) ? small(rng) + 2 : small(rng);
      for (auto& v : kv) v = IsUnsigned(dtype) ? small(rng) + 2 : small(rng);
      const auto x = Fill(dtype, xv), k = Fill(dtype, kv);
      const int64_t n = *ElementCount(c.result) * DTypeSize(dtype);
      std::vector<std::byte> want(n), got(n), got_pool(n);
      ConvReference(dtype, c.Geometry(), x, k, want);
      Conv(dtype, c.Geometry(), x, k, got, nullptr);
      Conv(dtype, c.Geometry(), x, k, got_pool, &pool);
      VisitDType(dtype, [&](auto tag) {
        using T = decltype(tag);
        const auto w = As<T>(want), g = As<T>(got), gp = As<T>(got_pool);
        for (size_t i = 0; i < w.size(); ++i) {
          ASSERT_TRUE(Same(w[i], g[i])) << DTypeName(dtype) << " input " << ShapeString(c.input) << " kernel "
                                        << ShapeString(c.kernel) << " fg " << c.fg << " bg " << c.bg << " at " << i
                                        << ": " << Show(g[i]) << " vs " << Show(w[i]);
          ASSERT_TRUE(Same(w[i], gp[i])) << DTypeName(dtype) << " with a pool, at " << i;
        }
      });
    }
  }
}

// |got - want| within the f32 accumulation bound: k terms, each product
// rounded once and summed with k roundings, against the f64 reference.
void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, const std::vector<float>& mag,
                 int64_t k) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double bound = (k + 2) * 1.2e-7 * mag[i] + 1e-30;
    ASSERT_LE(std::fabs(static_cast<double>(got[i]) - want[i]), bound) << "at " << i;
  }
}

TEST(Conv, RandomRealsWithinTheAccumulationBound) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<double> real(-1, 1);
  ThreadPool pool(4);
  for (int trial = 0; trial < 20; ++trial) {
    const Case c = RandomCase(rng);
    std::vector<double> xv(*ElementCount(c.input)), kv(*ElementCount(c.kernel));
    for (auto& v : xv) v = real(rng);
    for (auto& v : kv) v = real(rng);
    std::vector<double> xa(xv), ka(kv);
    for (auto& v : xa) v = std::fabs(static_cast<float>(v));
    for (auto& v : ka) v = std::fabs(static_cast<float>(v));
    const int64_t n = *ElementCount(c.result) * 4;
    std::vector<std::byte> want(n), got(n), mag(n);
    ConvReference(DType::kF32, c.Geometry(), Fill(DType::kF32, xv), Fill(DType::kF32, kv), want);
    ConvReference(DType::kF32, c.Geometry(), Fill(DType::kF32, xa), Fill(DType::kF32, ka), mag);
    Conv(DType::kF32, c.Geometry(), Fill(DType::kF32, xv), Fill(DType::kF32, kv), got, &pool);
    int64_t k = c.kernel[1];
    for (size_t d = 2; d < c.kernel.size(); ++d) k *= c.kernel[d];
    ExpectClose(As<float>(got), As<float>(want), As<float>(mag), k);
  }
}

TEST(Conv, ManyChunksAndThreads) {
  // 64 channels x 3 x 3 = 576 rows of im2col: a chunk holds ~3600 of the
  // 2 x 64 x 64 output positions, so the product is split in three.
  Case c{{2, 64, 64, 64}, {16, 64, 3, 3}, {}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1, 1};
  c.result = ResultShape(c);
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> small(-2, 2);
  std::vector<double> xv(*ElementCount(c.input)), kv(*ElementCount(c.kernel));
  for (auto& v : xv) v = small(rng);
  for (auto& v : kv) v = small(rng);
  const int64_t n = *ElementCount(c.result) * 4;
  std::vector<std::byte> want(n), got(n);
  ThreadPool pool(4);
  ConvReference(DType::kF32, c.Geometry(), Fill(DType::kF32, xv), Fill(DType::kF32, kv), want);
  Conv(DType::kF32, c.Geometry(), Fill(DType::kF32, xv), Fill(DType::kF32, kv), got, &pool);
  EXPECT_EQ(As<float>(got), As<float>(want));
  EXPECT_LT(ConvScratchBytes(DType::kF32, c.kernel, c.result, 1, 1), int64_t{40} << 20);
}

// ---------------------------------------------------------------------------
// Programs.

void SetInts(google::protobuf::RepeatedField<int64_t>* f, const std::vector<int64_t>& v) {
  for (int64_t x : v) f->Add(x);
}

v1::Program ConvProgram(Shape input, Shape kernel, Shape result, const std::function<void(v1::Attributes&)>& attrs,
                        DType dtype = DType::kF32, DType kernel_dtype = DType::kF32) {
  ProgramBuilder b;
  const uint32_t x = b.Input(dtype, std::move(input));
  const uint32_t k = b.Input(kernel_dtype, std::move(kernel));
  auto& in = b.Add("conv", {x, k}, dtype, std::move(result));
  if (attrs) attrs(*in.mutable_attrs());
  b.Output(b.last());
  return b.program();
}

Status ValidateOnly(const v1::Program& p) {
  auto r = Validate(p, {});
  return r.ok() ? Status::Ok() : r.status();
}

void ExpectRejected(const v1::Program& p, ErrorCode code, const std::string& fragment) {
  const Status st = ValidateOnly(p);
  ASSERT_FALSE(st.ok()) << "accepted";
  EXPECT_EQ(st.code(), code) << st.ToString();
  EXPECT_EQ(st.instruction(), std::optional<int64_t>(0)) << st.ToString();
  EXPECT_NE(st.message().find(fragment), std::string::npos) << st.ToString();
}

TEST(ConvProgram, RunsThroughTheInterpreter) {
  // The batch-group case of KnownValuesFromBinaryBackend, as a program.
  auto prog = Validate(ConvProgram({2, 4, 5, 4}, {4, 4, 2, 2}, {1, 4, 5, 3},
                                   [](v1::Attributes& a) {
                                     SetInts(a.mutable_strides(), {1, 2});
                                     for (auto [lo, hi] : {std::pair{0, 1}, std::pair{1, 1}}) {
                                       auto* p = a.add_padding();
                                       p->set_lo(lo);
                                       p->set_hi(hi);
                                     }
                                     a.set_batch_group_size(2);
                                   }),
                       {});
  ASSERT_TRUE(prog.ok()) << prog.status().ToString();
  EXPECT_GT(prog->instructions[0].scratch_bytes, 0);
  const auto x = Fill(DType::kF32, Iota(160, 0.25, -3));
  const auto k = Fill(DType::kF32, Iota(64, 0.5, -1));
  ThreadPool pool(2);
  RunContext ctx;
  ctx.pool = &pool;
  auto outs = pelemay::Run(*prog, {{DType::kF32, {2, 4, 5, 4}, x}, {DType::kF32, {4, 4, 2, 2}, k}}, ctx);
  ASSERT_TRUE(outs.ok()) << outs.status().ToString();
  std::vector<float> got((*outs)[0].bytes.size() / 4);
  std::memcpy(got.data(), (*outs)[0].bytes.data(), (*outs)[0].bytes.size());
  ASSERT_EQ(got.size(), 60u);
  EXPECT_EQ(got[0], 222.0f);
  EXPECT_EQ(got[59], 3092.0f);
}

TEST(ConvProgram, ValidatorRejectsBadConvs) {
  const auto none = [](v1::Attributes&) {};
  EXPECT_TRUE(ValidateOnly(ConvProgram({1, 2, 5}, {3, 2, 2}, {1, 3, 4}, none)).ok());
  ExpectRejected(ConvProgram({1, 2, 5}, {3, 2, 2}, {1, 3, 4}, none, DType::kF32, DType::kF64),
                 ErrorCode::kInvalidArgument, "conv operands differ in dtype");
  ExpectRejected(ConvProgram({1, 2, 5}, {3, 2}, {1, 3}, none), ErrorCode::kInvalidArgument,
                 "input and kernel of one rank >= 2");
  ExpectRejected(
      ConvProgram({1, 2, 5}, {3, 2, 2}, {1, 3, 4}, [](v1::Attributes& a) { SetInts(a.mutable_strides(), {0}); }),
      ErrorCode::kInvalidArgument, "stride 0");
  ExpectRejected(
      ConvProgram({1, 2, 5}, {3, 2, 2}, {1, 3, 4}, [](v1::Attributes& a) { SetInts(a.mutable_input_dilation(), {0}); }),
      ErrorCode::kInvalidArgument, "input dilation 0");
  ExpectRejected(ConvProgram({1, 2, 5}, {3, 2, 2}, {1, 3, 4},
                             [](v1::Attributes& a) {
                               SetInts(a.mutable_kernel_dilation(), {1, 1});
                             }),
                 ErrorCode::kInvalidArgument, "needs 1 kernel dilation entries");
  ExpectRejected(ConvProgram({1, 2, 5}, {3, 2, 2}, {1, 3, 4},
                             [](v1::Attributes& a) {
                               auto* p = a.add_padding();
                               p->set_interior(1);
                             }),
                 ErrorCode::kInvalidArgument, "interior");
  ExpectRejected(ConvProgram({1, 2, 5}, {3, 2, 2}, {1, 3, 4}, [](v1::Attributes& a) { a.set_feature_group_size(0); }),
                 ErrorCode::kInvalidArgument, "group sizes must be in [1, 2^31]");
  ExpectRejected(ConvProgram({2, 2, 5}, {2, 1, 2}, {1, 2, 4},
                             [](v1::Attributes& a) {
                               a.set_feature_group_size(2);
                               a.set_batch_group_size(2);
                             }),
                 ErrorCode::kInvalidArgument, "not both");
  ExpectRejected(ConvProgram({1, 2, 5}, {3, 2, 2}, {1, 3, 4}, [](v1::Attributes& a) { a.set_feature_group_size(2); }),
                 ErrorCode::kInvalidArgument, "input has 2 channels, the kernel 2 x 2 feature groups");
  ExpectRejected(ConvProgram({1, 4, 5}, {3, 2, 2}, {1, 3, 4}, [](v1::Attributes& a) { a.set_feature_group_size(2); }),
                 ErrorCode::kInvalidArgument, "3 output channels do not split into 2 groups");
  ExpectRejected(ConvProgram({3, 2, 5}, {4, 2, 2}, {1, 4, 4}, [](v1::Attributes& a) { a.set_batch_group_size(2); }),
                 ErrorCode::kInvalidArgument, "batch of 3 does not split into 2 batch groups");
  ExpectRejected(ConvProgram({1, 2, 5}, {3, 2, 2}, {1, 3, 5}, none), ErrorCode::kInvalidArgument,
                 "produces f32[1, 3, 4]");
  ExpectRejected(
      ConvProgram({1, 2, 5}, {3, 2, 2}, {1, 3, 4}, [](v1::Attributes& a) { SetInts(a.mutable_axes(), {0}); }),
      ErrorCode::kInvalidArgument, "does not take the attribute 'axes'");
  ExpectRejected(ConvProgram({1, 2, 5}, {3, 2, 2}, {1, 3, 4},
                             [](v1::Attributes& a) { SetInts(a.mutable_window_dimensions(), {2}); }),
                 ErrorCode::kInvalidArgument, "does not take the attribute 'window_dimensions'");
}

TEST(ConvProgram, ScratchCountsAgainstTheMemoryBudget) {
  Limits tight;
  tight.memory_budget_bytes = int64_t{1} << 20;  // the GEMM alone may take 2 MiB
  auto r = Validate(ConvProgram({1, 2, 5}, {3, 2, 2}, {1, 3, 4}, [](v1::Attributes&) {}), tight);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted);
}

}  // namespace
}  // namespace pelemay::kernels

namespace pelemay::kernels {
namespace {

// Hostile conv attributes and shapes: rejected by the validator or run; the
// sanitizer builds catch any access outside a tensor.
TEST(ConvProgram, RandomAttributesAreRejectedOrRunSafely) {
  std::mt19937 rng(17);
  auto any = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  auto wild = [&]() -> int64_t {
    switch (any(0, 5)) {
      case 0: return -any(0, 3);
      case 1: return int64_t{1} << any(20, 62);
      case 2: return INT64_MIN;
      default: return any(0, 4);
    }
  };
  int ran = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    const int64_t sp = any(0, 2);
    Case c = RandomCase(rng);
    if (static_cast<int64_t>(c.input.size()) - 2 != sp) continue;
    auto maybe = [&](int64_t v) { return any(0, 9) == 0 ? wild() : v; };
    for (auto& v : c.strides) v = maybe(v);
    for (auto& v : c.lo) v = maybe(v);
    for (auto& v : c.hi) v = maybe(v);
    for (auto& v : c.input_dilation) v = maybe(v);
    for (auto& v : c.kernel_dilation) v = maybe(v);
    if (any(0, 9) == 0) c.fg = wild();
    if (any(0, 9) == 0) c.bg = wild();
    if (any(0, 9) == 0 && !c.kernel.empty()) c.kernel[any(0, static_cast<int64_t>(c.kernel.size()) - 1)] = any(0, 4);
    Shape result = c.result;
    if (any(0, 9) == 0 && !result.empty()) result[any(0, static_cast<int64_t>(result.size()) - 1)] = any(0, 4);
    const DType dtype = kAllDTypes[any(0, 13)];
    auto prog = Validate(ConvProgram(
                             c.input, c.kernel, result,
                             [&](v1::Attributes& a) {
                               SetInts(a.mutable_strides(), c.strides);
                               SetInts(a.mutable_input_dilation(), c.input_dilation);
                               SetInts(a.mutable_kernel_dilation(), c.kernel_dilation);
                               for (size_t d = 0; d < c.lo.size(); ++d) {
                                 auto* p = a.add_padding();
                                 p->set_lo(c.lo[d]);
                                 p->set_hi(c.hi[d]);
                               }
                               if (c.fg != 1) a.set_feature_group_size(c.fg);
                               if (c.bg != 1) a.set_batch_group_size(c.bg);
                             },
                             dtype, dtype),
                         {});
    if (!prog.ok()) {
      ASSERT_NE(prog.status().code(), ErrorCode::kInternal) << prog.status().ToString();
      continue;
    }
    const auto x = Fill(dtype, std::vector<double>(*ElementCount(c.input), 1));
    const auto k = Fill(dtype, std::vector<double>(*ElementCount(c.kernel), 1));
    auto outs = pelemay::Run(*prog, {{dtype, c.input, x}, {dtype, c.kernel, k}}, {});
    ASSERT_TRUE(outs.ok()) << outs.status().ToString();
    ++ran;
  }
  EXPECT_GT(ran, 100);
}

}  // namespace
}  // namespace pelemay::kernels
