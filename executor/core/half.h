// IEEE binary16 (f16) and bfloat16 (bf16) storage types. They only store bits;
// arithmetic widens to float (see ComputeType in dtype.h). Narrowing follows
// Nx.BinaryBackend: f16 rounds to nearest even (Erlang's float-16), bf16
// truncates the f32 bits; NaN stays NaN.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace pelemay {

inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  explicit bf16(float f) : bits(FromFloat(f)) {}
  explicit operator float() const { return BitsFloat(uint32_t{bits} << 16); }

  // Nx.BinaryBackend writes bf16 as the upper half of the f32 bits, i.e. it
  // rounds toward zero; we do the same so results match bit for bit. A NaN
  // whose payload sits in the dropped bits stays a (quiet) NaN.
  static uint16_t FromFloat(float f) {
    const uint32_t u = FloatBits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
    return static_cast<uint16_t>(u >> 16);
  }
};

struct f16 {
  uint16_t bits = 0;
  f16() = default;
  explicit f16(float f) : bits(FromFloat(f)) {}
  explicit operator float() const { return ToFloat(bits); }

  static float ToFloat(uint16_t h) {
    const uint32_t sign = uint32_t{h & 0x8000u} << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    const uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) return BitsFloat(sign | 0x7f800000u | (mant << 13));  // Inf/NaN
    if (exp != 0) return BitsFloat(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0) return BitsFloat(sign);  // +-0
    // Subnormal: mant * 2^-24, exact in float.
    const float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }

  static uint16_t FromFloat(float f) {
    const uint32_t u = FloatBits(f);
    const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
    const uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return sign | 0x7e00u | static_cast<uint16_t>((abs >> 13) & 0x3ffu);  // NaN
    if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: Inf
    if (abs < 0x38800000u) {
      // Result is subnormal (or zero): value / 2^-24, rounded to nearest even.
      // Adding 0.5 (as a float with exponent 2^-1 relative scale) does the
      // rounding in hardware: |f| + 2^-14 puts the f16 subnormal bits in the
      // low mantissa bits of the sum.
      const float biased = BitsFloat(abs) + 0.5f;
      return sign | static_cast<uint16_t>(FloatBits(biased) - FloatBits(0.5f));
    }
    const uint32_t mant_odd = (abs >> 13) & 1u;
    uint32_t v = abs + 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round
    return sign | static_cast<uint16_t>(v >> 13);
  }
};

// f64 to f16 rounded once (to nearest even), as Erlang's float-16 writes an
// f64 such as Nx.BinaryBackend's f64 sums: the f64 is first rounded to f32
// toward odd (truncate, then set the last bit if anything was dropped),
// which keeps the final rounding to f16 exact; f64 -> f32 -> f16 rounds twice
// and can land on the other neighbour (1 + 2^-11 + 2^-24 gave 1.0). (bf16 is
// written by Nx as the top half of the f32 rounding, so f64 -> f32 -> bf16 is
// already its rule.)
inline f16 F16FromDouble(double d) {
  float f = static_cast<float>(d);
  if (std::isfinite(d) && static_cast<double>(f) != d) {
    if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
    f = BitsFloat(FloatBits(f) | 1u);
  }
  return f16(f);
}

}  // namespace pelemay
