// Element types: the Nx set, their sizes, names and the C++ type that stores
// each one. Numbering equals pelemay.v1.DType so a proto value converts by cast.
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "executor/core/half.h"

namespace pelemay {

enum class DType : int {
  kInvalid = 0,
  kS8 = 1,
  kS16 = 2,
  kS32 = 3,
  kS64 = 4,
  kU8 = 5,
  kU16 = 6,
  kU32 = 7,
  kU64 = 8,
  kF16 = 9,
  kBF16 = 10,
  kF32 = 11,
  kF64 = 12,
  kC64 = 13,
  kC128 = 14,
};

inline constexpr int kNumDTypes = 15;  // including kInvalid

using c64 = std::complex<float>;
using c128 = std::complex<double>;

// Bytes per element; 0 for kInvalid.
size_t DTypeSize(DType t);
// "s8", "f32", "c64"... as Nx writes them; "invalid" otherwise.
std::string_view DTypeName(DType t);
std::optional<DType> DTypeFromName(std::string_view name);
// Converts a wire value; nullopt for anything outside the enum.
std::optional<DType> DTypeFromWire(int value);

bool IsSigned(DType t);    // s*
bool IsUnsigned(DType t);  // u*
inline bool IsInteger(DType t) { return IsSigned(t) || IsUnsigned(t); }
bool IsFloat(DType t);    // f16, bf16, f32, f64
bool IsComplex(DType t);  // c64, c128
inline bool IsReal(DType t) { return IsInteger(t) || IsFloat(t); }
// The real type of a complex one (c64 -> f32); t itself otherwise.
DType RealPart(DType t);

// Maps a C++ storage type to its DType.
template <class T>
struct DTypeOf;
#define PELEMAY_DTYPE_OF(CT, DT)              \
  template <>                                 \
  struct DTypeOf<CT> {                        \
    static constexpr DType value = DType::DT; \
  };
PELEMAY_DTYPE_OF(int8_t, kS8)
PELEMAY_DTYPE_OF(int16_t, kS16)
PELEMAY_DTYPE_OF(int32_t, kS32)
PELEMAY_DTYPE_OF(int64_t, kS64)
PELEMAY_DTYPE_OF(uint8_t, kU8)
PELEMAY_DTYPE_OF(uint16_t, kU16)
PELEMAY_DTYPE_OF(uint32_t, kU32)
PELEMAY_DTYPE_OF(uint64_t, kU64)
PELEMAY_DTYPE_OF(f16, kF16)
PELEMAY_DTYPE_OF(bf16, kBF16)
PELEMAY_DTYPE_OF(float, kF32)
PELEMAY_DTYPE_OF(double, kF64)
PELEMAY_DTYPE_OF(c64, kC64)
PELEMAY_DTYPE_OF(c128, kC128)
#undef PELEMAY_DTYPE_OF

// Calls fn(T{}) with the storage type of `t` (a value-initialised tag).
// Returns false for kInvalid. The one place that switches over every dtype.
template <class Fn>
bool VisitDType(DType t, Fn&& fn) {
  switch (t) {
    case DType::kS8: fn(int8_t{}); return true;
    case DType::kS16: fn(int16_t{}); return true;
    case DType::kS32: fn(int32_t{}); return true;
    case DType::kS64: fn(int64_t{}); return true;
    case DType::kU8: fn(uint8_t{}); return true;
    case DType::kU16: fn(uint16_t{}); return true;
    case DType::kU32: fn(uint32_t{}); return true;
    case DType::kU64: fn(uint64_t{}); return true;
    case DType::kF16: fn(f16{}); return true;
    case DType::kBF16: fn(bf16{}); return true;
    case DType::kF32: fn(float{}); return true;
    case DType::kF64: fn(double{}); return true;
    case DType::kC64: fn(c64{}); return true;
    case DType::kC128: fn(c128{}); return true;
    case DType::kInvalid: break;
  }
  return false;
}

template <class T>
inline constexpr bool kIsComplex = false;
template <>
inline constexpr bool kIsComplex<c64> = true;
template <>
inline constexpr bool kIsComplex<c128> = true;
template <class T>
inline constexpr bool kIsHalf = false;
template <>
inline constexpr bool kIsHalf<f16> = true;
template <>
inline constexpr bool kIsHalf<bf16> = true;
template <class T>
inline constexpr bool kIsFloat = std::is_floating_point_v<T> || kIsHalf<T>;
template <class T>
inline constexpr bool kIsInt = std::is_integral_v<T>;

// The type a kernel computes in: half floats widen to float, the rest is
// itself. Nx's BinaryBackend also computes half-precision math in wider floats.
template <class T>
struct ComputeTypeOf {
  using type = T;
};
template <>
struct ComputeTypeOf<f16> {
  using type = float;
};
template <>
struct ComputeTypeOf<bf16> {
  using type = float;
};
template <class T>
using ComputeType = typename ComputeTypeOf<T>::type;

// The type Nx.BinaryBackend's Elixir numbers hold a value of T in: floats
// (half included) as f64, complex as c128, integers as themselves (wrapping
// at every step equals wrapping once at the end). Kernels that must repeat
// BinaryBackend's sums (windows, the conv reference) accumulate in it.
template <class T>
struct WideTypeOf {
  using type = T;
};
template <class T>
requires kIsFloat<T>
struct WideTypeOf<T> {
  using type = double;
};
template <>
struct WideTypeOf<c64> {
  using type = c128;
};
template <class T>
using WideType = typename WideTypeOf<T>::type;

}  // namespace pelemay
