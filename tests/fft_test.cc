// fft/ifft and the complex parts (real, imag, conjugate, phase).
//   * Known values computed with Nx.BinaryBackend (Nx 0.7.2): an odd-length
//     c64 FFT bit for bit, even lengths in f64, padding and cropping, a
//     leading axis.
//   * Every length 1..40 and 64, 100, 1000, 1024, 1030 (radix 2, the
//     direct DFT of odd factors, Bluestein) against a direct DFT in long
//     double: within 1e-11 of the largest magnitude for c128 results and
//     1e-6 for c64, both directions, with and without the thread pool.
//   * Every operand dtype widens exactly; the eps cleanup; the complex parts
//     with NaN and signed zeros.
//   * The validator's rules and rejections.
#include "executor/kernels/fft.h"

#include <cmath>
#include <complex>
#include <cstdint>
#include <numbers>
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
#include "executor/validate/validator.h"

namespace pelemay::kernels {
namespace {

using namespace pelemay::testing;  // NOLINT(google-build-using-namespace)

template <class Out, class T>
std::vector<Out> FftOf(OpCode op, const std::vector<T>& x, const Shape& shape, int64_t axis, int64_t length,
                       double eps = 1e-10, ThreadPool* pool = nullptr) {
  Shape out_shape = shape;
  out_shape[axis] = length;
  std::vector<Out> out(*ElementCount(out_shape));
  Fft(op, DTypeOf<T>::value, DTypeOf<Out>::value, shape, axis, length, eps, AsBytes(x), AsWritable(out), pool);
  return out;
}

// --- Known values (Nx.BinaryBackend) ---------------------------------------

TEST(FftKnown, OddLengthC64BitForBit) {
  // Nx.fft(Nx.tensor([1, 2, 3, 4, 5], type: :f32)) |> Nx.to_binary()
  const uint32_t want[] = {0x41700000, 0x00000000, 0xC0200000, 0x405C389A, 0xC0200000,
                           0x3F4FF2D8, 0xC0200000, 0xBF4FF2D8, 0xC0200000, 0xC05C389A};
  const auto got = FftOf<c64>(OpCode::fft, std::vector<float>{1, 2, 3, 4, 5}, {5}, 0, 5);
  for (int k = 0; k < 5; ++k) {
    EXPECT_EQ(Bits(got[k].real()), want[2 * k]) << k;
    EXPECT_EQ(Bits(got[k].imag()), want[2 * k + 1]) << k;
  }
}

void ExpectNear(const std::vector<c128>& got, const std::vector<c128>& want, double tol = 1e-13) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < got.size(); ++k) {
    EXPECT_NEAR(got[k].real(), want[k].real(), tol) << k;
    EXPECT_NEAR(got[k].imag(), want[k].imag(), tol) << k;
  }
}

TEST(FftKnown, EvenLengthF64) {
  ExpectNear(FftOf<c128>(OpCode::fft, std::vector<double>{1, 2, 3, 4, 5, 6}, {6}, 0, 6),
             {{21.0, 0.0},
              {-3.000000000000005, 5.196152422706631},
              {-3.0000000000000027, 1.7320508075688736},
              {-3.0, 0.0},
              {-2.9999999999999987, -1.7320508075688794},
              {-2.999999999999992, -5.196152422706634}});
}

TEST(FftKnown, IfftPadsWithZeros) {
  ExpectNear(FftOf<c128>(OpCode::ifft, std::vector<double>{1, 2, 3, 4}, {4}, 0, 6),
             {{1.6666666666666667, 0.0},
              {-0.5833333333333331, 0.7216878364870324},
              {0.41666666666666646, -0.14433756729740677},
              {-0.3333333333333333, 0.0},
              {0.4166666666666667, 0.14433756729740624},
              {-0.5833333333333336, -0.7216878364870315}});
}

