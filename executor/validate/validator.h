// Validate, then run: checks a whole program before any kernel touches data.
#pragma once

#include "executor/core/status.h"
#include "executor/validate/program_types.h"
#include "pelemay.pb.h"

namespace pelemay {

// Checks structure, operand order, arity, per-op dtype and shape rules,
// attribute ranges, size arithmetic and peak memory against limits. Errors
// are INVALID_ARGUMENT / UNSUPPORTED / RESOURCE_EXHAUSTED naming the
// instruction.
StatusOr<CheckedProgram> Validate(const v1::Program& program, const Limits& limits);

// Checks run inputs against the program's declared input types (count,
// dtype, shape, payload length).
Status ValidateInputs(const CheckedProgram& program, const std::vector<ConstTensorView>& inputs);

}  // namespace pelemay
