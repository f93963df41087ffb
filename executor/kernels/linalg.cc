// Linear algebra kernels. Plain f64 C++: the work is small dense matrices
// whose results must repeat Nx's own arithmetic, so the loops keep Nx's
// operation order (this file is compiled with -ffp-contract=off, so no fused
// multiply-add changes a rounding). See linalg.h.
#include "executor/kernels/linalg.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <type_traits>
#include <vector>

#include "executor/core/dtype.h"
#include "executor/core/half.h"
#include "executor/kernels/convert.h"

namespace pelemay::kernels {
namespace {

using Matrix = std::vector<double>;  // row-major

// Elements [offset, offset + dst.size()) of `t` as doubles (exact for every
// float dtype).
void Read(const ConstTensorView& t, int64_t offset, std::span<double> dst) {
  VisitDType(t.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* src = reinterpret_cast<const T*>(t.bytes.data()) + offset;
    for (size_t i = 0; i < dst.size(); ++i) {
      if constexpr (kIsHalf<T>) dst[i] = static_cast<double>(static_cast<float>(src[i]));
      else if constexpr (std::is_arithmetic_v<T>) dst[i] = static_cast<double>(src[i]);
      else dst[i] = static_cast<double>(src[i].real());
    }
  });
}

// Writes `src` at element `offset` of `t`, rounded once into its dtype with
// Nx's conversion rules.
void Write(const TensorView& t, int64_t offset, std::span<const double> src) {
  VisitDType(t.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* dst = reinterpret_cast<T*>(t.bytes.data()) + offset;
    for (size_t i = 0; i < src.size(); ++i) dst[i] = ConvertValue<T, double>(src[i]);
  });
}

using Complex = std::complex<double>;

constexpr double kInf = std::numeric_limits<double>::infinity();

// Complex elements [offset, offset + dst.size()) of `t` (a real dtype reads
// as x + 0i, as the complex library's as_complex makes it).
void Read(const ConstTensorView& t, int64_t offset, std::span<Complex> dst) {
  VisitDType(t.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* src = reinterpret_cast<const T*>(t.bytes.data()) + offset;
    for (size_t i = 0; i < dst.size(); ++i) {
      if constexpr (kIsHalf<T>) dst[i] = Complex(static_cast<double>(static_cast<float>(src[i])), 0.0);
      else if constexpr (std::is_arithmetic_v<T>) dst[i] = Complex(static_cast<double>(src[i]), 0.0);
      else dst[i] = Complex(static_cast<double>(src[i].real()), static_cast<double>(src[i].imag()));
    }
  });
}

void Write(const TensorView& t, int64_t offset, std::span<const Complex> src) {
  VisitDType(t.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* dst = reinterpret_cast<T*>(t.bytes.data()) + offset;
    for (size_t i = 0; i < src.size(); ++i) {
      // Each part rounds once to nearest (c64: f32 parts), as Nx writes them.
      if constexpr (kIsComplex<T>)
        dst[i] =
            T(static_cast<typename T::value_type>(src[i].real()), static_cast<typename T::value_type>(src[i].imag()));
      else dst[i] = ConvertValue<T, double>(src[i].real());
    }
  });
}

// Nx's arithmetic on one scalar type: plain IEEE for f64; for complex the
// formulas of the `complex` library Nx uses (Complex.multiply / divide),
// special cases included, so results carry the same bits (std::complex's
// operator* / operator/ use other formulas and differ in the last bits).
inline double NxMul(double x, double y, bool /*x_real*/) { return x * y; }
inline double NxDiv(double x, double y) { return x / y; }

// x * y with x from a (x_real: a was a real tensor, read as numbers).
inline Complex NxMul(Complex x, Complex y, bool x_real) {
  if (x_real) return {y.real() * x.real(), y.imag() * x.real()};  // multiply(number, complex)
  if (y.imag() == 0) return {y.real() * x.real(), y.real() * x.imag()};
  if (y.real() == 0) {
    const double p = x.imag() * y.imag();
    return {p == 0 ? 0.0 : -p, x.real() * y.imag()};
  }
  return {x.real() * y.real() - x.imag() * y.imag(), x.imag() * y.real() + x.real() * y.imag()};
}

