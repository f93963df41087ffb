#include "executor/core/dtype.h"

#include <array>

namespace pelemay {
namespace {
struct DTypeInfo {
  std::string_view name;
  size_t size;
};
constexpr std::array<DTypeInfo, kNumDTypes> kInfo = {{
    {"invalid", 0},
    {"s8", 1},
    {"s16", 2},
    {"s32", 4},
    {"s64", 8},
    {"u8", 1},
    {"u16", 2},
    {"u32", 4},
    {"u64", 8},
    {"f16", 2},
    {"bf16", 2},
    {"f32", 4},
    {"f64", 8},
    {"c64", 8},
    {"c128", 16},
}};
}  // namespace

size_t DTypeSize(DType t) { return kInfo[static_cast<int>(t)].size; }
std::string_view DTypeName(DType t) { return kInfo[static_cast<int>(t)].name; }

std::optional<DType> DTypeFromName(std::string_view name) {
  for (int i = 1; i < kNumDTypes; ++i)
    if (kInfo[i].name == name) return static_cast<DType>(i);
  return std::nullopt;
}

std::optional<DType> DTypeFromWire(int value) {
  if (value <= 0 || value >= kNumDTypes) return std::nullopt;
  return static_cast<DType>(value);
}

bool IsSigned(DType t) { return t >= DType::kS8 && t <= DType::kS64; }
bool IsUnsigned(DType t) { return t >= DType::kU8 && t <= DType::kU64; }
bool IsFloat(DType t) { return t >= DType::kF16 && t <= DType::kF64; }
bool IsComplex(DType t) { return t == DType::kC64 || t == DType::kC128; }
DType RealPart(DType t) {
  if (t == DType::kC64) return DType::kF32;
  if (t == DType::kC128) return DType::kF64;
  return t;
}

}  // namespace pelemay
