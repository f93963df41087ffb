// Batched GEMM. Floating types run the packed, register-blocked Highway kernel
// of gemm-inl.h on the best target of the CPU (f16/bf16 widen to f32 while
// packing and round once at the end); integers and complex numbers run a
// cache-blocked scalar loop. GemmReference is the naive oracle for tests.
#include "executor/kernels/gemm.h"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "executor/core/dtype.h"
#include "executor/core/thread_pool.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "executor/kernels/gemm.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "executor/kernels/gemm-inl.h"

HWY_BEFORE_NAMESPACE();
namespace pelemay::kernels::HWY_NAMESPACE {

// Non-template entry points for HWY_EXPORT, one per floating storage type.
void GemmF32(int64_t batch, int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c,
             ThreadPool* pool) {
  GemmFloat(batch, m, n, k, a, b, c, pool);
}
void GemmF64(int64_t batch, int64_t m, int64_t n, int64_t k, const double* a, const double* b, double* c,
             ThreadPool* pool) {
  GemmFloat(batch, m, n, k, a, b, c, pool);
}
void GemmF16(int64_t batch, int64_t m, int64_t n, int64_t k, const f16* a, const f16* b, f16* c, ThreadPool* pool) {
  GemmFloat(batch, m, n, k, a, b, c, pool);
}
void GemmBF16(int64_t batch, int64_t m, int64_t n, int64_t k, const bf16* a, const bf16* b, bf16* c, ThreadPool* pool) {
  GemmFloat(batch, m, n, k, a, b, c, pool);
}

}  // namespace pelemay::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace pelemay::kernels {

HWY_EXPORT(GemmF32);
HWY_EXPORT(GemmF64);
HWY_EXPORT(GemmF16);
HWY_EXPORT(GemmBF16);

namespace {

// What a scalar loop accumulates in. Integers use unsigned arithmetic, whose
// wraparound truncated to T is exactly two's-complement wraparound in T and
// never signed-overflow UB. 32 bits suffice below 64-bit types (the low bits
// of a product or sum do not depend on the high ones) and vectorise better;
// uint32_t is wide enough that uint16_t operands cannot promote to int.
template <class T>
struct FastAccOf {
  using type = ComputeType<T>;
};
template <class T>
requires kIsInt<T>
struct FastAccOf<T> {
  using type = std::conditional_t<(sizeof(T) <= 4), uint32_t, uint64_t>;
};

// The oracle's accumulator: 64-bit unsigned for every integer, no shortcuts.
template <class T>
struct RefAccOf {
  using type = ComputeType<T>;
};
template <class T>
requires kIsInt<T>
struct RefAccOf<T> {
  using type = uint64_t;
};

// acc + x * y. Complex products use the textbook formula (no C99 Annex G
// NaN recovery, as XLA and Nx.BinaryBackend), identically in both paths.
template <class Acc>
inline Acc MulAcc(Acc acc, Acc x, Acc y) {
  if constexpr (kIsComplex<Acc>) {
    return {acc.real() + (x.real() * y.real() - x.imag() * y.imag()),
            acc.imag() + (x.real() * y.imag() + x.imag() * y.real())};
  } else {
    return acc + x * y;
  }
}

// Integers convert modulo 2^bits, halves through their float conversion.
template <class Acc, class T>
inline Acc Widen(T v) {
  return static_cast<Acc>(v);
}

// Integers and complex: i-k-j order, so the inner loop streams a row of B
// and a row of accumulators. Columns are blocked so the k x jb slice of B
// reused by every row stays in L2 even when B does not.
template <class T>
void GemmScalar(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c, ThreadPool* pool) {
  using Acc = typename FastAccOf<T>::type;
  if (batch <= 0 || m <= 0 || n <= 0) return;
  constexpr int64_t kL2SliceBytes = 256 * 1024;
  const int64_t row_bytes = std::max<int64_t>(k, 1) * static_cast<int64_t>(sizeof(T));
  const int64_t slice = kL2SliceBytes / row_bytes;
  const int64_t jb = std::min(n, std::max<int64_t>(slice, 64));
  // Rows of all matrices form one index space, so small matrices in a big
  // batch still spread over the threads.
  auto rows = [&](int64_t r0, int64_t r1) {
    std::vector<Acc> acc(static_cast<size_t>(jb));
    for (int64_t j0 = 0; j0 < n; j0 += jb) {
      const int64_t cols = std::min(jb, n - j0);
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t bi = r / m;
        const T* arow = a + r * k;  // row i of matrix bi is row r overall
        const T* bmat = b + bi * k * n + j0;
        T* crow = c + r * n + j0;
        std::fill(acc.begin(), acc.begin() + cols, Acc{});
        for (int64_t p = 0; p < k; ++p) {
          const Acc x = Widen<Acc>(arow[p]);
          const T* brow = bmat + p * n;
          for (int64_t j = 0; j < cols; ++j) acc[j] = MulAcc(acc[j], x, Widen<Acc>(brow[j]));
        }
        for (int64_t j = 0; j < cols; ++j) crow[j] = static_cast<T>(acc[j]);
      }
    }
  };
  const int64_t total_rows = batch * m;
  if (pool == nullptr) {
    rows(0, total_rows);
    return;
  }
  const double row_ops = 2.0 * static_cast<double>(n) * std::max<int64_t>(k, 1);
  const auto grain = static_cast<int64_t>(1.0e6 / row_ops) + 1;
  pool->ParallelFor(total_rows, grain, rows);
}

