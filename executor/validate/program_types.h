// A program after validation: every value's type known, every attribute
// resolved and range-checked, every operand defined before use, and the peak
// memory of running it computed. The interpreter only ever runs these.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "executor/core/buffer.h"
#include "executor/core/dtype.h"
#include "executor/core/shape.h"
#include "executor/ops/op_catalogue.h"

namespace pelemay {

struct ValueType {
  DType dtype = DType::kInvalid;
  Shape shape;
  int64_t elements = 0;
  int64_t bytes = 0;
};

struct PadSpec {
  int64_t lo = 0, hi = 0, interior = 0;
};

struct CheckedInstruction {
  OpCode op{};
  std::vector<uint32_t> operands;
  ValueType result;
  // Resolved attributes (only those the op reads are meaningful).
  std::vector<int64_t> axes;         // reductions (sorted, unique); broadcast mapping
  std::vector<int64_t> permutation;  // transpose
  std::vector<int64_t> start, strides;
  std::vector<PadSpec> padding;
  std::optional<int64_t> axis;
  bool keep_axes = false;
  bool tie_break_high = false;
  std::vector<int64_t> lhs_contract, rhs_contract, lhs_batch, rhs_batch;
  // Window ops and conv (strides and padding above apply too).
  std::vector<int64_t> window_dimensions;                // window ops
  std::vector<int64_t> window_dilations;                 // window reductions (all 1 if unset)
  std::vector<int64_t> input_dilation, kernel_dilation;  // conv (all 1 if unset)
  int64_t feature_groups = 1, batch_groups = 1;          // conv
  Buffer constant;                                       // constant: the literal, already in the result dtype
  bool constant_is_scalar = false;
  // Linear algebra (Nx.LinAlg options, defaults as Nx's).
  bool left_side = true, lower = true, transpose_a = false;
  double eps = 1e-10;
  int64_t max_iter = 1000;
  bool descending = false;    // sort, argsort
  bool reverse = false;       // cumulative ops
  int64_t length = 0;         // fft, ifft: result elements along axis
  int64_t scratch_bytes = 0;  // temporary memory the kernel may need
};

struct CheckedProgram {
  std::vector<ValueType> inputs;
  std::vector<CheckedInstruction> instructions;
  std::vector<uint32_t> outputs;
  // last_use[v] = index of the last instruction reading value v, or -1; used
  // to free intermediates early (outputs are never freed).
  std::vector<int64_t> last_use;
  int64_t peak_bytes = 0;  // the most tensor memory live at once while running

  size_t num_values() const { return inputs.size() + instructions.size(); }
  const ValueType& type_of(uint32_t v) const {
    return v < inputs.size() ? inputs[v] : instructions[v - inputs.size()].result;
  }
};

struct Limits {
  int64_t memory_budget_bytes = int64_t{1} << 30;
  int64_t max_instructions = 1 << 20;
};

}  // namespace pelemay
