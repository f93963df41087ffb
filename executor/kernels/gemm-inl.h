// Per-target GEMM for the floating types (f32, f64, and f16/bf16 computed in
// f32), compiled once per Highway target through foreach_target.h by gemm.cc.
//
// Structure (Goto / BLIS, specialised to row-major C with the vector along n):
//   for jc over n in steps of NC:             C columns of one B block
//     for pc over k in steps of KC:
//       pack B[pc:pc+KC, jc:jc+NC] into panels NR wide (KC x NR each, k-major);
//       the block stays in L2 while every row panel of A streams past it
//       for ir over m in steps of MR:         (split across the thread pool)
//         pack A[ir:ir+MR, pc:pc+KC] k-major: the micro-panel lives in L1
//         for jr over the B panels:
//           micro-kernel: MR x NR tile of C in registers, one broadcast of A
//           times NR/Lanes vectors of B per row and k step (FMAs only)
// NR is two vectors, whatever a vector's length is (Lanes(d)), so the same
// code serves 128-bit NEON/SSE, 256-bit AVX2 and 512-bit AVX-512 or SVE.
// Tails in m use a micro-kernel compiled for exactly the rows left; tails in
// n compute into a small tile and copy the valid columns out.
// Two shapes leave that plan: with a single row panel (m <= MR, e.g. a
// vector times a matrix) B is read in place, since a packed panel would be
// used once; with n * 4 <= Lanes (e.g. a matrix times a vector) tiles would
// be mostly padding, so each output is a SIMD dot product along k instead.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "executor/core/buffer.h"
#include "executor/core/dtype.h"
#include "executor/core/thread_pool.h"

#if defined(PELEMAY_EXECUTOR_KERNELS_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PELEMAY_EXECUTOR_KERNELS_GEMM_INL_H_
#undef PELEMAY_EXECUTOR_KERNELS_GEMM_INL_H_
#else
#define PELEMAY_EXECUTOR_KERNELS_GEMM_INL_H_
#endif

#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace pelemay::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Rows of C per micro-tile (MR). The tile needs MR * kGemmVecs accumulator
// registers, plus kGemmVecs for B and one for the broadcast of A; the rest of
// the register file must not spill inside the k loop.
#if HWY_TARGET == HWY_SCALAR || HWY_TARGET == HWY_EMU128
inline constexpr size_t kGemmMR = 4;  // no real registers; keep code small
#elif HWY_ARCH_X86 && HWY_TARGET > HWY_AVX3
inline constexpr size_t kGemmMR = 6;  // SSSE3/SSE4/AVX2: 16 registers, 12 accumulators
#else
inline constexpr size_t kGemmMR = 12;  // AVX-512, NEON, SVE, RVV: 32 registers, 24 accumulators
#endif
// Vectors across a micro-tile: NR = kGemmVecs * Lanes(d).
inline constexpr size_t kGemmVecs = 2;

// Cache blocking, in elements. KC * MR (the A micro-panel, 12 KiB for f32 on
// AVX-512) stays in a 32 KiB L1 next to the streaming B lines; KC * NC (the
// packed B block) is 512 KiB, half of a 1 MiB L2, so C and A traffic do not
// evict it. Scaled by element size so f64 uses the same bytes. Measured on
// Zen 4: KC of 1.5 or 2 KiB, or NC of 256 or 1024, was no faster.
template <typename T>
inline constexpr size_t kGemmKC = 1024 / sizeof(T);  // 256 for f32, 128 for f64
template <typename T>
inline constexpr size_t kGemmNC = 512;
// Below this much work (2*m*n*k) a thread hand-off costs more than it saves.
inline constexpr double kGemmMinFlopsPerTask = 4.0e6;

// Applies X to every row index a micro-kernel may have; kGemmMR must not
// exceed the count.
#define PELEMAY_GEMM_FOR_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)
inline constexpr size_t kGemmMaxRows = 14;
static_assert(kGemmMR <= kGemmMaxRows);