inline Complex NxDiv(Complex x, Complex y) {
  const double r1 = x.real(), i1 = x.imag(), r2 = y.real(), i2 = y.imag();
  if (i2 == 0) return {r1 / r2, i1 / r2};
  if (r2 == 0) return {i1 / i2, -(r1 / i2)};
  const double den = r2 * r2 + i2 * i2;
  return {(r1 * r2 + i1 * i2) / den, (i1 * r2 - r1 * i2) / den};
}

// Products in Nx's arithmetic: IEEE for f64; the complex library's multiply
// for complex (both operands complex values).
inline double Mul(double x, double y) { return x * y; }
inline Complex Mul(Complex x, Complex y) { return NxMul(x, y, false); }
inline double Conj(double x) { return x; }
inline Complex Conj(Complex x) { return std::conj(x); }

int64_t BatchCount(const Shape& shape, size_t matrix_rank) {
  int64_t b = 1;
  for (size_t i = 0; i + matrix_rank < shape.size(); ++i) b *= shape[i];
  return b;
}

// ---------------------------------------------------------------------------
// triangular_solve, as Nx.BinaryBackend.Matrix.ts: the system is turned into
// a lower-triangular one (transposing and/or reversing a and b), solved by
// forward substitution one column of b at a time, and turned back.

template <class S>
Status TriangularSolveT(const LinAlgAttrs& o, const ConstTensorView& a, const ConstTensorView& b,
                        const TensorView& out) {
  using Mat = std::vector<S>;
  // Nx multiplies a real a's numbers into complex values as number * complex.
  const bool a_real = !IsComplex(a.dtype);
  const int64_t n = a.shape.back();
  const bool b_vector = b.shape.size() + 1 == a.shape.size();
  const int64_t rows = b_vector ? n : b.shape[b.shape.size() - 2];
  const int64_t cols = b_vector ? 1 : b.shape.back();
  const int64_t batches = BatchCount(a.shape, 2);

  const bool transpose_a = o.left_side == o.transpose_a;
  const bool reverse = o.left_side == (o.lower == o.transpose_a);
  const bool transpose_b = !o.left_side && !b_vector;
  const int64_t r2 = transpose_b ? cols : rows;  // == n
  const int64_t c2 = transpose_b ? rows : cols;

  Mat am(n * n), m(n * n), bm(rows * cols), b2(r2 * c2), y(r2 * c2);
  // Position in the transformed b (r2 x c2) of element (r, c) of b.
  auto to2 = [&](int64_t r, int64_t c) {
    int64_t p = transpose_b ? c : r, q = transpose_b ? r : c;
    if (reverse) p = r2 - 1 - p, q = c2 - 1 - q;
    return p * c2 + q;
  };
  for (int64_t batch = 0; batch < batches; ++batch) {
    Read(a, batch * n * n, am);
    Read(b, batch * rows * cols, bm);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const int64_t si = reverse ? n - 1 - i : i, sj = reverse ? n - 1 - j : j;
        m[i * n + j] = transpose_a ? am[sj * n + si] : am[si * n + sj];
      }
    if (c2 > 0)
      for (int64_t i = 0; i < n; ++i)
        if (m[i * n + i] == S{}) return InvalidArgument() << "triangular_solve: can't solve for singular matrix";
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) b2[to2(r, c)] = bm[r * cols + c];
    for (int64_t j = 0; j < c2; ++j)
      for (int64_t i = 0; i < r2; ++i) {
        S acc{};
        for (int64_t k = 0; k < i; ++k) acc = NxMul(m[i * n + k], y[k * c2 + j], a_real) + acc;
        y[i * c2 + j] = NxDiv(b2[i * c2 + j] - acc, m[i * n + i]);
      }
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) bm[r * cols + c] = y[to2(r, c)];
    Write(out, batch * rows * cols, bm);
  }
  return Status::Ok();
}

Status TriangularSolve(const LinAlgAttrs& o, const ConstTensorView& a, const ConstTensorView& b,
                       const TensorView& out) {
  if (IsComplex(out.dtype)) return TriangularSolveT<Complex>(o, a, b, out);
  return TriangularSolveT<double>(o, a, b, out);
}

// ---------------------------------------------------------------------------
// lu, as Nx.BinaryBackend.Matrix.lu: rows are first pivoted (largest |a[i][j]|
// of the original rows j.., the first one on ties), then a Doolittle
// factorisation without further pivoting. Values below eps become 0. Complex
// matrices (c64/c128) take the same steps in complex arithmetic, |z| being
// the complex library's modulus.

