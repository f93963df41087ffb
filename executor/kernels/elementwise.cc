// Elementwise driver: checks the few run-time conditions Nx turns into errors,
// splits large arrays over the thread pool, and sends each chunk to the SIMD
// kernel for its (op, dtype) or to the scalar reference (scalar_ops.h).
// Half floats are widened to f32 in small blocks and take the f32 kernels.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "executor/kernels/elementwise.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "executor/kernels/elementwise-inl.h"

#if HWY_ONCE
#include <algorithm>
#include <array>

#include "executor/core/thread_pool.h"
#include "executor/kernels/elementwise.h"
#include "executor/kernels/scalar_ops.h"

namespace pelemay::kernels {

HWY_EXPORT(BinaryF32);
HWY_EXPORT(BinaryF64);
HWY_EXPORT(UnaryF32);
HWY_EXPORT(UnaryF64);
HWY_EXPORT(HasFloatKernel);

namespace {

// Elements per parallel task: large enough to amortise a wake-up, small
// enough to keep both cores busy on a few MiB.
constexpr int64_t kGrain = 1 << 16;
// Half floats are widened in blocks of this many elements (on the stack).
constexpr size_t kHalfBlock = 256;

template <class T>
const T* Ptr(std::span<const std::byte> s) {
  return reinterpret_cast<const T*>(s.data());
}
template <class T>
T* Ptr(std::span<std::byte> s) {
  return reinterpret_cast<T*>(s.data());
}

template <OpCode kOp, class T>
T RefUnaryFn(T x) {
  return ref::Unary<kOp, T>(x);
}

// f32/f64 binary on one chunk: SIMD if there is a kernel, else reference.
template <OpCode kOp, class F>
void FloatBinary(const F* a, const F* b, F* out, size_t n, bool simd) {
  if (simd) {
    if constexpr (std::is_same_v<F, float>) {
      if (HWY_DYNAMIC_DISPATCH(BinaryF32)(kOp, a, b, out, n)) return;
    } else {
      if (HWY_DYNAMIC_DISPATCH(BinaryF64)(kOp, a, b, out, n)) return;
    }
  }
  for (size_t i = 0; i < n; ++i) out[i] = ref::Binary<kOp, F>(a[i], b[i]);
}

template <OpCode kOp, class F>
void FloatUnary(const F* a, F* out, size_t n, bool simd) {
  if (simd) {
    if constexpr (std::is_same_v<F, float>) {
      if (HWY_DYNAMIC_DISPATCH(UnaryF32)(kOp, a, out, n, &RefUnaryFn<kOp, float>)) return;
    } else {
      if (HWY_DYNAMIC_DISPATCH(UnaryF64)(kOp, a, out, n, &RefUnaryFn<kOp, double>)) return;
    }
  }
  for (size_t i = 0; i < n; ++i) out[i] = ref::Unary<kOp, F>(a[i]);
}

template <OpCode kOp, class T>
void BinaryChunk(const T* a, const T* b, void* out_raw, size_t n, bool simd) {
  constexpr OpFamily kFamily = FamilyOf(kOp);
  if constexpr (kFamily == OpFamily::kCompare) {
    auto* out = static_cast<uint8_t*>(out_raw);
    for (size_t i = 0; i < n; ++i) {
      if constexpr (kIsHalf<T>) out[i] = ref::Compare<kOp, float>(float(a[i]), float(b[i]));
      else out[i] = ref::Compare<kOp, T>(a[i], b[i]);
    }
  } else {
    auto* out = static_cast<T*>(out_raw);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      FloatBinary<kOp, T>(a, b, out, n, simd);
    } else if constexpr (kIsHalf<T>) {
      std::array<float, kHalfBlock> fa, fb, fo;
      for (size_t i = 0; i < n; i += kHalfBlock) {
        const size_t m = std::min(kHalfBlock, n - i);
        for (size_t j = 0; j < m; ++j) fa[j] = float(a[i + j]), fb[j] = float(b[i + j]);
        FloatBinary<kOp, float>(fa.data(), fb.data(), fo.data(), m, simd);
        for (size_t j = 0; j < m; ++j) out[i + j] = T(fo[j]);
      }
    } else {
      for (size_t i = 0; i < n; ++i) out[i] = ref::Binary<kOp, T>(a[i], b[i]);
    }
  }
}

template <OpCode kOp, class T>
void UnaryChunk(const T* a, void* out_raw, size_t n, bool simd) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    FloatUnary<kOp, T>(a, static_cast<T*>(out_raw), n, simd);
  } else if constexpr (kIsHalf<T>) {
    auto* out = static_cast<T*>(out_raw);
    std::array<float, kHalfBlock> fa, fo;
    for (size_t i = 0; i < n; i += kHalfBlock) {
      const size_t m = std::min(kHalfBlock, n - i);
      for (size_t j = 0; j < m; ++j) fa[j] = float(a[i + j]);
      FloatUnary<kOp, float>(fa.data(), fo.data(), m, simd);
      for (size_t j = 0; j < m; ++j) out[i + j] = T(fo[j]);
    }
  } else {
    using R = decltype(ref::Unary<kOp, T>(T{}));  // real type for abs(complex)
    auto* out = static_cast<R*>(out_raw);
    for (size_t i = 0; i < n; ++i) out[i] = ref::Unary<kOp, T>(a[i]);
  }
}

