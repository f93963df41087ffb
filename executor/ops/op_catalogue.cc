#include "executor/ops/op_catalogue.h"

#include <array>

namespace pelemay {
namespace {

constexpr std::array<OpInfo, static_cast<size_t>(OpCode::kNumOps)> kOps = {{
#define PELEMAY_OP(name, family, arity, dtypes, attrs, summary) \
  {OpCode::name, #name, OpFamily::k##family, arity, DTypeClass::k##dtypes, attrs, summary},
#include "executor/ops/op_catalogue.inc"
#undef PELEMAY_OP
}};

}  // namespace

std::span<const OpInfo> AllOps() { return kOps; }
const OpInfo& GetOpInfo(OpCode code) { return kOps[static_cast<size_t>(code)]; }

std::optional<OpCode> OpFromName(std::string_view name) {
  for (const auto& op : kOps)
    if (op.name == name) return op.code;
  return std::nullopt;
}

bool Accepts(DTypeClass cls, DType t) {
  switch (cls) {
    case DTypeClass::kAll: return t != DType::kInvalid;
    case DTypeClass::kReal: return IsReal(t);
    case DTypeClass::kFloat: return IsFloat(t);
    case DTypeClass::kFloatComplex: return IsFloat(t) || IsComplex(t);
    case DTypeClass::kInteger: return IsInteger(t);
    case DTypeClass::kComplex: return IsComplex(t);
  }
  return false;
}

std::string_view DTypeClassName(DTypeClass cls) {
  switch (cls) {
    case DTypeClass::kAll: return "all";
    case DTypeClass::kReal: return "integer and float";
    case DTypeClass::kFloat: return "float";
    case DTypeClass::kFloatComplex: return "float and complex";
    case DTypeClass::kInteger: return "integer";
    case DTypeClass::kComplex: return "complex";
  }
  return "?";
}

}  // namespace pelemay