// Sort key of |x| in Erlang term order, as Enum.sort_by compares the values
// Nx reads (numbers < :infinity < :nan).
struct PivotKey {
  int rank;
  double v;
  bool operator>(const PivotKey& o) const { return rank != o.rank ? rank > o.rank : v > o.v; }
};
PivotKey KeyOf(double x) {
  if (std::isnan(x)) return {2, 0};
  if (std::isinf(x)) return {1, 0};
  return {0, std::fabs(x)};
}

// Complex.abs: :nan when both parts are NaN, :infinity when either part is
// not finite, else the modulus by its overflow-safe formula.
PivotKey KeyOf(Complex z) {
  const double x = std::fabs(z.real()), y = std::fabs(z.imag());
  if (std::isnan(x) && std::isnan(y)) return {2, 0};
  if (!std::isfinite(x) || !std::isfinite(y)) return {1, 0};
  if (x == 0.0) return {0, y};
  if (y == 0.0) return {0, x};
  if (x > y) return {0, x * std::sqrt(1.0 + y / x * (y / x))};
  return {0, y * std::sqrt(1.0 + x / y * (x / y))};
}

// abs(x) < eps, with :infinity and :nan never below it (atoms sort after
// numbers).
template <class S>
bool BelowEps(S x, double eps) {
  const PivotKey k = KeyOf(x);
  return k.rank == 0 && k.v < eps;
}

// The value Nx gives l[i][j] when u[j][j] is 0: :infinity when a_ij >= sum
// in Erlang term order, else :neg_infinity. Complex numbers are structs,
// which compare by their imaginary part first (keys in sorted order).
bool TermGreaterOrEqual(double a, double b) { return a >= b; }
bool TermGreaterOrEqual(Complex a, Complex b) {
  return a.imag() != b.imag() ? a.imag() > b.imag() : a.real() >= b.real();
}

// 0 * x as approximate_zeros computes it (the sign of x's zero parts kept).
double ZeroTimes(double x) { return 0.0 * x; }
Complex ZeroTimes(Complex x) { return {x.real() * 0.0, x.imag() * 0.0}; }

// Returns the number of row swaps; perm[i] = original row now at row i.
template <class S>
int64_t LuOne(const std::vector<S>& a_in, int64_t n, double eps, std::vector<int64_t>& perm, std::vector<S>& l,
              std::vector<S>& u) {
  std::vector<S> a = a_in;
  perm.resize(n);
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  int64_t swaps = 0;
  for (int64_t j = 0; j + 1 < n; ++j) {
    int64_t best = j;
    for (int64_t i = j + 1; i < n; ++i)
      if (KeyOf(a[i * n + j]) > KeyOf(a[best * n + j])) best = i;
    if (best != j) {
      std::swap(perm[j], perm[best]);
      std::swap_ranges(a.begin() + j * n, a.begin() + (j + 1) * n, a.begin() + best * n);
      ++swaps;
    }
  }
  l.assign(n * n, S{});
  u.assign(n * n, S{});
  for (int64_t j = 0; j < n; ++j) {
    l[j * n + j] = S{1.0};
    for (int64_t i = 0; i <= j; ++i) {
      S sum{};
      for (int64_t k = 0; k < i; ++k) sum = Mul(u[k * n + j], l[i * n + k]) + sum;
      const S value = a[i * n + j] - sum;
      u[i * n + j] = BelowEps(value, eps) ? S{} : value;
    }
    for (int64_t i = j + 1; i < n; ++i) {
      // Nx sums u[0..i)[j] * l[i][0..i): the terms past j are zeros.
      S sum{};
      for (int64_t k = 0; k < i; ++k) sum = Mul(u[k * n + j], l[i * n + k]) + sum;
      const S a_ij = a[i * n + j], u_jj = u[j * n + j];
      S value;
      if (u_jj != S{}) value = NxDiv(a_ij - sum, u_jj);
      else value = S{TermGreaterOrEqual(a_ij, sum) ? kInf : -kInf};
      l[i * n + j] = BelowEps(value, eps) ? S{} : value;
    }
  }
  // approximate_zeros: 0 * x keeps the sign of x.
  for (S& x : l)
    if (BelowEps(x, eps)) x = ZeroTimes(x);
  for (S& x : u)
    if (BelowEps(x, eps)) x = ZeroTimes(x);
  return swaps;
}

