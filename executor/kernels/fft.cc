// Complex parts and FFTs: plain C++ in f64. The FFT follows Nx.BinaryBackend
// step for step (the same recursion, twiddle expressions and summation
// order), so results agree with it to the last bits of f64, and c64 results
// usually bit for bit.
#include "executor/kernels/fft.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <complex>
#include <numbers>
#include <optional>
#include <vector>

#include "executor/kernels/lines.h"

namespace pelemay::kernels {
namespace {

// Complex numbers in f64 with Elixir's Complex arithmetic: plain formulas, no
// C99 Annex G recovery of infinities (which std::complex's operator* does).
struct Z {
  double re = 0, im = 0;
};
Z operator+(Z a, Z b) { return {a.re + b.re, a.im + b.im}; }
Z operator-(Z a, Z b) { return {a.re - b.re, a.im - b.im}; }
Z operator*(Z a, Z b) { return {a.re * b.re - a.im * b.im, a.im * b.re + a.re * b.im}; }
Z Conj(Z a) { return {a.re, -a.im}; }
Z Polar(double theta) { return {std::cos(theta), std::sin(theta)}; }

// The twiddle factors of one transform length, computed once per kernel
// call and shared by every line (the lines' work is then arithmetic only).
// Each factor is computed from exactly the expression Nx.BinaryBackend
// evaluates, so results do not change.
class Plan {
 public:
  explicit Plan(int64_t n) : odd_(n) {
    int64_t levels = 0;
    while (odd_ > 1 && odd_ % 2 == 0) {
      odd_ /= 2;
      ++levels;
    }
    // The direct DFT of the odd leaves: from_polar(1, (-2 pi / m * k) * i).
    if (odd_ > 1) {
      dft_.resize(odd_ * odd_);
      const double minus_two_pi_over_n = -2 * std::numbers::pi / static_cast<double>(odd_);
      for (int64_t k = 0; k < odd_; ++k) {
        const double twiddle_phase = minus_two_pi_over_n * static_cast<double>(k);
        for (int64_t i = 0; i < odd_; ++i) dft_[k * odd_ + i] = Polar(twiddle_phase * static_cast<double>(i));
      }
    }
    // Radix-2 level of size s = odd << j: exp(-2 pi i k / s) for k < s/2.
    for (int64_t j = 1, size = odd_ * 2; j <= levels; ++j, size *= 2) {
      std::vector<Z> t(size / 2);
      for (int64_t k = 0; k < size / 2; ++k)
        t[k] = Polar(-2 * std::numbers::pi * static_cast<double>(k) / static_cast<double>(size));
      radix_.push_back(std::move(t));
    }
  }

  // Nx.BinaryBackend's fft_list_base: radix 2 while n is even, a direct DFT
  // of the odd part. `x` holds n values spaced `stride` apart; writes n
  // values to `out`. `tmp` has room for n values.
  void Run(const Z* x, int64_t stride, int64_t n, Z* out, Z* tmp) const {
    if (n == 1) {
      out[0] = x[0];
      return;
    }
    if (n % 2 != 0) {
      // Enum.reduce(&+/2): the first term, then each next one added. The
      // first term of each k > 0 is x[0] * from_polar(1, 0), exactly x[0].
      Z sum = x[0];
      for (int64_t i = 1; i < n; ++i) sum = x[i * stride] + sum;
      out[0] = sum;
      for (int64_t k = 1; k < n; ++k) {
        const Z* w = dft_.data() + k * n;
        Z acc = x[0];
        for (int64_t i = 1; i < n; ++i) acc = x[i * stride] * w[i] + acc;
        out[k] = acc;
      }
      return;
    }
    const int64_t half = n / 2;
    Z* even = tmp;
    Z* odd = tmp + half;
    // The halves' own scratch lives in `out`, which is free until the end.
    Run(x, 2 * stride, half, even, out);
    Run(x + stride, 2 * stride, half, odd, out);
    const Z* w = radix_[std::countr_zero(static_cast<uint64_t>(n / odd_)) - 1].data();
    for (int64_t k = 0; k < half; ++k) {
      const Z t = w[k] * odd[k];
      out[k] = even[k] + t;
      out[k + half] = even[k] - t;
    }
  }

  // Run into `data` itself (of the plan's length); `a`, `b` are scratch.
  void InPlace(std::vector<Z>& data, std::vector<Z>& a, std::vector<Z>& b) const {
    const auto n = static_cast<int64_t>(data.size());
    a.resize(n);
    b.resize(n);
    Run(data.data(), 1, n, a.data(), b.data());
    data.swap(a);
  }

 private:
  int64_t odd_;
  std::vector<Z> dft_;
  std::vector<std::vector<Z>> radix_;
};

bool IsPowerOfTwo(int64_t n) { return n >= 1 && (n & (n - 1)) == 0; }

// Nx.BinaryBackend's fft_list: its fft_list_base (Plan) for powers of two and
// lengths under 1024, else fft_bluestein: a convolution over m, the power
// of two at or above 2n - 1, with the chirp w[k] = exp(-pi i k^2 / n).
class Transform {
 public:
  explicit Transform(int64_t n) : n_(n), bluestein_(!IsPowerOfTwo(n) && n >= 1024) {
    if (!bluestein_) {
      plan_.emplace(n);
      return;
    }
    while (m_ < 2 * n - 1) m_ *= 2;
    plan_.emplace(m_);
    w_.resize(n);
    for (int64_t k = 0; k < n; ++k) {
      const auto kk = static_cast<double>(k) * static_cast<double>(k);  // exact below 2^26
      w_[k] = Polar(-std::numbers::pi * kk / static_cast<double>(n));
    }
    // fft of b = conj(w) ++ zeros ++ reverse(tl(conj(w))), the same for
    // every line.
    b_.assign(m_, Z{});
    for (int64_t k = 0; k < n; ++k) b_[k] = Conj(w_[k]);
    for (int64_t k = 1; k < n; ++k) b_[m_ - k] = Conj(w_[k]);
    std::vector<Z> s1, s2;
    plan_->InPlace(b_, s1, s2);
  }

