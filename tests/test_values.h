// Value helpers shared by the kernel suites: the dtype list, special floats,
// raw bits and NaN tests that work for half floats too, and byte views of
// value vectors (what the kernels take).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "executor/core/dtype.h"

namespace pelemay::testing {

inline constexpr DType kAllDTypes[] = {
    DType::kS8,  DType::kS16, DType::kS32,  DType::kS64, DType::kU8,  DType::kU16, DType::kU32,
    DType::kU64, DType::kF16, DType::kBF16, DType::kF32, DType::kF64, DType::kC64, DType::kC128,
};

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr double kInf = std::numeric_limits<double>::infinity();
inline constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();
inline constexpr float kInff = std::numeric_limits<float>::infinity();

// The raw bits of a value (the low sizeof(T) bytes; complex values are 16
// bytes wide and not supported here).
template <class T>
uint64_t Bits(T v) {
  if constexpr (kIsHalf<T>) {
    return v.bits;
  } else {
    static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8);
    uint64_t u = 0;
    std::memcpy(&u, &v, sizeof(T));
    return u;
  }
}

template <class T>
bool IsNaNValue(T v) {
  if constexpr (kIsHalf<T>) return std::isnan(static_cast<float>(v));
  else if constexpr (std::is_floating_point_v<T>) return std::isnan(v);
  else return false;
}

// A value for failure messages: integers as numbers, floats with 17 digits
// and their bits (so -0.0 and NaN payloads are visible), complex as a pair.
template <class T>
std::string Show(T v) {
  std::ostringstream os;
  os.precision(17);
  if constexpr (kIsComplex<T>) {
    os << "(" << v.real() << ", " << v.imag() << ")";
  } else if constexpr (kIsInt<T>) {
    os << +v;
  } else if constexpr (kIsHalf<T>) {
    os << static_cast<float>(v) << " [0x" << std::hex << v.bits << "]";
  } else {
    os << v << " [0x" << std::hex << Bits(v) << "]";
  }
  return os.str();
}

// The bytes of `v`, as a kernel's input span.
template <class T>
std::span<const std::byte> AsBytes(const std::vector<T>& v) {
  return std::as_bytes(std::span<const T>(v));
}

// The bytes of `v`, as a kernel's output span.
template <class T>
std::span<std::byte> AsWritable(std::vector<T>& v) {
  return std::as_writable_bytes(std::span<T>(v));
}

}  // namespace pelemay::testing
