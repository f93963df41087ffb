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
  // Destinations for the program's outputs (the shared-memory arena): empty,
  // or one span per entry of program.outputs, each empty (the output goes to
  // memory of the executor's own) or exactly that output's size. A computed
  // output with a slot is computed straight into it, never into a Buffer;
  // an input or repeated output with a slot is copied into it. Slots must not
  // overlap each other or any input (the request handler checks).
  std::vector<std::span<std::byte>> output_slots;
};

// An output: its bytes are either owned (computed), in its output slot
// (`in_slot`), or a view of an input (a program that returns an input
// unchanged).
struct Output {
  DType dtype = DType::kInvalid;
  Shape shape;
  Buffer owned;
  std::span<const std::byte> bytes;
  bool in_slot = false;
};

// Inputs must already have passed ValidateInputs.
StatusOr<std::vector<Output>> Run(const CheckedProgram& program, const std::vector<ConstTensorView>& inputs,
                                  const RunContext& ctx);

}  // namespace pelemay
