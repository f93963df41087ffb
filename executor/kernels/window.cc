// Window reductions and scatters. Both walk, for each window, only the
// window elements that lie inside the operand: per axis the valid range of
// window indices is computed arithmetically, so a window as large as the
// operand (Nx's cumulative ops are built from such windows) costs its
// elements and nothing more, and no table of result x window entries is
// ever built.
#include "executor/kernels/window.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <limits>
#include <vector>

#include "executor/core/thread_pool.h"
#include "executor/kernels/scalar_ops.h"

namespace pelemay::kernels {
namespace {

// What a window accumulates in: BinaryBackend's Elixir numbers (WideType).
template <class T>
using Acc = WideType<T>;

template <class A, class T>
A Widen(T v) {
  if constexpr (kIsHalf<T>) return static_cast<A>(static_cast<float>(v));
  else return static_cast<A>(v);
}

template <class T, class A>
T Narrow(A v) {
  if constexpr (std::is_same_v<T, f16>) return F16FromDouble(static_cast<double>(v));
  else if constexpr (kIsHalf<T>) return T(static_cast<float>(v));
  else return static_cast<T>(v);
}

template <class A>
A Identity(OpCode op) {
  if (op == OpCode::window_sum) return A{0};
  if (op == OpCode::window_product) return A{1};
  if constexpr (kIsComplex<A>) {
    return A{};
  } else if constexpr (std::is_floating_point_v<A>) {
    return op == OpCode::window_max ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::infinity();
  } else {
    return op == OpCode::window_max ? std::numeric_limits<A>::lowest() : std::numeric_limits<A>::max();
  }
}

template <OpCode kOp, class A>
A Combine(A acc, A v) {
  if constexpr (kOp == OpCode::window_sum) {
    return ref::Binary<OpCode::add, A>(acc, v);
  } else if constexpr (kOp == OpCode::window_product) {
    if constexpr (kIsComplex<A>) {
      // Textbook product, as Elixir's Complex.multiply (no C99 Annex G
      // recovery of infinities).
      return {acc.real() * v.real() - acc.imag() * v.imag(), acc.real() * v.imag() + acc.imag() * v.real()};
    } else {
      return ref::Binary<OpCode::multiply, A>(acc, v);
    }
  } else if constexpr (kIsComplex<A>) {
    return acc;  // max/min do not accept complex (validator)
  } else if constexpr (kOp == OpCode::window_max) {
    return ref::Binary<OpCode::max, A>(acc, v);
  } else {
    return ref::Binary<OpCode::min, A>(acc, v);
  }
}

// For one window (given by its coordinates in the result), the input offset
// of its first valid element on each axis and the valid index range of the
// window along it. Returns false if the window has no element in the operand.
struct AxisRange {
  int64_t first = 0;  // input index of window index k0
  int64_t k0 = 0, k1 = 0;
};

class WindowWalker {
 public:
  explicit WindowWalker(const WindowGrid& g)
      : g_(g), rank_(g.operand.size()), in_strides_(rank_), ranges_(rank_), k_(rank_) {
    int64_t s = 1;
    for (size_t d = rank_; d-- > 0;) {
      in_strides_[d] = s;
      s *= g.operand[d];
    }
  }

  // Sets up the window at result coordinates `o`; false if it is empty.
  bool Start(std::span<const int64_t> o) {
    for (size_t d = 0; d < rank_; ++d) {
      const int64_t base = o[d] * g_.strides[d] - g_.pad_lo[d];  // input index of window index 0
      const int64_t dil = g_.dilations[d];
      // Smallest k with base + k * dil >= 0, largest with base + k * dil < dim.
      int64_t k0 = base >= 0 ? 0 : (-base + dil - 1) / dil;
      // A negative hi crops the operand's end; a window that hangs past the
      // padded end (Nx's truncated count allows one) sees the identity there.
      const int64_t end = std::min(g_.operand[d], g_.operand[d] + g_.pad_hi[d]);
      const int64_t last = end - 1 - base;  // k * dil <= last
      int64_t k1 = last < 0 ? 0 : last / dil + 1;
      k0 = std::max<int64_t>(k0, 0);
      k1 = std::min<int64_t>(k1, g_.window[d]);
      if (k0 >= k1) return false;
      ranges_[d] = {base + k0 * dil, k0, k1};
    }
    return true;
  }

  // Calls fn(offset) for each element of the started window in row-major
  // window order.
  template <class Fn>
  void ForEach(Fn&& fn) {
    if (rank_ == 0) {
      fn(int64_t{0});
      return;
    }
    std::vector<int64_t>& k = k_;  // reused: no allocation per window
    int64_t base = 0;
    for (size_t d = 0; d < rank_; ++d) {
      k[d] = ranges_[d].k0;
      base += ranges_[d].first * in_strides_[d];
    }
    const size_t last = rank_ - 1;
    const int64_t step = g_.dilations[last] * in_strides_[last];
    const int64_t n_last = ranges_[last].k1 - ranges_[last].k0;
    while (true) {
      for (int64_t j = 0; j < n_last; ++j) fn(base + j * step);
      // Advance the outer axes (odometer), keeping `base` in step.
      size_t d = last;
      while (d-- > 0) {
        const int64_t step_d = g_.dilations[d] * in_strides_[d];
        if (++k[d] < ranges_[d].k1) {
          base += step_d;
          break;
        }
        base -= (k[d] - 1 - ranges_[d].k0) * step_d;
        k[d] = ranges_[d].k0;
      }
      if (d == static_cast<size_t>(-1)) return;
    }
  }