TEST(FftKnown, LeadingAxisCropped) {
  // Nx.fft(Nx.tensor([[1, 2], [3, 4], [5, 6]], type: :f64), axis: 0, length: 2)
  ExpectNear(FftOf<c128>(OpCode::fft, std::vector<double>{1, 2, 3, 4, 5, 6}, {3, 2}, 0, 2),
             {{4, 0}, {6, 0}, {-2, 0}, {-2, 0}});
}

// --- Every length against a direct DFT -------------------------------------

std::vector<std::complex<long double>> Dft(const std::vector<c128>& x, bool inverse) {
  const auto n = static_cast<int64_t>(x.size());
  std::vector<std::complex<long double>> out(n);
  const long double sign = inverse ? 1 : -1;
  for (int64_t k = 0; k < n; ++k) {
    std::complex<long double> acc = 0;
    for (int64_t j = 0; j < n; ++j) {
      const long double theta = sign * 2 * std::numbers::pi_v<long double> * static_cast<long double>((j * k) % n) /
                                static_cast<long double>(n);
      acc += std::complex<long double>(x[j].real(), x[j].imag()) * std::polar(1.0L, theta);
    }
    out[k] = inverse ? acc / static_cast<long double>(n) : acc;
  }
  return out;
}

TEST(FftOracle, EveryLengthBothDirections) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(-1, 1);
  ThreadPool pool(4);
  std::vector<int64_t> lengths;
  for (int64_t n = 1; n <= 40; ++n) lengths.push_back(n);
  for (int64_t n : {64, 100, 1000, 1024, 1030}) lengths.push_back(n);
  for (int64_t n : lengths) {
    // (the long double oracle is O(n^2): one row for the long lengths)
    const int64_t rows = n > 100 ? 1 : 3;
    std::vector<c128> x(rows * n);
    for (auto& v : x) v = {u(rng), u(rng)};
    std::vector<c64> x64(x.begin(), x.end());
    for (bool inverse : {false, true}) {
      const OpCode op = inverse ? OpCode::ifft : OpCode::fft;
      const auto got = FftOf<c128>(op, x, {rows, n}, 1, n, 0.0, n % 2 == 0 ? &pool : nullptr);
      const auto got64 = FftOf<c64>(op, x64, {rows, n}, 1, n, 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        std::vector<c128> line(x.begin() + r * n, x.begin() + (r + 1) * n);
        std::vector<c128> line64(x64.begin() + r * n, x64.begin() + (r + 1) * n);
        const auto want = Dft(line, inverse);
        const auto want64 = Dft(line64, inverse);
        long double scale = 1;
        for (const auto& w : want) scale = std::max(scale, std::abs(w));
        for (int64_t k = 0; k < n; ++k) {
          const auto g = got[r * n + k];
          ASSERT_LE(std::abs(std::complex<long double>(g.real(), g.imag()) - want[k]), 1e-11L * scale)
              << "n " << n << (inverse ? " ifft" : " fft") << " row " << r << " k " << k;
          const auto g64 = got64[r * n + k];
          ASSERT_LE(std::abs(std::complex<long double>(g64.real(), g64.imag()) - want64[k]), 1e-6L * scale)
              << "c64 n " << n << (inverse ? " ifft" : " fft") << " row " << r << " k " << k;
        }
      }
    }
  }
}

// --- Operand dtypes, eps, complex parts --------------------------------------

template <class T>
void CheckWidens() {
  std::vector<T> x;
  for (int v : {1, 2, 3, 4, 5, 7}) {
    if constexpr (kIsHalf<T>) x.emplace_back(static_cast<float>(v));
    else if constexpr (kIsComplex<T>) x.emplace_back(static_cast<typename T::value_type>(v), 0);
    else x.push_back(static_cast<T>(v));
  }
  const auto want = FftOf<c128>(OpCode::fft, std::vector<double>{1, 2, 3, 4, 5, 7}, {6}, 0, 6);
  EXPECT_EQ(FftOf<c128>(OpCode::fft, x, {6}, 0, 6), want) << DTypeName(DTypeOf<T>::value);
}