// Nx raises for these; the executor reports them before writing anything.
template <class T>
Status CheckDivisors(OpCode op, const T* b, size_t n) {
  if constexpr (kIsInt<T>) {
    if (op == OpCode::quotient || op == OpCode::remainder) {
      if (std::find(b, b + n, T{0}) != b + n)
        return InvalidArgument() << "integer division by zero in " << GetOpInfo(op).name;
    }
    if constexpr (std::is_signed_v<T>) {
      if (op == OpCode::pow && std::any_of(b, b + n, [](T v) { return v < 0; }))
        return InvalidArgument() << "pow: negative exponent for an integer type";
      if ((op == OpCode::left_shift || op == OpCode::right_shift) && std::any_of(b, b + n, [](T v) { return v < 0; }))
        return InvalidArgument() << GetOpInfo(op).name << ": negative shift amount";
    }
  }
  return Status::Ok();
}

size_t OutElementSize(OpCode op, DType dtype) {
  if (FamilyOf(op) == OpFamily::kCompare) return 1;
  if (op == OpCode::abs) return DTypeSize(RealPart(dtype));
  return DTypeSize(dtype);
}

Status BinaryImpl(OpCode op, DType dtype, std::span<const std::byte> a, std::span<const std::byte> b,
                  std::span<std::byte> out, ThreadPool* pool, bool simd) {
  const size_t n = a.size() / DTypeSize(dtype);
  const size_t out_size = OutElementSize(op, dtype);
  Status status;
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    status = CheckDivisors<T>(op, Ptr<T>(b), n);
    if (!status.ok()) return;
    WithOpConstant(op, [&](auto k) {
      constexpr OpCode kOp = decltype(k)::value;
      constexpr OpFamily kFamily = FamilyOf(kOp);
      if constexpr (kFamily == OpFamily::kBinary || kFamily == OpFamily::kCompare) {
        auto run = [&](int64_t begin, int64_t end) {
          BinaryChunk<kOp, T>(Ptr<T>(a) + begin, Ptr<T>(b) + begin, out.data() + begin * out_size,
                              static_cast<size_t>(end - begin), simd);
        };
        if (pool != nullptr) pool->ParallelFor(static_cast<int64_t>(n), kGrain, run);
        else run(0, static_cast<int64_t>(n));
      } else {
        status = Internal() << GetOpInfo(op).name << " is not an elementwise binary op";
      }
    });
  });
  return status;
}

Status UnaryImpl(OpCode op, DType dtype, std::span<const std::byte> a, std::span<std::byte> out, ThreadPool* pool,
                 bool simd) {
  const size_t n = a.size() / DTypeSize(dtype);
  const size_t out_size = OutElementSize(op, dtype);
  Status status;
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    WithOpConstant(op, [&](auto k) {
      constexpr OpCode kOp = decltype(k)::value;
      if constexpr (FamilyOf(kOp) == OpFamily::kUnary) {
        auto run = [&](int64_t begin, int64_t end) {
          UnaryChunk<kOp, T>(Ptr<T>(a) + begin, out.data() + begin * out_size, static_cast<size_t>(end - begin), simd);
        };
        if (pool != nullptr) pool->ParallelFor(static_cast<int64_t>(n), kGrain, run);
        else run(0, static_cast<int64_t>(n));
      } else {
        status = Internal() << GetOpInfo(op).name << " is not an elementwise unary op";
      }
    });
  });
  return status;
}

}  // namespace

Status Binary(OpCode op, DType dtype, std::span<const std::byte> a, std::span<const std::byte> b,
              std::span<std::byte> out, ThreadPool* pool) {
  return BinaryImpl(op, dtype, a, b, out, pool, /*simd=*/true);
}
Status BinaryReference(OpCode op, DType dtype, std::span<const std::byte> a, std::span<const std::byte> b,
                       std::span<std::byte> out) {
  return BinaryImpl(op, dtype, a, b, out, nullptr, /*simd=*/false);
}
Status Unary(OpCode op, DType dtype, std::span<const std::byte> a, std::span<std::byte> out, ThreadPool* pool) {
  return UnaryImpl(op, dtype, a, out, pool, /*simd=*/true);
}
Status UnaryReference(OpCode op, DType dtype, std::span<const std::byte> a, std::span<std::byte> out) {
  return UnaryImpl(op, dtype, a, out, nullptr, /*simd=*/false);
}

bool HasSimdKernel(OpCode op, DType dtype) {
  const bool float_like = dtype == DType::kF32 || dtype == DType::kF64 || dtype == DType::kF16 || dtype == DType::kBF16;
  return float_like && HWY_DYNAMIC_DISPATCH(HasFloatKernel)(op);
}

}  // namespace pelemay::kernels
#endif  // HWY_ONCE