  // Transforms `x` (n values) in place; s1, s2, a are the line's scratch.
  void Run(std::vector<Z>& x, std::vector<Z>& s1, std::vector<Z>& s2, std::vector<Z>& a) const {
    if (!bluestein_) {
      plan_->InPlace(x, s1, s2);
      return;
    }
    a.assign(m_, Z{});
    for (int64_t k = 0; k < n_; ++k) a[k] = w_[k] * x[k];
    plan_->InPlace(a, s1, s2);
    // ifft of the product: conj, fft, conj, / m.
    for (int64_t k = 0; k < m_; ++k) a[k] = Conj(a[k] * b_[k]);
    plan_->InPlace(a, s1, s2);
    const auto md = static_cast<double>(m_);
    for (int64_t k = 0; k < n_; ++k) {
      const Z c = Conj(a[k]);
      x[k] = Z{c.re / md, c.im / md} * w_[k];
    }
  }

 private:
  int64_t n_;
  bool bluestein_;
  int64_t m_ = 1;
  std::optional<Plan> plan_;
  std::vector<Z> w_, b_;
};

template <class T>
Z Load(const T& v) {
  if constexpr (kIsComplex<T>) return {static_cast<double>(v.real()), static_cast<double>(v.imag())};
  else if constexpr (kIsHalf<T>) return {static_cast<double>(static_cast<float>(v)), 0};
  else return {static_cast<double>(v), 0};
}

double Clean(double v, double eps) { return std::abs(v) <= eps ? 0.0 : v; }

template <class T, class Out>
void FftTyped(OpCode op, const Shape& shape, int64_t axis, int64_t length, double eps,
              std::span<const std::byte> in_bytes, std::span<std::byte> out_bytes, ThreadPool* pool) {
  const Lines lines(shape, axis);
  const int64_t n_in = lines.n, inner = lines.inner;
  const T* in = reinterpret_cast<const T*>(in_bytes.data());
  Out* out = reinterpret_cast<Out*>(out_bytes.data());
  using R = typename Out::value_type;
  const bool inverse = op == OpCode::ifft;
  if (lines.count() == 0) return;
  const Transform transform(length);
  auto run = [&](int64_t begin, int64_t end) {
    std::vector<Z> data, s1, s2, a;
    for (int64_t l = begin; l < end; ++l) {
      const int64_t o = l / inner, i = l % inner;
      data.assign(length, Z{});
      const int64_t copied = std::min(n_in, length);
      for (int64_t j = 0; j < copied; ++j) data[j] = Load(in[(o * n_in + j) * inner + i]);
      if (inverse)
        for (auto& z : data) z = Conj(z);
      transform.Run(data, s1, s2, a);
      const auto nd = static_cast<double>(length);
      for (int64_t j = 0; j < length; ++j) {
        Z z = data[j];
        if (inverse) z = Z{z.re / nd, -z.im / nd};
        out[(o * length + j) * inner + i] = Out(static_cast<R>(Clean(z.re, eps)), static_cast<R>(Clean(z.im, eps)));
      }
    }
  };
  // Work per line is O(length log length), O(length * 1023) at most (the
  // direct DFT of an odd factor).
  ForEachLineRange(lines.count(), std::max(n_in, length) * 16, pool, run);
}

}  // namespace

void ComplexPart(OpCode op, DType dtype, std::span<const std::byte> in, std::span<std::byte> out) {
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsComplex<T>) {
      using R = typename T::value_type;
      const T* x = reinterpret_cast<const T*>(in.data());
      const auto n = static_cast<int64_t>(in.size() / sizeof(T));
      if (op == OpCode::conjugate) {
        T* y = reinterpret_cast<T*>(out.data());
        for (int64_t i = 0; i < n; ++i) y[i] = T(x[i].real(), -x[i].imag());
        return;
      }
      R* y = reinterpret_cast<R*>(out.data());
      for (int64_t i = 0; i < n; ++i) {
        switch (op) {
          case OpCode::real: y[i] = x[i].real(); break;
          case OpCode::imag: y[i] = x[i].imag(); break;
          default:
            y[i] = static_cast<R>(std::atan2(static_cast<double>(x[i].imag()), static_cast<double>(x[i].real())));
        }
      }
    }
  });
}

void Fft(OpCode op, DType dtype, DType out_dtype, const Shape& shape, int64_t axis, int64_t length, double eps,
         std::span<const std::byte> in, std::span<std::byte> out, ThreadPool* pool) {
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    if (out_dtype == DType::kC64) FftTyped<T, c64>(op, shape, axis, length, eps, in, out, pool);
    else FftTyped<T, c128>(op, shape, axis, length, eps, in, out, pool);
  });
}

}  // namespace pelemay::kernels