TEST(FftOperands, EveryDTypeWidensExactly) {
  CheckWidens<int8_t>();
  CheckWidens<int16_t>();
  CheckWidens<int32_t>();
  CheckWidens<int64_t>();
  CheckWidens<uint8_t>();
  CheckWidens<uint16_t>();
  CheckWidens<uint32_t>();
  CheckWidens<uint64_t>();
  CheckWidens<f16>();
  CheckWidens<bf16>();
  CheckWidens<float>();
  CheckWidens<double>();
  CheckWidens<c64>();
  CheckWidens<c128>();
}

TEST(FftOperands, EpsCleansSmallComponentsToPositiveZero) {
  // fft([1, -1]) = [0, 2]: the 0 (and every -0.0) becomes +0.0; with eps 3
  // the 2 goes too.
  const auto a = FftOf<c128>(OpCode::fft, std::vector<double>{1, -1}, {2}, 0, 2, 0.0);
  EXPECT_EQ(Bits(a[0].real()), Bits(0.0));
  EXPECT_EQ(Bits(a[0].imag()), Bits(0.0));
  EXPECT_EQ(a[1], c128(2, 0));
  const auto b = FftOf<c128>(OpCode::fft, std::vector<double>{1, -1}, {2}, 0, 2, 3.0);
  EXPECT_EQ(b[1], c128(0, 0));
  // An empty operand axis pads to zeros.
  EXPECT_EQ(FftOf<c64>(OpCode::fft, std::vector<float>{}, {0}, 0, 3), std::vector<c64>(3));
}

TEST(ComplexParts, KnownValues) {
  const std::vector<c64> z = {{1, 2}, {-1, 0}, {0, -3}, {kNaNf, -0.0F}};
  std::vector<float> re(4), im(4), ph(4);
  std::vector<c64> conj(4);
  ComplexPart(OpCode::real, DType::kC64, AsBytes(z), AsWritable(re));
  ComplexPart(OpCode::imag, DType::kC64, AsBytes(z), AsWritable(im));
  ComplexPart(OpCode::phase, DType::kC64, AsBytes(z), AsWritable(ph));
  ComplexPart(OpCode::conjugate, DType::kC64, AsBytes(z), AsWritable(conj));
  EXPECT_EQ(re[0], 1.0F);
  EXPECT_TRUE(std::isnan(re[3]));
  EXPECT_EQ(im[2], -3.0F);
  EXPECT_EQ(Bits(im[3]), Bits(-0.0F));
  // Nx.phase(...) on Nx.BinaryBackend: 1.1071487665176392, pi, -pi/2 in f32.
  EXPECT_EQ(ph[0], 1.1071487665176392F);
  EXPECT_EQ(ph[1], 3.1415927410125732F);
  EXPECT_EQ(ph[2], -1.5707963705062866F);
  EXPECT_TRUE(std::isnan(ph[3]));
  EXPECT_EQ(conj[0], c64(1, -2));
  EXPECT_EQ(Bits(conj[1].imag()), Bits(-0.0F));
  EXPECT_EQ(Bits(conj[3].imag()), Bits(0.0F));
  const std::vector<c128> w = {{0.5, -0.25}};
  std::vector<double> w_im(1);
  ComplexPart(OpCode::imag, DType::kC128, AsBytes(w), AsWritable(w_im));
  EXPECT_EQ(w_im[0], -0.25);
}

// --- The validator's rules -------------------------------------------------

void ExpectRejected(const v1::Program& p, ErrorCode code, const std::string& fragment) {
  auto r = Validate(p, {});
  ASSERT_FALSE(r.ok()) << "accepted";
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_EQ(r.status().instruction(), 0) << r.status().ToString();
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().ToString();
}

v1::Program FftProgram(DType in, Shape in_shape, DType out, Shape out_shape, std::optional<int64_t> axis,
                       std::optional<int64_t> length, std::optional<double> eps = std::nullopt) {
  ProgramBuilder b;
  auto x = b.Input(in, in_shape);
  auto& i = b.Add("fft", {x}, out, out_shape);
  if (axis) i.mutable_attrs()->set_axis(*axis);
  if (length) i.mutable_attrs()->set_length(*length);
  if (eps) i.mutable_attrs()->set_eps(*eps);
  b.Output(b.last());
  return b.program();
}

