#include "executor/server/inline_run.h"

namespace pelemay {
namespace {

bool SmallType(const v1::TensorType& type) {
  int64_t n = 1;
  for (const int64_t d : type.shape()) {
    if (d < 0 || d > kInlineMaxElements) return false;
    n *= d;  // both factors <= 4096 here, so no overflow before the check
    if (n > kInlineMaxElements) return false;
  }
  return true;
}

}  // namespace

bool CheapEnoughForIoThread(const v1::Request& request) {
  if (!request.has_run()) return false;  // compiling is validation only, but may be large
  const v1::RunRequest& run = request.run();
  // A run's own fault may hang or sleep: never on the thread that answers
  // pings and cancels.
  if (run.has_fault() || run.source_case() != v1::RunRequest::kProgram) return false;
  const v1::Program& program = run.program();
  if (program.instructions_size() > kInlineMaxInstructions) return false;
  for (const auto& input : program.inputs())
    if (!SmallType(input)) return false;
  for (const auto& instruction : program.instructions())
    if (!SmallType(instruction.result())) return false;
  return true;
}

}  // namespace pelemay