template <class S>
Status LuT(OpCode op, const LinAlgAttrs& o, const ConstTensorView& a, const TensorView& out) {
  const int64_t n = a.shape.back();
  const int64_t batches = BatchCount(a.shape, 2);
  std::vector<S> am(n * n), l, u, p(n * n);
  std::vector<int64_t> perm;
  for (int64_t batch = 0; batch < batches; ++batch) {
    Read(a, batch * n * n, am);
    LuOne(am, n, o.eps, perm, l, u);
    if (op == OpCode::lu_p) {
      // A = P.L.U: P is the transpose of the row permutation applied to A.
      std::fill(p.begin(), p.end(), S{});
      for (int64_t i = 0; i < n; ++i) p[perm[i] * n + i] = S{1.0};
      Write(out, batch * n * n, p);
    } else {
      Write(out, batch * n * n, op == OpCode::lu_l ? l : u);
    }
  }
  return Status::Ok();
}

Status Lu(OpCode op, const LinAlgAttrs& o, const ConstTensorView& a, const TensorView& out) {
  if (IsComplex(a.dtype)) return LuT<Complex>(op, o, a, out);
  return LuT<double>(op, o, a, out);
}

// ---------------------------------------------------------------------------
// determinant, as Nx.LinAlg.determinant's default: closed forms for 2x2 and
// 3x3, else the product of lu's diagonal with the permutation's sign (0 when
// a diagonal element is 0). Complex matrices in complex arithmetic.

template <class S>
Status DeterminantT(const ConstTensorView& a, const TensorView& out) {
  const int64_t n = a.shape.back();
  const int64_t batches = BatchCount(a.shape, 2);
  std::vector<S> am(n * n), l, u;
  std::vector<int64_t> perm;
  std::vector<S> det(1);
  for (int64_t batch = 0; batch < batches; ++batch) {
    Read(a, batch * n * n, am);
    auto at = [&](int64_t i, int64_t j) { return am[i * n + j]; };
    if (n == 2) {
      det[0] = Mul(at(0, 0), at(1, 1)) - Mul(at(0, 1), at(1, 0));
    } else if (n == 3) {
      det[0] = Mul(Mul(at(0, 0), at(1, 1)), at(2, 2)) + Mul(Mul(at(0, 1), at(1, 2)), at(2, 0)) +
               Mul(Mul(at(0, 2), at(1, 0)), at(2, 1)) - Mul(Mul(at(0, 2), at(1, 1)), at(2, 0)) -
               Mul(Mul(at(0, 1), at(1, 0)), at(2, 2)) - Mul(Mul(at(0, 0), at(1, 2)), at(2, 1));
    } else {
      const int64_t swaps = LuOne(am, n, 1e-10, perm, l, u);
      S prod{1.0};
      bool zero = false;
      for (int64_t i = 0; i < n; ++i) {
        const S d = Mul(l[i * n + i], u[i * n + i]);
        zero = zero || d == S{};
        prod = Mul(prod, d);
      }
      det[0] = zero ? S{} : (swaps % 2 == 0 ? prod : -prod);
    }
    Write(out, batch, det);
  }
  return Status::Ok();
}

Status Determinant(const ConstTensorView& a, const TensorView& out) {
  if (IsComplex(a.dtype)) return DeterminantT<Complex>(a, out);
  return DeterminantT<double>(a, out);
}

// ---------------------------------------------------------------------------
// cholesky, as Nx.LinAlg.Cholesky (Cholesky-Banachiewicz, reading the lower
// triangle): l[i][j] = (a[i][j] - sum) / (l[j][j] + eps), l[i][i] =
// sqrt(a[i][i] - sum); a matrix that is not positive definite gives NaN.
// Finally |x| <= eps becomes 0.

