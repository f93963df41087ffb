#include "executor/server/inline_run.h"

#include <span>

#include "executor/ops/op_catalogue.h"

namespace pelemay {
namespace {

// Families whose kernels do work linear in their elements (or, for dot, a
// bounded product of them). Anything else, and any family added later,
// stays on the compute thread until someone decides otherwise.
bool IoThreadFamily(OpFamily family) {
  switch (family) {
    case OpFamily::kBinary:
    case OpFamily::kCompare:
    case OpFamily::kUnary:
    case OpFamily::kReduce:
    case OpFamily::kArgReduce:
    case OpFamily::kConvert:
    case OpFamily::kReshape:
    case OpFamily::kTranspose:
    case OpFamily::kBroadcast:
    case OpFamily::kSlice:
    case OpFamily::kConcatenate:
    case OpFamily::kPad:
    case OpFamily::kSelect:
    case OpFamily::kIota:
    case OpFamily::kConstant:
    case OpFamily::kDot:
    // Indexing: linear in the indices, the updates and the result.
    case OpFamily::kReverse:
    case OpFamily::kPutSlice:
    case OpFamily::kTake:
    case OpFamily::kTakeAlongAxis:
    case OpFamily::kGather:
    case OpFamily::kScatter:
    // Scans and complex parts are linear; a sort of at most
    // kInlineMaxElements is n log n of a small n. (FFTs are not: an odd
    // length costs up to 1023 operations per element.)
    case OpFamily::kScan:
    case OpFamily::kComplexPart:
    case OpFamily::kSort: return true;
    default: return false;
  }
}

// At most kInlineMaxElements in the product of the non-zero dimensions:
// what a kernel walks, an empty tensor included (its other axes are still
// looped over).
bool SmallDims(std::span<const int64_t> dims) {
  int64_t n = 1;
  for (const int64_t d : dims) {
    if (d < 0 || d > kInlineMaxElements) return false;
    if (d == 0) continue;
    n *= d;  // both factors <= 4096 here, so no overflow before the check
    if (n > kInlineMaxElements) return false;
  }
  return true;
}

bool SmallType(const v1::TensorType& type) {
  return SmallDims(std::span<const int64_t>(type.shape().data(), static_cast<size_t>(type.shape().size())));
}

bool CheapCompiled(const CheckedProgram& program) {
  if (program.instructions.size() > static_cast<size_t>(kInlineMaxInstructions)) return false;
  for (const auto& input : program.inputs)
    if (!SmallDims(input.shape)) return false;
  for (const auto& instruction : program.instructions)
    if (!SmallDims(instruction.result.shape) || !IoThreadFamily(GetOpInfo(instruction.op).family)) return false;
  return true;
}

}  // namespace

bool CheapEnoughForIoThread(const v1::Request& request, ProgramCache& cache) {
  if (!request.has_run()) return false;  // compiling is validation only, but may be large
  const v1::RunRequest& run = request.run();
  // A run's own fault may hang or sleep: never on the thread that answers
  // pings and cancels.
  if (run.has_fault()) return false;
  if (run.source_case() == v1::RunRequest::kProgramId) {
    const auto program = cache.Find(run.program_id());
    return program != nullptr && CheapCompiled(*program);
  }
  if (run.source_case() != v1::RunRequest::kProgram) return false;
  const v1::Program& program = run.program();
  if (program.instructions_size() > kInlineMaxInstructions) return false;
  for (const auto& input : program.inputs())
    if (!SmallType(input)) return false;
  for (const auto& instruction : program.instructions()) {
    const auto op = OpFromName(instruction.op());
    if (!op || !IoThreadFamily(GetOpInfo(*op).family) || !SmallType(instruction.result())) return false;
  }
  return true;
}

}  // namespace pelemay