// The register-blocked micro-kernel: C[kRows x kVecs*N] (+)= Apanel * Bpanel
// over kc steps. ap holds kGemmMR values per k step (only kRows are read); bp
// holds at least kVecs*N values per k step, b_step apart (a packed panel, or
// B itself when packing would not pay). Accumulators are named variables,
// not an array, because scalable vectors (SVE, RVV) cannot be array elements.
// Rows >= kRows are dead code and vanish.
template <size_t kRows, size_t kVecs, class D, typename T = hn::TFromD<D>>
HWY_NOINLINE void GemmMicroKernel_MRxNR(D d, size_t kc, const T* HWY_RESTRICT ap, const T* HWY_RESTRICT bp,
                                        size_t b_step, T* HWY_RESTRICT c, size_t ldc, bool accumulate) {
  static_assert(kRows >= 1 && kRows <= kGemmMR && kVecs >= 1 && kVecs <= kGemmVecs);
  const size_t N = hn::Lanes(d);
#define PELEMAY_GEMM_DECLARE(i)  \
  auto acc##i##_0 = hn::Zero(d); \
  auto acc##i##_1 = hn::Zero(d);
  PELEMAY_GEMM_FOR_ROWS(PELEMAY_GEMM_DECLARE)
#undef PELEMAY_GEMM_DECLARE

  for (size_t p = 0; p < kc; ++p) {
    const auto b0 = hn::LoadU(d, bp);
    auto b1 = b0;
    if constexpr (kVecs > 1) b1 = hn::LoadU(d, bp + N);
#define PELEMAY_GEMM_FMA(i)                                              \
  if constexpr (kRows > (i)) {                                           \
    const auto a = hn::Set(d, ap[i]);                                    \
    acc##i##_0 = hn::MulAdd(a, b0, acc##i##_0);                          \
    if constexpr (kVecs > 1) acc##i##_1 = hn::MulAdd(a, b1, acc##i##_1); \
  }
    PELEMAY_GEMM_FOR_ROWS(PELEMAY_GEMM_FMA)
#undef PELEMAY_GEMM_FMA
    ap += kGemmMR;
    bp += b_step;
  }

#define PELEMAY_GEMM_STORE(i)                                                  \
  if constexpr (kRows > (i)) {                                                 \
    T* HWY_RESTRICT row = c + (i)*ldc;                                         \
    if (accumulate) acc##i##_0 = hn::Add(hn::LoadU(d, row), acc##i##_0);       \
    hn::StoreU(acc##i##_0, d, row);                                            \
    if constexpr (kVecs > 1) {                                                 \
      if (accumulate) acc##i##_1 = hn::Add(hn::LoadU(d, row + N), acc##i##_1); \
      hn::StoreU(acc##i##_1, d, row + N);                                      \
    }                                                                          \
  }
  PELEMAY_GEMM_FOR_ROWS(PELEMAY_GEMM_STORE)
#undef PELEMAY_GEMM_STORE
}

template <class D, typename T = hn::TFromD<D>>
using GemmKernelFn = void (*)(D, size_t, const T*, const T*, size_t, T*, size_t, bool);

// kernels[rows - 1] computes exactly `rows` rows, kVecs vectors wide.
template <size_t kVecs, class D, size_t... kIdx>
constexpr std::array<GemmKernelFn<D>, sizeof...(kIdx)> GemmKernelTable(std::index_sequence<kIdx...>) {
  return {&GemmMicroKernel_MRxNR<kIdx + 1, kVecs, D>...};
}

// Packs rows [0, mr) x columns [0, kc) of A (row stride lda) k-major with
// kGemmMR values per k step, widening S to the compute type T.
template <typename T, typename S>
HWY_INLINE void GemmPackA(const S* HWY_RESTRICT a, size_t lda, size_t mr, size_t kc, T* HWY_RESTRICT ap) {
  for (size_t i = 0; i < mr; ++i) {
    const S* HWY_RESTRICT row = a + i * lda;
    T* HWY_RESTRICT out = ap + i;
    for (size_t p = 0; p < kc; ++p) out[p * kGemmMR] = static_cast<T>(row[p]);
  }
}

// Packs B[0:kc, 0:nc] (row stride ldb) into ceil(nc / NR) panels of kc x NR,
// panel q starting at bp + q * kc * NR, columns past nc zero. Only panels
// [q0, q1) are written so threads can share the work.
template <class D, typename T = hn::TFromD<D>, typename S>
HWY_INLINE void GemmPackB(D d, const S* HWY_RESTRICT b, size_t ldb, size_t kc, size_t nc, size_t q0, size_t q1,
                          T* HWY_RESTRICT bp) {
  const size_t N = hn::Lanes(d);
  const size_t NR = kGemmVecs * N;
  for (size_t q = q0; q < q1; ++q) {
    const size_t j0 = q * NR;
    const size_t cols = std::min(NR, nc - j0);
    T* HWY_RESTRICT panel = bp + q * kc * NR;
    const S* HWY_RESTRICT src = b + j0;
    if constexpr (std::is_same_v<S, T>) {
      if (cols == NR) {
        for (size_t p = 0; p < kc; ++p) {
          for (size_t v = 0; v < kGemmVecs; ++v)
            hn::StoreU(hn::LoadU(d, src + p * ldb + v * N), d, panel + p * NR + v * N);
        }
        continue;
      }
    }
    for (size_t p = 0; p < kc; ++p) {
      const S* row = src + p * ldb;
      T* out = panel + p * NR;
      for (size_t j = 0; j < cols; ++j) out[j] = static_cast<T>(row[j]);
      for (size_t j = cols; j < NR; ++j) out[j] = T{0};
    }
  }
}

// Working memory of one thread, grown on demand and reused over a batch.
template <typename T>
class GemmScratch {
 public:
  T* b_block(size_t count) { return Reserve(b_block_, count); }  // packed B block
  T* a_panel(size_t count) { return Reserve(a_panel_, count); }  // packed A micro-panel
  T* tile(size_t count) { return Reserve(tile_, count); }        // a right-edge tile of C
  T* c_block(size_t count) { return Reserve(c_block_, count); }  // C in T for narrow storage
  T* row(size_t count) { return Reserve(row_, count); }          // one row of A in T

 private:
  static T* Reserve(Buffer& buf, size_t count) {
    const auto bytes = static_cast<int64_t>(count * sizeof(T));
    if (buf.size() < bytes) buf = Buffer(bytes);
    return reinterpret_cast<T*>(buf.bytes().data());
  }
  Buffer b_block_, a_panel_, tile_, c_block_, row_;
};

// Where the micro-kernels find B for one block: panel q is packed at
// packed + q * kc * NR, unless `direct` is set and the panel is full width,
// in which case it is read in place at direct + q * NR, ldb apart.
template <typename T>
struct GemmBlockB {
  const T* packed;
  const T* direct;  // null: every panel is packed
  size_t ldb;
};

// C rows [r0, r1) x B panels [q0, q1) of one block of kc x nc: the two inner
// loops. c points at column 0 of the block (row stride ldc); a at A[0][pc].
template <class D, typename T = hn::TFromD<D>, typename S>
void GemmMacroKernel(D d, const S* HWY_RESTRICT a, size_t lda, size_t r0, size_t r1, size_t kc, const GemmBlockB<T>& b,
                     size_t nc, size_t q0, size_t q1, T* HWY_RESTRICT c, size_t ldc, bool accumulate,
                     T* HWY_RESTRICT a_panel, T* HWY_RESTRICT tile) {
  static constexpr auto kFull = GemmKernelTable<kGemmVecs, D>(std::make_index_sequence<kGemmMR>());
  static constexpr auto kHalf = GemmKernelTable<1, D>(std::make_index_sequence<kGemmMR>());
  const size_t N = hn::Lanes(d);
  const size_t NR = kGemmVecs * N;
  for (size_t ir = r0; ir < r1; ir += kGemmMR) {
    const size_t mr = std::min(kGemmMR, r1 - ir);
    GemmPackA(a + ir * lda, lda, mr, kc, a_panel);
    for (size_t q = q0; q < q1; ++q) {
      const size_t j = q * NR;
      const size_t nr = std::min(NR, nc - j);
      T* ct = c + ir * ldc + j;
      if (nr == NR) {
        if (b.direct != nullptr) {
          kFull[mr - 1](d, kc, a_panel, b.direct + j, b.ldb, ct, ldc, accumulate);
        } else {
          kFull[mr - 1](d, kc, a_panel, b.packed + q * kc * NR, NR, ct, ldc, accumulate);
        }
        continue;
      }
      // Right edge: compute the whole (zero-padded) width into the tile and
      // copy what belongs to C. One vector suffices when nr fits in it.
      (nr <= N ? kHalf : kFull)[mr - 1](d, kc, a_panel, b.packed + q * kc * NR, NR, tile, NR, false);
      for (size_t i = 0; i < mr; ++i) {
        T* HWY_RESTRICT out = ct + i * ldc;
        const T* HWY_RESTRICT in = tile + i * NR;
        if (accumulate) {
          for (size_t jj = 0; jj < nr; ++jj) out[jj] += in[jj];
        } else {
          for (size_t jj = 0; jj < nr; ++jj) out[jj] = in[jj];
        }
      }
    }
  }
}

// C rows [r0, r1) of a matrix with few columns (n * 4 <= Lanes, e.g. a
// matrix-vector product): a tile would waste most lanes, so each element is a
// dot product along k of a row of A, read in place, and a column of B,
// transposed once into bt (n x k).
template <class D, typename T = hn::TFromD<D>, typename S>
void GemmSkinnyRows(D d, const S* HWY_RESTRICT a, const T* HWY_RESTRICT bt, S* HWY_RESTRICT c, size_t r0, size_t r1,
                    size_t n, size_t k, T* HWY_RESTRICT row_buf) {
  const size_t N = hn::Lanes(d);
  for (size_t i = r0; i < r1; ++i) {
    const T* HWY_RESTRICT ar;
    if constexpr (std::is_same_v<S, T>) {
      ar = a + i * k;
    } else {
      for (size_t p = 0; p < k; ++p) row_buf[p] = static_cast<T>(a[i * k + p]);
      ar = row_buf;
    }
    for (size_t j = 0; j < n; ++j) {
      const T* HWY_RESTRICT br = bt + j * k;
      // Four independent sums hide the FMA latency.
      auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
      size_t p = 0;
      for (; p + 4 * N <= k; p += 4 * N) {
        s0 = hn::MulAdd(hn::LoadU(d, ar + p), hn::LoadU(d, br + p), s0);
        s1 = hn::MulAdd(hn::LoadU(d, ar + p + N), hn::LoadU(d, br + p + N), s1);
        s2 = hn::MulAdd(hn::LoadU(d, ar + p + 2 * N), hn::LoadU(d, br + p + 2 * N), s2);
        s3 = hn::MulAdd(hn::LoadU(d, ar + p + 3 * N), hn::LoadU(d, br + p + 3 * N), s3);
      }
      for (; p + N <= k; p += N) s0 = hn::MulAdd(hn::LoadU(d, ar + p), hn::LoadU(d, br + p), s0);
      T sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
      for (; p < k; ++p) sum += ar[p] * br[p];
      c[i * n + j] = static_cast<S>(sum);
    }
  }
}

template <typename S, typename T = ComputeType<S>>
void GemmSkinnyMatrix(const S* HWY_RESTRICT a, const S* HWY_RESTRICT b, S* HWY_RESTRICT c, size_t m, size_t n, size_t k,
                      ThreadPool* pool, GemmScratch<T>& scratch) {
  const hn::ScalableTag<T> d;
  T* bt = scratch.b_block(n * k);
  for (size_t p = 0; p < k; ++p)
    for (size_t j = 0; j < n; ++j) bt[j * k + p] = static_cast<T>(b[p * n + j]);
  const double row_flops = 2.0 * static_cast<double>(n) * k;
  if (pool == nullptr || pool->threads() == 1 || m * row_flops < 2 * kGemmMinFlopsPerTask) {
    GemmSkinnyRows(d, a, bt, c, 0, m, n, k, scratch.row(k));
    return;
  }
  const auto grain = static_cast<int64_t>(kGemmMinFlopsPerTask / row_flops) + 1;
  pool->ParallelFor(static_cast<int64_t>(m), grain, [&](int64_t r0, int64_t r1) {
    Buffer row_buf(std::is_same_v<S, T> ? 0 : static_cast<int64_t>(k * sizeof(T)));
    GemmSkinnyRows(d, a, bt, c, static_cast<size_t>(r0), static_cast<size_t>(r1), n, k,
                   reinterpret_cast<T*>(row_buf.bytes().data()));
  });
}

// One matrix: C (m x n) = A (m x k) * B (k x n), storage type S, computing in
// T. pool may be null; otherwise each packed B block is shared by all threads
// and the rows (or, when there are too few, the B panels) are split.
template <typename S, typename T = ComputeType<S>>
void GemmFloatMatrix(const S* HWY_RESTRICT a, const S* HWY_RESTRICT b, S* HWY_RESTRICT c, size_t m, size_t n, size_t k,
                     ThreadPool* pool, GemmScratch<T>& scratch) {
  const hn::ScalableTag<T> d;
  const size_t N = hn::Lanes(d);
  const size_t NR = kGemmVecs * N;
  constexpr bool kNarrow = !std::is_same_v<S, T>;
  if (k == 0) {
    std::fill(c, c + m * n, static_cast<S>(T{0}));
    return;
  }
  if (n * 4 <= N) return GemmSkinnyMatrix(a, b, c, m, n, k, pool, scratch);

  const size_t row_panels = (m + kGemmMR - 1) / kGemmMR;
  // A packed B panel pays off by being reused for every row panel of A. With
  // a single row panel (a few rows, e.g. a vector-matrix product) the kernels
  // read full-width panels of B in place and only the ragged edge is packed.
  const bool pack_b = kNarrow || row_panels > 1;
  const bool threaded = pool != nullptr && pool->threads() > 1;
  T* const b_block = scratch.b_block(std::min(kGemmKC<T>, k) * ((std::min(kGemmNC<T>, n) + NR - 1) / NR) * NR);
  T* const a_panel = scratch.a_panel(std::min(kGemmKC<T>, k) * kGemmMR);
  T* const tile = scratch.tile(kGemmMR * NR);
  T* const c_narrow = kNarrow ? scratch.c_block(m * std::min(kGemmNC<T>, n)) : nullptr;

  for (size_t jc = 0; jc < n; jc += kGemmNC<T>) {
    const size_t nc = std::min(kGemmNC<T>, n - jc);
    const size_t panels = (nc + NR - 1) / NR;
    const size_t first_packed = pack_b ? 0 : nc / NR;
    // Narrow storage accumulates the block in T and rounds once at the end.
    T* c_blk;
    size_t ldc;
    if constexpr (kNarrow) {
      c_blk = c_narrow;
      ldc = nc;
    } else {
      c_blk = c + jc;
      ldc = n;
    }
    for (size_t pc = 0; pc < k; pc += kGemmKC<T>) {
      const size_t kc = std::min(kGemmKC<T>, k - pc);
      const S* a_blk = a + pc;
      const S* b_src = b + pc * n + jc;
      GemmBlockB<T> bview{b_block, nullptr, n};
      if constexpr (!kNarrow) {
        if (!pack_b) bview.direct = b_src;
      }
      const double block_flops = 2.0 * static_cast<double>(m) * nc * kc;
      const bool split = threaded && block_flops >= 2 * kGemmMinFlopsPerTask;
      if (!split) {
        GemmPackB(d, b_src, n, kc, nc, first_packed, panels, b_block);
        GemmMacroKernel(d, a_blk, k, 0, m, kc, bview, nc, 0, panels, c_blk, ldc, pc > 0, a_panel, tile);
        continue;
      }
      if (first_packed < panels) {
        pool->ParallelFor(static_cast<int64_t>(panels - first_packed), 1, [&](int64_t q0, int64_t q1) {
          GemmPackB(d, b_src, n, kc, nc, first_packed + static_cast<size_t>(q0), first_packed + static_cast<size_t>(q1),
                    b_block);
        });
      }
      // Each chunk needs its own A panel and tile; they are small (KC x MR).
      auto run = [&](size_t r0, size_t r1, size_t q0, size_t q1) {
        Buffer chunk_a(static_cast<int64_t>(kc * kGemmMR * sizeof(T)));
        Buffer chunk_tile(static_cast<int64_t>(kGemmMR * NR * sizeof(T)));
        GemmMacroKernel(d, a_blk, k, r0, r1, kc, bview, nc, q0, q1, c_blk, ldc, pc > 0,
                        reinterpret_cast<T*>(chunk_a.bytes().data()), reinterpret_cast<T*>(chunk_tile.bytes().data()));
      };
      if (row_panels >= pool->threads()) {
        const double panel_flops = 2.0 * static_cast<double>(kGemmMR) * nc * kc;
        const auto grain = static_cast<int64_t>(kGemmMinFlopsPerTask / panel_flops) + 1;
        pool->ParallelFor(static_cast<int64_t>(row_panels), grain, [&](int64_t p0, int64_t p1) {
          run(static_cast<size_t>(p0) * kGemmMR, std::min(m, static_cast<size_t>(p1) * kGemmMR), 0, panels);
        });
      } else {
        // Few rows: split the B panels instead.
        const double panel_flops = 2.0 * static_cast<double>(m) * NR * kc;
        const auto grain = static_cast<int64_t>(kGemmMinFlopsPerTask / panel_flops) + 1;
        pool->ParallelFor(static_cast<int64_t>(panels), grain,
                          [&](int64_t q0, int64_t q1) { run(0, m, static_cast<size_t>(q0), static_cast<size_t>(q1)); });
      }
    }
    if constexpr (kNarrow) {
      for (size_t i = 0; i < m; ++i)
        for (size_t j = 0; j < nc; ++j) c[i * n + jc + j] = static_cast<S>(c_blk[i * ldc + j]);
    }
  }
}

// The batched entry point behind Gemm for floating storage types.
template <typename S>
void GemmFloat(int64_t batch, int64_t m, int64_t n, int64_t k, const S* a, const S* b, S* c, ThreadPool* pool) {
  using T = ComputeType<S>;
  if (batch <= 0 || m <= 0 || n <= 0 || k < 0) return;
  const auto um = static_cast<size_t>(m), un = static_cast<size_t>(n), uk = static_cast<size_t>(k);
  const double flops = 2.0 * static_cast<double>(m) * n * k;
  const bool threaded = pool != nullptr && pool->threads() > 1;

  // Many small matrices: one thread per group of whole matrices, so no
  // thread waits on another inside a matrix.
  if (threaded && batch > 1 && (batch >= static_cast<int64_t>(pool->threads()) || flops < 2 * kGemmMinFlopsPerTask)) {
    const auto grain = static_cast<int64_t>(kGemmMinFlopsPerTask / std::max(flops, 1.0)) + 1;
    pool->ParallelFor(batch, grain, [&](int64_t b0, int64_t b1) {
      GemmScratch<T> scratch;
      for (int64_t i = b0; i < b1; ++i)
        GemmFloatMatrix(a + i * m * k, b + i * k * n, c + i * m * n, um, un, uk, nullptr, scratch);
    });
    return;
  }
  GemmScratch<T> scratch;
  for (int64_t i = 0; i < batch; ++i)
    GemmFloatMatrix(a + i * m * k, b + i * k * n, c + i * m * n, um, un, uk, pool, scratch);
}

}  // namespace pelemay::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // PELEMAY_EXECUTOR_KERNELS_GEMM_INL_H_ toggle guard