template <class T>
const T* As(std::span<const std::byte> s) {
  return reinterpret_cast<const T*>(s.data());
}
template <class T>
T* As(std::span<std::byte> s) {
  return reinterpret_cast<T*>(s.data());
}

// The caller (validator and interpreter) guarantees the spans' sizes.
template <class T>
bool SizesFit(int64_t batch, int64_t m, int64_t n, int64_t k, std::span<const std::byte> a,
              std::span<const std::byte> b, std::span<std::byte> c) {
  const auto bytes = [](int64_t x, int64_t y, int64_t z) { return static_cast<size_t>(x * y * z) * sizeof(T); };
  return a.size() >= bytes(batch, m, k) && b.size() >= bytes(batch, k, n) && c.size() >= bytes(batch, m, n);
}

}  // namespace

void Gemm(DType dtype, int64_t batch, int64_t m, int64_t n, int64_t k, std::span<const std::byte> a,
          std::span<const std::byte> b, std::span<std::byte> c, ThreadPool* pool) {
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    assert(SizesFit<T>(batch, m, n, k, a, b, c));
    const T* pa = As<T>(a);
    const T* pb = As<T>(b);
    T* pc = As<T>(c);
    if constexpr (std::is_same_v<T, float>) {
      HWY_DYNAMIC_DISPATCH(GemmF32)(batch, m, n, k, pa, pb, pc, pool);
    } else if constexpr (std::is_same_v<T, double>) {
      HWY_DYNAMIC_DISPATCH(GemmF64)(batch, m, n, k, pa, pb, pc, pool);
    } else if constexpr (std::is_same_v<T, f16>) {
      HWY_DYNAMIC_DISPATCH(GemmF16)(batch, m, n, k, pa, pb, pc, pool);
    } else if constexpr (std::is_same_v<T, bf16>) {
      HWY_DYNAMIC_DISPATCH(GemmBF16)(batch, m, n, k, pa, pb, pc, pool);
    } else {
      GemmScalar(batch, m, n, k, pa, pb, pc, pool);
    }
  });
}

void GemmReference(DType dtype, int64_t batch, int64_t m, int64_t n, int64_t k, std::span<const std::byte> a,
                   std::span<const std::byte> b, std::span<std::byte> c) {
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    using Acc = typename RefAccOf<T>::type;
    assert(SizesFit<T>(batch, m, n, k, a, b, c));
    const T* pa = As<T>(a);
    const T* pb = As<T>(b);
    T* pc = As<T>(c);
    for (int64_t bi = 0; bi < batch; ++bi) {
      const T* am = pa + bi * m * k;
      const T* bm = pb + bi * k * n;
      T* cm = pc + bi * m * n;
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          Acc acc{};
          for (int64_t p = 0; p < k; ++p) acc = MulAcc(acc, Widen<Acc>(am[i * k + p]), Widen<Acc>(bm[p * n + j]));
          cm[i * n + j] = static_cast<T>(acc);
        }
      }
    }
  });
}

}  // namespace pelemay::kernels
#endif  // HWY_ONCE