Status Cholesky(const LinAlgAttrs& o, const ConstTensorView& a, const TensorView& out) {
  const int64_t n = a.shape.back();
  const int64_t batches = BatchCount(a.shape, 2);
  Matrix am(n * n), l(n * n);
  for (int64_t batch = 0; batch < batches; ++batch) {
    Read(a, batch * n * n, am);
    std::fill(l.begin(), l.end(), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j <= i; ++j) {
        double sum = 0;
        for (int64_t k = 0; k < j; ++k) sum += l[i * n + k] * l[j * n + k];
        if (i == j) l[i * n + i] = std::sqrt(am[i * n + i] - sum);
        else l[i * n + j] = (am[i * n + j] - sum) / (l[j * n + j] + o.eps);
      }
    for (double& x : l)
      if (std::fabs(x) <= o.eps) x = 0.0;
    Write(out, batch * n * n, l);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// qr, as Nx.LinAlg.QR: Householder reflections H_i = I - scale v v^T with
// Nx's choice of v (so the signs of Q and R agree), R = H..H1 A, Q = H1..H.
// A wide matrix (m < n) is padded with zero rows to n x n first. |x| <= eps
// becomes 0; the result is the top-left block of the shape asked for
// (reduced or complete).

void QrOne(const Matrix& a_in, int64_t m_in, int64_t n_in, double eps, Matrix& q, Matrix& r, int64_t& m) {
  const bool wide = m_in < n_in;
  m = wide ? n_in : m_in;
  const int64_t n = n_in;
  const int64_t max_i = wide ? n - 1 : (m == n ? n - 2 : n - 1);
  r.assign(m * n, 0.0);
  std::copy(a_in.begin(), a_in.end(), r.begin());
  q.assign(m * m, 0.0);
  for (int64_t i = 0; i < m; ++i) q[i * m + i] = 1.0;
  std::vector<double> v(m), w(std::max(m, n));
  for (int64_t i = 0; i <= max_i; ++i) {
    // Nx computes |tail|^2 as |x|^2 - x_i^2, which cancels when the tail is
    // small; summing the tail gives the same value without that error.
    const double x_i = r[i * n + i];
    double norm_sq_1on = 0;
    for (int64_t k = i + 1; k < m; ++k) norm_sq_1on += r[k * n + i] * r[k * n + i];
    const double norm_sq = norm_sq_1on + x_i * x_i;
    const double norm = std::sqrt(norm_sq);
    const bool skip = norm_sq_1on < eps;
    const double v_0 = x_i <= 0 ? x_i - norm : -norm_sq_1on / (x_i + norm);
    const double div = skip ? 1.0 : v_0;
    for (int64_t k = 0; k < m; ++k) v[k] = k < i ? 0.0 : (k == i ? (skip ? 1.0 : v_0) : r[k * n + i]) / div;
    double v_sq = 0;
    for (int64_t k = i; k < m; ++k) v_sq += v[k] * v[k];
    const double scale = skip ? 0.0 : 2 / v_sq;
    if (scale == 0) continue;
    // R = H R, column by column.
    for (int64_t c = 0; c < n; ++c) {
      double dot = 0;
      for (int64_t k = i; k < m; ++k) dot += v[k] * r[k * n + c];
      for (int64_t k = i; k < m; ++k) r[k * n + c] -= scale * v[k] * dot;
    }
    // Q = Q H, row by row.
    for (int64_t row = 0; row < m; ++row) {
      double dot = 0;
      for (int64_t k = i; k < m; ++k) dot += q[row * m + k] * v[k];
      for (int64_t k = i; k < m; ++k) q[row * m + k] -= scale * dot * v[k];
    }
  }
  for (double& x : q)
    if (std::fabs(x) <= eps) x = 0.0;
  for (double& x : r)
    if (std::fabs(x) <= eps) x = 0.0;
}

Status Qr(OpCode op, const LinAlgAttrs& o, const ConstTensorView& a, const TensorView& out) {
  const int64_t m_in = a.shape[a.shape.size() - 2], n_in = a.shape.back();
  const int64_t batches = BatchCount(a.shape, 2);
  const int64_t out_rows = out.shape[out.shape.size() - 2], out_cols = out.shape.back();
  Matrix am(m_in * n_in), q, r, block(out_rows * out_cols);
  for (int64_t batch = 0; batch < batches; ++batch) {
    Read(a, batch * m_in * n_in, am);
    int64_t m = 0;
    QrOne(am, m_in, n_in, o.eps, q, r, m);
    const Matrix& full = op == OpCode::qr_q ? q : r;
    const int64_t full_cols = op == OpCode::qr_q ? m : n_in;
    for (int64_t i = 0; i < out_rows; ++i)
      for (int64_t j = 0; j < out_cols; ++j) block[i * out_cols + j] = full[i * full_cols + j];
    Write(out, batch * out_rows * out_cols, block);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// eigh, as Nx.BinaryBackend.Matrix.eigh: a symmetry check (|a - a^T| <= eps),
// Householder reduction to Hessenberg form, then unshifted QR iterations
// until Q changes by at most eps (or max_iter). Eigenvalues are the diagonal,
// in the order the iteration leaves them; values below eps become 0. The
// matrix products sum in Nx's order, so f64 results are Nx's bits.

// m1 (n x n) . m2 (n x n): each element summed from +0 over k = 0 upwards,
// as Nx does; the k-outer loop keeps that order for every element and lets
// the j loop run vectorised.
template <class S>
void MatMul(const std::vector<S>& m1, const std::vector<S>& m2, int64_t n, std::vector<S>& out) {
  out.assign(n * n, S{});
  for (int64_t i = 0; i < n; ++i) {
    S* o = &out[i * n];
    for (int64_t k = 0; k < n; ++k) {
      const S a = m1[i * n + k];
      const S* b = &m2[k * n];
      for (int64_t j = 0; j < n; ++j) o[j] = o[j] + Mul(a, b[j]);
    }
  }
}

// The products with a reflector h, which is the identity outside rows and
// columns >= pt, skip its identity part: every skipped term is an exact zero
// (0 * a finite value), which cannot change a sum that starts from +0, and a
// copied element x becomes x + 0 (-0 turns into +0, as in the full sum). So
// for finite data these equal Nx's full products bit for bit, in O(n (n-pt)^2).

// h . m
template <class S>
void ReflectLeft(const std::vector<S>& h, const std::vector<S>& m, int64_t n, int64_t pt, std::vector<S>& out) {
  out.assign(n * n, S{});
  for (int64_t i = 0; i < pt; ++i)
    for (int64_t j = 0; j < n; ++j) out[i * n + j] = m[i * n + j] + S{};
  for (int64_t i = pt; i < n; ++i) {
    S* o = &out[i * n];
    for (int64_t k = pt; k < n; ++k) {
      const S a = h[i * n + k];
      const S* b = &m[k * n];
      for (int64_t j = 0; j < n; ++j) o[j] = o[j] + Mul(a, b[j]);
    }
  }
}

// m . h
template <class S>
void ReflectRight(const std::vector<S>& m, const std::vector<S>& h, int64_t n, int64_t pt, std::vector<S>& out) {
  out.assign(n * n, S{});
  for (int64_t i = 0; i < n; ++i) {
    S* o = &out[i * n];
    for (int64_t j = 0; j < pt; ++j) o[j] = m[i * n + j] + S{};
    for (int64_t k = pt; k < n; ++k) {
      const S a = m[i * n + k];
      const S* b = &h[k * n];
      for (int64_t j = pt; j < n; ++j) o[j] = o[j] + Mul(a, b[j]);
    }
  }
}

// The n x n reflector for column slice `x` (the trailing x.size() rows), as
// Nx.BinaryBackend.Matrix.householder_reflector. Returns the first row and
// column that are not the identity's (n when h is the identity).
int64_t Reflector(std::span<const double> x, int64_t n, double eps, Matrix& h) {
  h.assign(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i) h[i * n + i] = 1.0;
  if (x.empty()) return n;
  double norm_sq = 0;
  for (double e : x) norm_sq = e * e + norm_sq;
  const double a_0 = x[0];
  const double norm_sq_1on = norm_sq - a_0 * a_0;
  if (norm_sq_1on < eps) return n;  // scale 0: the identity
  const double norm = std::sqrt(norm_sq);
  const double v_0 = a_0 <= 0 ? a_0 - norm : -norm_sq_1on / (a_0 + norm);
  const double v_0_sq = v_0 * v_0;
  const double scale = 2 * v_0_sq / (norm_sq_1on + v_0_sq);
  const int64_t pt = n - static_cast<int64_t>(x.size());
  std::vector<double> v(x.size());
  v[0] = 1;
  for (size_t k = 1; k < x.size(); ++k) v[k] = x[k] / v_0;
  for (int64_t row = pt; row < n; ++row)
    for (int64_t col = pt; col < n; ++col)
      h[row * n + col] = (row == col ? 1.0 : 0.0) - scale * v[row - pt] * v[col - pt];
  return pt;
}

// The complex branch of householder_reflector (householder_reflector_pivot
// for complex entries): u = x + e^(i phase(x_0)) |x| e_1, v = u / |u|,
// h = I - 2 v v^H. It has no eps shortcut: a zero column gives 0 / 0, NaN.
int64_t Reflector(std::span<const Complex> x, int64_t n, double /*eps*/, std::vector<Complex>& h) {
  h.assign(n * n, Complex{});
  for (int64_t i = 0; i < n; ++i) h[i * n + i] = 1.0;
  if (x.empty()) return n;
  auto abs_squared = [](Complex z) { return z.real() * z.real() + z.imag() * z.imag(); };
  double norm_sq_1on = 0;
  for (size_t k = 1; k < x.size(); ++k) norm_sq_1on = abs_squared(x[k]) + norm_sq_1on;
  const double norm = std::sqrt(norm_sq_1on + abs_squared(x[0]));
  const double phase = std::atan2(x[0].imag(), x[0].real());
  const Complex alfa(1.0 * std::cos(phase) * norm, 1.0 * std::sin(phase) * norm);
  const Complex u_0 = x[0] + alfa;
  const double norm_u = std::sqrt(norm_sq_1on + abs_squared(u_0));
  const int64_t pt = n - static_cast<int64_t>(x.size());
  std::vector<Complex> v(x.size());
  v[0] = NxDiv(u_0, Complex(norm_u, 0.0));
  for (size_t k = 1; k < x.size(); ++k) v[k] = NxDiv(x[k], Complex(norm_u, 0.0));
  for (int64_t row = pt; row < n; ++row)
    for (int64_t col = pt; col < n; ++col) {
      const Complex two_v = NxMul(Complex(2.0, 0.0), v[row - pt], true);
      h[row * n + col] = Complex(row == col ? 1.0 : 0.0, 0.0) - Mul(two_v, Conj(v[col - pt]));
    }
  return pt;
}

template <class S>
void ApproximateZeros(std::vector<S>& m, double eps) {
  for (S& x : m)
    if (BelowEps(x, eps)) x = ZeroTimes(x);
}

// |x - y| <= eps, or NaN (is_approximately_same?: a NaN difference counts as
// the same).
template <class S>
bool ApproximatelySame(S x, S y, double eps) {
  const PivotKey k = KeyOf(x - y);
  return k.rank == 2 || (k.rank == 0 && k.v <= eps);
}

template <class S>
Status EighOne(const std::vector<S>& a, int64_t n, const LinAlgAttrs& o, Matrix& values, std::vector<S>& vectors) {
  using Mat = std::vector<S>;
  const double eps = o.eps;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      if (!ApproximatelySame(Conj(a[j * n + i]), a[i * n + j], eps))
        return InvalidArgument() << "eigh: matrix must be hermitian, a matrix is hermitian iff X = adjoint(X)";
  Mat hess = a, q, h, t1, t2, col(n);
  // Hessenberg decomposition (for n == 1 Nx's reflectors are identities).
  for (int64_t i = 0; i + 2 <= n; ++i) {
    col.assign(n - i - 1, S{});
    for (int64_t k = i + 1; k < n; ++k) col[k - i - 1] = hess[k * n + i];
    const int64_t pt = Reflector(col, n, eps, h);
    if (i == 0) {
      q = h;
    } else {
      ReflectRight(q, h, n, pt, t1);
      q.swap(t1);
    }
    Mat h_adj(n * n);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < n; ++c) h_adj[r * n + c] = Conj(h[c * n + r]);
    ReflectLeft(h, hess, n, pt, t1);
    ReflectRight(t1, h_adj, n, pt, hess);
  }
  if (n < 2) {
    q.assign(n * n, S{1.0});
  }
  ApproximateZeros(hess, eps);
  ApproximateZeros(q, eps);

  // QR iterations.
  Mat a_cur = hess, q_cur = q, qq, rr, a_new, q_new;
  for (int64_t iter = 0; iter < o.max_iter; ++iter) {
    // qr_decomposition(a_cur, n, n, eps); n == 1 leaves a unchanged.
    rr = a_cur;
    qq.clear();
    for (int64_t i = 0; i + 2 <= n; ++i) {
      col.assign(n - i, S{});
      for (int64_t k = i; k < n; ++k) col[k - i] = rr[k * n + i];
      const int64_t pt = Reflector(col, n, eps, h);
      if (qq.empty()) {
        qq = h;
      } else {
        ReflectRight(qq, h, n, pt, t1);
        qq.swap(t1);
      }
      ReflectLeft(h, rr, n, pt, t2);
      rr.swap(t2);
    }
    if (qq.empty()) {
      qq.assign(n * n, S{});
      for (int64_t i = 0; i < n; ++i) qq[i * n + i] = S{1.0};
    }
    ApproximateZeros(qq, eps);
    ApproximateZeros(rr, eps);
    MatMul(rr, qq, n, a_new);
    MatMul(q_cur, qq, n, q_new);
    bool same = true;
    for (int64_t k = 0; k < n * n && same; ++k) same = ApproximatelySame(q_cur[k], q_new[k], eps);
    a_cur.swap(a_new);
    q_cur.swap(q_new);
    if (same) break;
  }
  // The eigenvalues of a hermitian matrix are real: the diagonal's real parts.
  values.resize(n);
  for (int64_t i = 0; i < n; ++i) values[i] = std::real(a_cur[i * n + i]);
  ApproximateZeros(values, eps);
  vectors = q_cur;
  ApproximateZeros(vectors, eps);
  return Status::Ok();
}

// A complex element with a NaN part is the complex library's :nan, which Nx
// writes as NaN + 0i.
void NanAsNx(std::vector<Complex>& m) {
  for (Complex& z : m)
    if (std::isnan(z.real()) || std::isnan(z.imag())) z = Complex(std::numeric_limits<double>::quiet_NaN(), 0.0);
}
void NanAsNx(Matrix&) {}

// Packed per matrix as n + 1 rows of n: the eigenvalues, then the vectors.
template <class S>
Status EighT(const LinAlgAttrs& o, const ConstTensorView& a, const TensorView& out) {
  const int64_t n = a.shape.back();
  const int64_t batches = BatchCount(a.shape, 2);
  std::vector<S> am(n * n), vectors, packed_values(n);
  Matrix values;
  for (int64_t batch = 0; batch < batches; ++batch) {
    Read(a, batch * n * n, am);
    PELEMAY_RETURN_IF_ERROR(EighOne(am, n, o, values, vectors));
    for (int64_t i = 0; i < n; ++i) packed_values[i] = S{values[i]};
    NanAsNx(packed_values);
    NanAsNx(vectors);
    Write(out, batch * (n + 1) * n, packed_values);
    Write(out, batch * (n + 1) * n + n, vectors);
  }
  return Status::Ok();
}

Status Eigh(const LinAlgAttrs& o, const ConstTensorView& a, const TensorView& out) {
  if (IsComplex(a.dtype)) return EighT<Complex>(o, a, out);
  return EighT<double>(o, a, out);
}

}  // namespace

Status LinAlg(OpCode op, const LinAlgAttrs& attrs, std::span<const ConstTensorView> args, const TensorView& out) {
  switch (op) {
    case OpCode::triangular_solve: return TriangularSolve(attrs, args[0], args[1], out);
    case OpCode::lu_p:
    case OpCode::lu_l:
    case OpCode::lu_u: return Lu(op, attrs, args[0], out);
    case OpCode::determinant: return Determinant(args[0], out);
    case OpCode::cholesky: return Cholesky(attrs, args[0], out);
    case OpCode::qr_q:
    case OpCode::qr_r: return Qr(op, attrs, args[0], out);
    case OpCode::eigh: return Eigh(attrs, args[0], out);
    default: return Internal() << "no linear-algebra kernel for " << GetOpInfo(op).name;
  }
}

int64_t LinAlgScratchBytes(OpCode op, int64_t rows, int64_t cols, int64_t b_elements) {
  // Whole-matrix f64 copies: a handful for the factorisations, more for eigh
  // (a, Hessenberg form, Q, H, products), plus b and its transform for
  // triangular_solve. Overflow saturates (the validator then refuses).
  const double mat = static_cast<double>(std::max(rows, cols)) * static_cast<double>(std::max(rows, cols));
  double copies = 4;
  if (op == OpCode::eigh) copies = 18;
  if (op == OpCode::lu_p || op == OpCode::lu_l || op == OpCode::lu_u || op == OpCode::determinant) copies = 5;
  const double bytes = 8 * (copies * mat + 3 * static_cast<double>(b_elements) + 2 * static_cast<double>(rows + cols));
  return bytes >= 9.0e18 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(bytes);
}

}  // namespace pelemay::kernels