 private:
  const WindowGrid& g_;
  size_t rank_;
  std::vector<int64_t> in_strides_;
  std::vector<AxisRange> ranges_;
  std::vector<int64_t> k_;  // the window index while walking
};

// Row-major coordinates of flat index i in `shape`.
void Unravel(int64_t i, const Shape& shape, std::vector<int64_t>& o) {
  for (size_t d = shape.size(); d-- > 0;) {
    o[d] = shape[d] == 0 ? 0 : i % shape[d];
    if (shape[d] != 0) i /= shape[d];
  }
}

void Increment(const Shape& shape, std::vector<int64_t>& o) {
  for (size_t d = shape.size(); d-- > 0;) {
    if (++o[d] < shape[d]) return;
    o[d] = 0;
  }
}

template <OpCode kOp, class T>
void WindowReduceTyped(const WindowGrid& g, const T* in, T* out, ThreadPool* pool) {
  using A = Acc<T>;
  const int64_t count = *ElementCount(g.result);
  int64_t window_elems = 1;
  for (int64_t w : g.window) window_elems *= std::max<int64_t>(w, 1);
  auto run = [&](int64_t begin, int64_t end) {
    WindowWalker walker(g);
    std::vector<int64_t> o(g.result.size());
    Unravel(begin, g.result, o);
    for (int64_t i = begin; i < end; ++i, Increment(g.result, o)) {
      A acc = Identity<A>(kOp);
      if (walker.Start(o)) walker.ForEach([&](int64_t off) { acc = Combine<kOp>(acc, Widen<A>(in[off])); });
      out[i] = Narrow<T>(acc);
    }
  };
  if (pool == nullptr || count * window_elems < (1 << 15)) {
    run(0, count);
    return;
  }
  pool->ParallelFor(count, std::max<int64_t>(1, (1 << 14) / window_elems), run);
}

template <class T>
T AddOut(T a, T b) {
  if constexpr (kIsHalf<T>) return T(static_cast<float>(a) + static_cast<float>(b));
  else return ref::Binary<OpCode::add, T>(a, b);
}

template <class T, class O>
void WindowScatterTyped(bool is_max, const WindowGrid& g, const T* tensor, const O* source, O init, O* out) {
  using C = ComputeType<T>;
  const int64_t n_out = *ElementCount(g.operand);
  std::fill(out, out + n_out, init);
  const int64_t windows = *ElementCount(g.result);
  WindowWalker walker(g);
  std::vector<int64_t> o(g.result.size(), 0);
  for (int64_t s = 0; s < windows; ++s, Increment(g.result, o)) {
    if (!walker.Start(o)) continue;
    int64_t chosen = -1;
    C best{};
    walker.ForEach([&](int64_t off) {
      const C v = static_cast<C>(tensor[off]);
      if (chosen < 0 || (is_max ? v >= best : v <= best)) {
        best = v;
        chosen = off;
      }
    });
    out[chosen] = AddOut(out[chosen], source[s]);
  }
}

}  // namespace

std::optional<int64_t> WindowCount(int64_t dim, int64_t lo, int64_t hi, int64_t window, int64_t stride,
                                   int64_t dilation) {
  if (stride < 1 || dilation < 1 || window < 0) return std::nullopt;
  auto padded = CheckedAdd(dim, lo);
  if (padded) padded = CheckedAdd(*padded, hi);
  const auto span = window == 0 ? std::optional<int64_t>(0) : CheckedMul(window - 1, dilation);
  if (!padded || !span) return std::nullopt;
  const auto eff = CheckedAdd(*span, window == 0 ? 0 : 1);
  const auto diff = eff ? CheckedAdd(*padded, -*eff) : std::nullopt;
  if (!diff) return std::nullopt;
  return *diff / stride + 1;  // truncated toward zero, as Elixir's div
}

void WindowReduce(OpCode op, DType dtype, const WindowGrid& grid, std::span<const std::byte> in,
                  std::span<std::byte> out, ThreadPool* pool) {
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* pin = reinterpret_cast<const T*>(in.data());
    T* pout = reinterpret_cast<T*>(out.data());
    switch (op) {
      case OpCode::window_sum: WindowReduceTyped<OpCode::window_sum>(grid, pin, pout, pool); break;
      case OpCode::window_product: WindowReduceTyped<OpCode::window_product>(grid, pin, pout, pool); break;
      case OpCode::window_max:
        if constexpr (!kIsComplex<T>) WindowReduceTyped<OpCode::window_max>(grid, pin, pout, pool);
        break;
      case OpCode::window_min:
        if constexpr (!kIsComplex<T>) WindowReduceTyped<OpCode::window_min>(grid, pin, pout, pool);
        break;
      default: break;
    }
  });
}

void WindowScatter(OpCode op, DType tensor_dtype, DType out_dtype, const WindowGrid& grid,
                   std::span<const std::byte> tensor, std::span<const std::byte> source,
                   std::span<const std::byte> init, std::span<std::byte> out) {
  const bool is_max = op == OpCode::window_scatter_max;
  VisitDType(tensor_dtype, [&](auto ttag) {
    using T = decltype(ttag);
    if constexpr (!kIsComplex<T>) {
      VisitDType(out_dtype, [&](auto otag) {
        using O = decltype(otag);
        if constexpr (!kIsComplex<O>) {
          O init_value;
          std::memcpy(&init_value, init.data(), sizeof(O));
          WindowScatterTyped<T, O>(is_max, grid, reinterpret_cast<const T*>(tensor.data()),
                                   reinterpret_cast<const O*>(source.data()), init_value,
                                   reinterpret_cast<O*>(out.data()));
        }
      });
    }
  });
}

}  // namespace pelemay::kernels
