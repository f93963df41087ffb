// Runs a validated program: one kernel call per instruction, intermediates
// freed after their last use, cancellation and deadline checked between
// instructions.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <vector>

#include "executor/core/buffer.h"
#include "executor/core/status.h"
#include "executor/validate/program_types.h"

namespace pelemay {

class ThreadPool;

struct RunContext {
  ThreadPool* pool = nullptr;
  const std::atomic<bool>* cancelled = nullptr;  // set by a cancel request or shutdown
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // Called after each instruction; a non-OK status stops the run with it.
  // Used by fault injection.
  std::function<Status(size_t)> after_instruction;
};

// An output: its bytes are either owned (computed) or a view of an input
// (a program that returns an input unchanged).
struct Output {
  DType dtype = DType::kInvalid;
  Shape shape;
  Buffer owned;
  std::span<const std::byte> bytes;
};

// Inputs must already have passed ValidateInputs.
StatusOr<std::vector<Output>> Run(const CheckedProgram& program,
                                  const std::vector<ConstTensorView>& inputs, const RunContext& ctx);

}  // namespace pelemay