TEST(FftValidator, AcceptsPaddingAlongAnyAxis) {
  auto r = Validate(FftProgram(DType::kS32, {3, 4}, DType::kC64, {3, 8}, 1, 8, 1e-10), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->instructions[0].length, 8);
  EXPECT_EQ(r->instructions[0].scratch_bytes, 3 * 8 * 384 + 8 * 17 * 16 + 1 * 16);  // lines, tables, odd part 1
  EXPECT_TRUE(Validate(FftProgram(DType::kF64, {3, 4}, DType::kC128, {2, 4}, 0, 2), {}).ok());
}

TEST(FftValidator, RejectsBadAttributes) {
  ExpectRejected(FftProgram(DType::kF32, {4}, DType::kC64, {4}, std::nullopt, 4), ErrorCode::kInvalidArgument,
                 "fft needs an axis");
  ExpectRejected(FftProgram(DType::kF32, {4}, DType::kC64, {4}, 1, 4), ErrorCode::kInvalidArgument,
                 "fft axis 1 is out of range for rank 1");
  ExpectRejected(FftProgram(DType::kF32, {4}, DType::kC64, {4}, 0, std::nullopt), ErrorCode::kInvalidArgument,
                 "fft needs a length");
  ExpectRejected(FftProgram(DType::kF32, {4}, DType::kC64, {0}, 0, 0), ErrorCode::kInvalidArgument,
                 "fft length 0 must be >= 1");
  ExpectRejected(FftProgram(DType::kF32, {4}, DType::kC64, {4}, 0, 4, -1.0), ErrorCode::kInvalidArgument,
                 "fft eps -1 must be finite and >= 0");
  ExpectRejected(FftProgram(DType::kF32, {4}, DType::kC64, {4}, 0, 4, kNaN), ErrorCode::kInvalidArgument,
                 "must be finite and >= 0");
  ExpectRejected(FftProgram(DType::kF32, {4}, DType::kC64, {4}, 0, 4, kInf), ErrorCode::kInvalidArgument,
                 "must be finite and >= 0");
  ExpectRejected(FftProgram(DType::kF32, {4}, DType::kF32, {4}, 0, 4), ErrorCode::kInvalidArgument,
                 "fft must produce a complex type, not f32");
  ExpectRejected(FftProgram(DType::kF32, {4}, DType::kC64, {4}, 0, 5), ErrorCode::kInvalidArgument,
                 "fft produces c64[5]");
}

TEST(FftValidator, HugeLengthsAreBoundedByTheMemoryBudget) {
  // A one-element operand asking for 2^40 results: refused before anything
  // is allocated.
  auto r = Validate(FftProgram(DType::kF32, {1}, DType::kC64, {int64_t{1} << 40}, 0, int64_t{1} << 40), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted) << r.status().ToString();
}

TEST(ComplexPartValidator, RealOperandsAreUnsupportedAndResultsTyped) {
  for (const char* op : {"real", "imag", "conjugate", "phase"}) {
    ProgramBuilder b;
    auto x = b.Input(DType::kF32, {2});
    b.Add(op, {x}, DType::kF32, {2});
    b.Output(b.last());
    ExpectRejected(b.program(), ErrorCode::kUnsupported, std::string(op) + " does not accept f32");
  }
  {
    ProgramBuilder b;
    auto x = b.Input(DType::kC128, {2});
    b.Add("real", {x}, DType::kF32, {2});
    b.Output(b.last());
    ExpectRejected(b.program(), ErrorCode::kInvalidArgument, "real produces f64[2]");
  }
  {
    ProgramBuilder b;
    auto x = b.Input(DType::kC64, {2});
    b.Add("conjugate", {x}, DType::kF32, {2});
    b.Output(b.last());
    ExpectRejected(b.program(), ErrorCode::kInvalidArgument, "conjugate produces c64[2]");
  }
}

}  // namespace
}  // namespace pelemay::kernels
