#include "executor/interp/interpreter.h"

#include <algorithm>
#include <optional>

#include "executor/core/thread_pool.h"
#include "executor/interp/indexing.h"
#include "executor/interp/layout_ops.h"
#include "executor/kernels/conv.h"
#include "executor/kernels/convert.h"
#include "executor/kernels/elementwise.h"
#include "executor/kernels/fft.h"
#include "executor/kernels/gemm.h"
#include "executor/kernels/linalg.h"
#include "executor/kernels/reduce.h"
#include "executor/kernels/scatter.h"
#include "executor/kernels/sort.h"
#include "executor/kernels/window.h"

namespace pelemay {
namespace {

// Packs a dot operand into [batch, rows, cols] order: batch axes, then the
// `row_axes`, then `col_axes`, each group flattened.
Buffer PackForGemm(const ConstTensorView& t, const std::vector<int64_t>& batch, const std::vector<int64_t>& row_axes,
                   const std::vector<int64_t>& col_axes) {
  std::vector<int64_t> perm;
  perm.insert(perm.end(), batch.begin(), batch.end());
  perm.insert(perm.end(), row_axes.begin(), row_axes.end());
  perm.insert(perm.end(), col_axes.begin(), col_axes.end());
  Buffer packed(static_cast<int64_t>(t.bytes.size()));
  Shape shape;
  for (int64_t p : perm) shape.push_back(t.shape[p]);
  layout::Transpose(t, perm, TensorView{t.dtype, shape, packed.bytes()});
  return packed;
}

std::vector<int64_t> FreeAxes(size_t rank, const std::vector<int64_t>& batch, const std::vector<int64_t>& contract) {
  std::vector<int64_t> free;
  for (int64_t i = 0; i < static_cast<int64_t>(rank); ++i)
    if (std::find(batch.begin(), batch.end(), i) == batch.end() &&
        std::find(contract.begin(), contract.end(), i) == contract.end())
      free.push_back(i);
  return free;
}

int64_t Product(const Shape& s, const std::vector<int64_t>& axes) {
  int64_t p = 1;
  for (int64_t a : axes) p *= s[a];
  return p;
}

void RunDot(const CheckedInstruction& ci, const ConstTensorView& l, const ConstTensorView& r, const TensorView& out,
            ThreadPool* pool) {
  const auto l_free = FreeAxes(l.shape.size(), ci.lhs_batch, ci.lhs_contract);
  const auto r_free = FreeAxes(r.shape.size(), ci.rhs_batch, ci.rhs_contract);
  const int64_t batch = Product(l.shape, ci.lhs_batch);
  const int64_t m = Product(l.shape, l_free);
  const int64_t k = Product(l.shape, ci.lhs_contract);
  const int64_t n = Product(r.shape, r_free);
  // A = [batch, m, k], B = [batch, k, n]; the result [batch, m, n] is already
  // the Nx result order (batch, lhs free, rhs free).
  const Buffer a = PackForGemm(l, ci.lhs_batch, l_free, ci.lhs_contract);
  const Buffer b = PackForGemm(r, ci.rhs_batch, ci.rhs_contract, r_free);
  kernels::Gemm(l.dtype, batch, m, n, k, a.bytes(), b.bytes(), out.bytes, pool);
}

// Copies bytes, split across the pool's threads when large (a reshape or a
// repeated output of many MiB is memory-bound; one core does not saturate
// the memory bus).
void CopyBytes(std::span<const std::byte> from, std::span<std::byte> to, ThreadPool* pool) {
  constexpr int64_t kGrain = int64_t{1} << 20;
  const auto n = static_cast<int64_t>(from.size());
  if (pool == nullptr || n < 2 * kGrain) {
    std::copy(from.begin(), from.end(), to.begin());
    return;
  }
  pool->ParallelFor(n, kGrain, [&](int64_t begin, int64_t end) {
    std::copy(from.begin() + begin, from.begin() + end, to.begin() + begin);
  });
}

Status Execute(const CheckedInstruction& ci, const std::vector<ConstTensorView>& args, const TensorView& out,
               ThreadPool* pool) {
  const OpInfo& info = GetOpInfo(ci.op);
  switch (info.family) {
    case OpFamily::kBinary:
    case OpFamily::kCompare:
      return kernels::Binary(ci.op, args[0].dtype, args[0].bytes, args[1].bytes, out.bytes, pool);
    case OpFamily::kUnary: return kernels::Unary(ci.op, args[0].dtype, args[0].bytes, out.bytes, pool);
    case OpFamily::kConvert:
      kernels::Convert(args[0].dtype, out.dtype, args[0].bytes, out.bytes, pool);
      return Status::Ok();
    case OpFamily::kReduce:
      kernels::Reduce(ci.op, args[0].dtype, args[0].shape, ci.axes, args[0].bytes, out.bytes, pool);
      return Status::Ok();
    case OpFamily::kArgReduce:
      kernels::ArgReduce(ci.op, args[0].dtype, out.dtype, args[0].shape, ci.axis, ci.tie_break_high, args[0].bytes,
                         out.bytes);
      return Status::Ok();
    case OpFamily::kReshape: CopyBytes(args[0].bytes, out.bytes, pool); return Status::Ok();
    case OpFamily::kTranspose: layout::Transpose(args[0], ci.permutation, out); return Status::Ok();
    case OpFamily::kBroadcast: layout::Broadcast(args[0], ci.axes, out); return Status::Ok();
    case OpFamily::kSlice: layout::Slice(args[0], ci.start, ci.strides, out); return Status::Ok();
    case OpFamily::kConcatenate: layout::Concatenate(args, *ci.axis, out); return Status::Ok();
    case OpFamily::kPad: layout::Pad(args[0], args[1], ci.padding, out); return Status::Ok();
    case OpFamily::kSelect: layout::Select(args[0], args[1], args[2], out); return Status::Ok();
    case OpFamily::kIota: layout::Iota(ci.axis, out); return Status::Ok();
    case OpFamily::kConstant:
      if (ci.constant_is_scalar) layout::Fill(ci.constant.bytes(), out);
      else std::copy(ci.constant.bytes().begin(), ci.constant.bytes().end(), out.bytes.begin());
      return Status::Ok();
    case OpFamily::kDot: RunDot(ci, args[0], args[1], out, pool); return Status::Ok();
    case OpFamily::kReverse: layout::Reverse(args[0], ci.axes, out); return Status::Ok();
    case OpFamily::kPutSlice: layout::PutSlice(args[0], args[1], ci.start, out); return Status::Ok();
    case OpFamily::kTake: return layout::Take(args[0], args[1], *ci.axis, out);
    case OpFamily::kTakeAlongAxis: return layout::TakeAlongAxis(args[0], args[1], *ci.axis, out);
    case OpFamily::kGather: return layout::Gather(args[0], args[1], ci.axes, out);
    case OpFamily::kScatter:
      return kernels::Scatter(ci.op == OpCode::indexed_add, args[0], args[1], args[2], ci.axes, out);
    case OpFamily::kLinAlg:
      return kernels::LinAlg(ci.op, {ci.left_side, ci.lower, ci.transpose_a, ci.eps, ci.max_iter}, args, out);
    case OpFamily::kWindowReduce:
    case OpFamily::kWindowScatter: {
      std::vector<int64_t> lo, hi;
      for (const PadSpec& p : ci.padding) {
        lo.push_back(p.lo);
        hi.push_back(p.hi);
      }
      // The validator resolved every per-axis list (scatters: dilations 1).
      const kernels::WindowGrid grid{args[0].shape,
                                     info.family == OpFamily::kWindowReduce ? out.shape : args[1].shape,
                                     ci.window_dimensions,
                                     ci.strides,
                                     lo,
                                     hi,
                                     ci.window_dilations};
      if (info.family == OpFamily::kWindowReduce)
        kernels::WindowReduce(ci.op, args[0].dtype, grid, args[0].bytes, out.bytes, pool);
      else
        kernels::WindowScatter(ci.op, args[0].dtype, out.dtype, grid, args[0].bytes, args[1].bytes, args[2].bytes,
                               out.bytes);
      return Status::Ok();
    }
    case OpFamily::kConv: {
      std::vector<int64_t> lo;
      for (const PadSpec& p : ci.padding) lo.push_back(p.lo);
      const kernels::ConvGeometry geo{args[0].shape,     args[1].shape,      out.shape,         ci.strides,     lo,
                                      ci.input_dilation, ci.kernel_dilation, ci.feature_groups, ci.batch_groups};
      kernels::Conv(out.dtype, geo, args[0].bytes, args[1].bytes, out.bytes, pool);
      return Status::Ok();
    }
    case OpFamily::kSort:
      kernels::Sort(ci.op, args[0].dtype, out.dtype, args[0].shape, *ci.axis, ci.descending, args[0].bytes, out.bytes,
                    pool);
      return Status::Ok();
    case OpFamily::kScan:
      kernels::Scan(ci.op, args[0].dtype, args[0].shape, *ci.axis, ci.reverse, args[0].bytes, out.bytes, pool);
      return Status::Ok();
    case OpFamily::kComplexPart:
      kernels::ComplexPart(ci.op, args[0].dtype, args[0].bytes, out.bytes);
      return Status::Ok();
    case OpFamily::kFft:
      kernels::Fft(ci.op, args[0].dtype, out.dtype, args[0].shape, *ci.axis, ci.length, ci.eps, args[0].bytes,
                   out.bytes, pool);
      return Status::Ok();
  }
  return Internal() << "no kernel for " << info.name;
}

}  // namespace

StatusOr<std::vector<Output>> Run(const CheckedProgram& program, const std::vector<ConstTensorView>& inputs,
                                  const RunContext& ctx) {
  const size_t num_inputs = program.inputs.size();
  std::vector<std::optional<Buffer>> values(program.instructions.size());
  std::vector<bool> is_output(program.num_values(), false);
  for (uint32_t v : program.outputs) is_output[v] = true;
  const bool have_slots = !ctx.output_slots.empty();
  if (have_slots && ctx.output_slots.size() != program.outputs.size())
    return Internal() << "output slots for " << ctx.output_slots.size() << " outputs, the program has "
                      << program.outputs.size();
  // placed[i]: instruction i computes straight into the slot of its first
  // appearance among the outputs.
  std::vector<std::span<std::byte>> placed(program.instructions.size());
  std::vector<bool> has_placement(program.instructions.size(), false);
  std::vector<bool> first_seen(program.instructions.size(), false);
  for (size_t j = 0; have_slots && j < program.outputs.size(); ++j) {
    const uint32_t v = program.outputs[j];
    if (v < num_inputs || first_seen[v - num_inputs]) continue;
    first_seen[v - num_inputs] = true;  // only the first appearance's slot is computed into
    if (ctx.output_slots[j].empty()) continue;
    if (static_cast<int64_t>(ctx.output_slots[j].size()) != program.type_of(v).bytes)
      return Internal() << "output slot " << j << " has " << ctx.output_slots[j].size() << " bytes, the output "
                        << program.type_of(v).bytes;
    placed[v - num_inputs] = ctx.output_slots[j];
    has_placement[v - num_inputs] = true;
  }

  auto view = [&](uint32_t v) -> ConstTensorView {
    if (v < num_inputs) return inputs[v];
    const auto& t = program.type_of(v);
    if (has_placement[v - num_inputs]) return {t.dtype, t.shape, placed[v - num_inputs]};
    return {t.dtype, t.shape, values[v - num_inputs]->bytes()};
  };

  for (size_t i = 0; i < program.instructions.size(); ++i) {
    if (ctx.cancelled != nullptr && ctx.cancelled->load(std::memory_order_relaxed))
      return Status(ErrorCode::kCancelled, "cancelled", static_cast<int64_t>(i));
    if (std::chrono::steady_clock::now() > ctx.deadline)
      return Status(ErrorCode::kDeadlineExceeded, "the request's timeout passed", static_cast<int64_t>(i));
    const CheckedInstruction& ci = program.instructions[i];
    std::vector<ConstTensorView> args;
    args.reserve(ci.operands.size());
    for (uint32_t v : ci.operands) args.push_back(view(v));
    Buffer result = has_placement[i] ? Buffer() : Buffer(ci.result.bytes);
    const std::span<std::byte> dest = has_placement[i] ? placed[i] : result.bytes();
    Status st = Execute(ci, args, TensorView{ci.result.dtype, ci.result.shape, dest}, ctx.pool);
    if (!st.ok()) return st.AtInstruction(static_cast<int64_t>(i));
    if (ctx.after_instruction) {
      Status hook = ctx.after_instruction(i);
      if (!hook.ok()) return hook.AtInstruction(static_cast<int64_t>(i));
    }
    const uint32_t self = static_cast<uint32_t>(num_inputs + i);
    if (!has_placement[i] && (program.last_use[self] >= 0 || is_output[self])) values[i] = std::move(result);
    // Free intermediates whose last reader was this instruction.
    for (uint32_t v : ci.operands)
      if (v >= num_inputs && program.last_use[v] == static_cast<int64_t>(i) && !is_output[v])
        values[v - num_inputs].reset();
  }

  std::vector<Output> outputs;
  outputs.reserve(program.outputs.size());
  // An output listed twice, or an intermediate also returned, is copied so
  // each Output owns or views independently.
  std::vector<bool> moved(program.instructions.size(), false);
  for (size_t j = 0; j < program.outputs.size(); ++j) {
    const uint32_t v = program.outputs[j];
    const auto& t = program.type_of(v);
    const std::span<std::byte> slot = have_slots ? ctx.output_slots[j] : std::span<std::byte>();
    Output o{t.dtype, t.shape, Buffer(), {}, false};
    // Copies `from` into this output's slot if it has one, else into a Buffer.
    auto copy_out = [&](std::span<const std::byte> from) {
      if (!slot.empty() && static_cast<int64_t>(slot.size()) == t.bytes) {
        CopyBytes(from, slot, ctx.pool);
        o.bytes = slot;
        o.in_slot = true;
      } else {
        o.owned = Buffer(t.bytes);
        CopyBytes(from, o.owned.bytes(), ctx.pool);
        o.bytes = o.owned.bytes();
      }
    };
    if (v < num_inputs) {
      if (!slot.empty()) copy_out(inputs[v].bytes);
      else o.bytes = inputs[v].bytes;
    } else if (!moved[v - num_inputs]) {
      moved[v - num_inputs] = true;
      if (has_placement[v - num_inputs]) {
        o.bytes = placed[v - num_inputs];
        o.in_slot = true;
      } else {
        o.owned = std::move(*values[v - num_inputs]);
        o.bytes = o.owned.bytes();
      }
    } else {
      // Duplicate: copy from the earlier output that holds it.
      const Output* src = nullptr;
      for (size_t k = 0; k < outputs.size(); ++k)
        if (program.outputs[k] == v) src = &outputs[k];
      copy_out(src->bytes);
    }
    outputs.push_back(std::move(o));
  }
  return outputs;
}

}  // namespace pelemay
