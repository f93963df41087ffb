// The op catalogue as C++ data (expanded from op_catalogue.inc).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

#include "executor/core/dtype.h"

namespace pelemay {

// Ops that share one shape/dtype rule in the validator.
enum class OpFamily {
  kBinary,
  kCompare,
  kUnary,
  kReduce,
  kArgReduce,
  kConvert,
  kReshape,
  kTranspose,
  kBroadcast,
  kSlice,
  kConcatenate,
  kPad,
  kSelect,
  kIota,
  kConstant,
  kDot,
  kReverse,
  kPutSlice,
  kTake,
  kTakeAlongAxis,
  kGather,
  kScatter,
  kLinAlg,
  kWindowReduce,
  kWindowScatter,
  kConv,
  // sort/fft family (sort, argsort, cumulative ops, complex parts, FFTs)
  kSort,
  kScan,
  kComplexPart,
  kFft,
};

// Which operand dtypes an op accepts.
enum class DTypeClass { kAll, kReal, kFloat, kFloatComplex, kInteger, kComplex };

enum class OpCode : int {
#define PELEMAY_OP(name, family, arity, dtypes, attrs, summary) name,
#include "executor/ops/op_catalogue.inc"
#undef PELEMAY_OP
  kNumOps
};

// The family of an op, usable in `if constexpr`.
constexpr OpFamily FamilyOf(OpCode code) {
  switch (code) {
#define PELEMAY_OP(name, family, arity, dtypes, attrs, summary) \
  case OpCode::name:                                            \
    return OpFamily::k##family;
#include "executor/ops/op_catalogue.inc"
#undef PELEMAY_OP
    case OpCode::kNumOps: break;
  }
  return OpFamily::kUnary;
}

template <OpCode kOp>
using OpConstant = std::integral_constant<OpCode, kOp>;

// Calls fn(OpConstant<op>{}) so kernels can specialise on the op at compile
// time after one switch at run time.
template <class Fn>
void WithOpConstant(OpCode op, Fn&& fn) {
  switch (op) {
#define PELEMAY_OP(name, family, arity, dtypes, attrs, summary) \
  case OpCode::name:                                            \
    fn(OpConstant<OpCode::name>{});                             \
    return;
#include "executor/ops/op_catalogue.inc"
#undef PELEMAY_OP
    case OpCode::kNumOps: return;
  }
}

struct OpInfo {
  OpCode code;
  std::string_view name;
  OpFamily family;
  int arity;  // -1: one or more
  DTypeClass dtypes;
  std::string_view attributes;
  std::string_view summary;
};

std::span<const OpInfo> AllOps();
const OpInfo& GetOpInfo(OpCode code);
std::optional<OpCode> OpFromName(std::string_view name);
bool Accepts(DTypeClass cls, DType t);
std::string_view DTypeClassName(DTypeClass cls);

}  // namespace pelemay
