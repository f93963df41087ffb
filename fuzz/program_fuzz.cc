// Fuzz target 2: decode + validate + run programs on small tensors.
//
// Input: a serialized pelemay.v1.Request. Run and compile requests go
// through RequestHandler::HandleWork (decode the inputs, validate the whole
// program against a 1 MiB memory budget, interpret it), every other kind
// through HandleQuick, exactly as the port loop does. Whatever the bytes,
// the answer must be a Response; an INTERNAL error (the protocol's "a bug in
// the executor") is treated as a crash, and so is an output whose payload
// does not match its declared dtype and shape.
//
// Structure-aware mutation (no libprotobuf-mutator on this platform): the
// custom mutator below parses the input as a Request and edits the program
// the way a buggy or hostile builder would — another op, operand, dtype,
// dimension, attribute, instruction or input — and falls back to libFuzzer's
// byte mutations for bytes that do not parse.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

#include "executor/ops/op_catalogue.h"
#include "executor/server/request_handler.h"
#include "executor/validate/tensor_payload.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace pelemay {
namespace {

RequestHandler& Handler() {
  static RequestHandler* handler = [] {
    ExecutorOptions o;
    o.memory_budget_bytes = int64_t{1} << 20;  // small tensors only
    o.threads = 2;                             // exercise the pool's hand-off
    o.program_cache = 4;
    return new RequestHandler(o);
  }();
  return *handler;
}

void CheckResponse(const v1::Response& resp) {
  if (resp.has_error()) {
    if (resp.error().code() == v1::INTERNAL || resp.error().code() == v1::ERROR_CODE_UNSPECIFIED) std::abort();
    return;
  }
  if (!resp.has_run()) return;
  for (const auto& out : resp.run().outputs()) {
    Buffer storage;
    if (!TensorPayload(out, storage).ok()) std::abort();
  }
}

template <typename Rng>
int64_t SmallInt(Rng& rng) {
  switch (rng() % 8) {
    case 0: return -1;
    case 1: return int64_t{1} << (rng() % 63);  // overflow bait
    case 2: return INT64_MIN;
    default: return static_cast<int64_t>(rng() % 6);
  }
}

template <typename Rng>
void MutateType(v1::TensorType* t, Rng& rng) {
  if (rng() % 2) {
    t->set_dtype(static_cast<v1::DType>(rng() % 15));
  } else if (t->shape_size() > 0 && rng() % 3) {
    t->set_shape(static_cast<int>(rng() % t->shape_size()), SmallInt(rng));
  } else if (rng() % 2 && t->shape_size() < 6) {
    t->add_shape(1 + static_cast<int64_t>(rng() % 4));
  } else if (t->shape_size() > 0) {
    t->mutable_shape()->RemoveLast();
  }
}

// Makes input i's data match its declared type with random bytes, so that
// mutated programs get past decoding and reach the validator and kernels.
template <typename Rng>
void RefillInput(v1::RunRequest* run, int i, Rng& rng) {
  if (i >= run->program().inputs_size()) return;
  const auto& t = run->program().inputs(i);
  while (run->inputs_size() <= i) run->add_inputs();
  v1::Tensor* x = run->mutable_inputs(i);
  x->set_dtype(t.dtype());
  *x->mutable_shape() = t.shape();
  const auto dtype = DTypeFromWire(t.dtype());  // the bytes may name any dtype number
  if (!dtype) return;
  int64_t n = static_cast<int64_t>(DTypeSize(*dtype));
  for (int64_t d : t.shape()) {
    if (d < 0 || d > 4096 || n * d > 65536) return;
    n *= d;
  }
  std::string bytes(static_cast<size_t>(n), '\0');
  for (auto& c : bytes) c = static_cast<char>(rng());
  x->set_data(bytes);
}

template <typename Rng>
void MutateProgram(v1::Request* req, Rng& rng) {
  v1::RunRequest* run = req->mutable_run();
  run->clear_fault();
  run->set_timeout_ms(0);
  v1::Program* p = run->mutable_program();
  const int n_ins = p->instructions_size();
  const auto ops = AllOps();
  v1::Instruction* ins = n_ins > 0 ? p->mutable_instructions(static_cast<int>(rng() % n_ins)) : nullptr;
  switch (rng() % 12) {
    case 0:
      if (ins) ins->set_op(std::string(ops[rng() % ops.size()].name));
      break;
    case 1:
      if (ins && ins->operands_size() > 0)
        ins->set_operands(static_cast<int>(rng() % ins->operands_size()),
                          static_cast<uint32_t>(rng() % (p->inputs_size() + n_ins + 2)));
      else if (ins) ins->add_operands(static_cast<uint32_t>(rng() % (p->inputs_size() + 1)));
      break;
    case 2:
      if (ins) MutateType(ins->mutable_result(), rng);
      break;
    case 3:
      if (p->inputs_size() > 0) {
        const int i = static_cast<int>(rng() % p->inputs_size());
        MutateType(p->mutable_inputs(i), rng);
        if (rng() % 4) RefillInput(run, i, rng);
      }
      break;
    case 4:  // attributes
      if (ins) {
        auto* a = ins->mutable_attrs();
        switch (rng() % 10) {
          case 0: a->add_axes(SmallInt(rng)); break;
          case 1: a->add_permutation(SmallInt(rng)); break;
          case 2: a->set_axis(SmallInt(rng)); break;
          case 3: a->add_start(SmallInt(rng)); break;
          case 4: {
            auto* pad = a->add_padding();
            pad->set_lo(SmallInt(rng));
            pad->set_hi(SmallInt(rng));
            pad->set_interior(SmallInt(rng) % 3);
            break;
          }
          // Window ops and conv: per-axis sizes, strides and dilations, groups.
          case 5: a->add_window_dimensions(SmallInt(rng)); break;
          case 6:
            if (rng() % 2) a->add_strides(SmallInt(rng));
            else a->add_window_dilations(SmallInt(rng));
            break;
          case 7:
            if (rng() % 2) a->add_input_dilation(SmallInt(rng));
            else a->add_kernel_dilation(SmallInt(rng));
            break;
          case 8:
            if (rng() % 2) a->set_feature_group_size(SmallInt(rng));
            else a->set_batch_group_size(SmallInt(rng));
            break;
          default: a->Clear(); break;
        }
      }
      break;
    case 5:  // duplicate an instruction at the end
      if (ins && n_ins < 64) *p->add_instructions() = *ins;
      break;
    case 6:
      if (n_ins > 0) p->mutable_instructions()->RemoveLast();
      break;
    case 7:
      if (p->outputs_size() > 0) p->set_outputs(0, static_cast<uint32_t>(rng() % (p->inputs_size() + n_ins + 1)));
      else p->add_outputs(static_cast<uint32_t>(p->inputs_size() + n_ins - 1));
      break;
    case 8:  // new data for an input (special values included by chance)
      if (p->inputs_size() > 0) RefillInput(run, static_cast<int>(rng() % p->inputs_size()), rng);
      break;
    case 9:  // a new input of a random small type
      if (p->inputs_size() < 8) {
        auto* t = p->add_inputs();
        t->set_dtype(static_cast<v1::DType>(1 + rng() % 14));
        for (int d = static_cast<int>(rng() % 3); d > 0; --d) t->add_shape(1 + static_cast<int64_t>(rng() % 5));
        RefillInput(run, p->inputs_size() - 1, rng);
      }
      break;
    case 10:  // the payload kind
      if (run->inputs_size() > 0) {
        auto* x = run->mutable_inputs(static_cast<int>(rng() % run->inputs_size()));
        if (rng() % 2) {
          x->mutable_literal()->add_floats(static_cast<double>(SmallInt(rng)) / 3.0);
        } else {
          x->mutable_arena()->set_offset(static_cast<uint64_t>(SmallInt(rng)));
          x->mutable_arena()->set_length(static_cast<uint64_t>(SmallInt(rng)));
        }
      }
      break;
    default:  // compile instead of run, or back
      if (rng() % 2) {
        v1::Program prog = *p;
        req->mutable_compile()->mutable_program()->Swap(&prog);
      }
      break;
  }
}

}  // namespace
}  // namespace pelemay

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  pelemay::v1::Request req;
  std::minstd_rand rng(seed);
  if (rng() % 8 == 0 || !req.ParseFromArray(data, static_cast<int>(size)) || !req.has_run() || !req.run().has_program())
    return LLVMFuzzerMutate(data, size, max_size);
  pelemay::MutateProgram(&req, rng);
  std::string out;
  if (!req.SerializeToString(&out) || out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::copy(out.begin(), out.end(), data);
  return out.size();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pelemay;
  v1::Request req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return 0;
  switch (req.kind_case()) {
    case v1::Request::kRun:
      req.mutable_run()->clear_fault();  // faults are the fault tests' business
      [[fallthrough]];
    case v1::Request::kCompile: {
      const v1::Response resp = Handler().HandleWork(req, nullptr);
      CheckResponse(resp);
      if (resp.has_compile()) {  // and release it again, as an owner would
        v1::Request release;
        release.mutable_release()->set_program_id(resp.compile().program_id());
        CheckResponse(Handler().HandleQuick(release));
      }
      break;
    }
    case v1::Request::kStats:
    case v1::Request::kInfo:
    case v1::Request::kPing:
    case v1::Request::kRelease: CheckResponse(Handler().HandleQuick(req)); break;
    default: break;  // cancel, shutdown, fault belong to the port loop
  }
  return 0;
}
