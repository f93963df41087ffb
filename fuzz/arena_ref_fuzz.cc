// Fuzz target 3: shared-memory arena references.
//
// One 64 KiB arena is created in the system's arena directory for the whole
// run. Each input drives up to 16 steps, each one of:
//   * Arena::Slice with a fuzzed offset, length and alignment;
//   * TensorPayload of a tensor with a fuzzed dtype, shape and `arena`
//     payload (the executor's validation of every arena input);
//   * a whole run through RequestHandler with the arena mapped: an arena
//     input, an output region (RunRequest.output_arena) and a minimum size,
//     all fuzzed, computing negate or add into the arena.
// Offsets and lengths are drawn near the interesting edges (0, the arena's
// size, 2^63, UINT64_MAX). Whatever is accepted must lie inside the mapping,
// be aligned and have exactly the declared size; outputs placed in the arena
// must not overlap an arena input; an INTERNAL error is a crash.
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "executor/server/request_handler.h"
#include "executor/validate/tensor_payload.h"
#include "shared_mem/arena.h"

namespace pelemay {
namespace {

constexpr uint64_t kArenaSize = 64 << 10;

std::shared_ptr<shm::Arena> TheArena() {
  static std::shared_ptr<shm::Arena> arena = [] {
    const std::string path = shm::DefaultDirectory() + "/pelemay-fuzz-arena-" + std::to_string(::getpid());
    std::string error;
    std::shared_ptr<shm::Arena> a = shm::Arena::Create(path, kArenaSize, &error);
    if (!a) {
      std::fprintf(stderr, "arena_ref_fuzz: %s\n", error.c_str());
      std::abort();
    }
    shm::Arena::Remove(path);  // the mapping stays; no file is left behind
    return a;
  }();
  return arena;
}

RequestHandler& Handler() {
  static RequestHandler* handler = [] {
    ExecutorOptions o;
    o.memory_budget_bytes = int64_t{1} << 20;
    o.threads = 1;
    o.arena = TheArena();
    return new RequestHandler(o);
  }();
  return *handler;
}

uint64_t Edge(FuzzedDataProvider& in) {
  const uint64_t k = in.ConsumeIntegralInRange<uint64_t>(0, 70);
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
    case 0: return k;
    case 1: return kArenaSize - (k % 8);
    case 2: return kArenaSize + k;
    case 3: return (uint64_t{1} << 63) + k;
    case 4: return UINT64_MAX - k;
    case 5: return k * 8;
    case 6: return in.ConsumeIntegralInRange<uint64_t>(0, kArenaSize);
    default: return in.ConsumeIntegral<uint64_t>();
  }
}

bool Inside(std::span<const std::byte> part, const shm::Arena& arena) {
  const auto all = arena.bytes();
  return part.data() >= all.data() && part.data() + part.size() <= all.data() + all.size();
}

v1::Tensor ArenaTensor(FuzzedDataProvider& in, DType* dtype, Shape* shape, int64_t* elements) {
  v1::Tensor t;
  t.set_dtype(static_cast<v1::DType>(in.ConsumeIntegralInRange<int>(0, 15)));
  const int rank = in.ConsumeIntegralInRange<int>(0, 3);
  *elements = 1;
  for (int i = 0; i < rank; ++i) {
    const int64_t d = in.ConsumeBool() ? in.ConsumeIntegralInRange<int64_t>(0, 40) : in.ConsumeIntegral<int64_t>();
    t.add_shape(d);
  }
  t.mutable_arena()->set_offset(Edge(in));
  t.mutable_arena()->set_length(Edge(in));
  *dtype = static_cast<DType>(t.dtype());
  (void)shape;
  return t;
}

void SliceStep(FuzzedDataProvider& in, const shm::Arena& arena) {
  const uint64_t offset = Edge(in), length = Edge(in);
  const uint64_t align = uint64_t{1} << in.ConsumeIntegralInRange<int>(0, 12);
  std::string error;
  auto span = arena.Slice(offset, length, align, &error);
  if (!span) {
    if (error.empty()) std::abort();
    return;
  }
  if (span->size() != length || !Inside(*span, arena)) std::abort();
  if ((reinterpret_cast<uintptr_t>(span->data()) - reinterpret_cast<uintptr_t>(arena.bytes().data())) % align)
    std::abort();
  if (arena.OffsetOf(*span) != offset) std::abort();
}

void PayloadStep(FuzzedDataProvider& in, const shm::Arena& arena) {
  DType dtype;
  Shape shape;
  int64_t elements;
  const v1::Tensor t = ArenaTensor(in, &dtype, &shape, &elements);
  Buffer storage;
  auto view = TensorPayload(t, storage, &arena);
  if (!view.ok()) {
    if (view.status().code() == ErrorCode::kInternal) std::abort();
    return;
  }
  const uint64_t size = DTypeSize(view->dtype);
  if (!Inside(view->bytes, arena) || view->bytes.size() != t.arena().length()) std::abort();
  if (t.arena().offset() % size != 0) std::abort();
  uint64_t n = size;
  for (int64_t d : t.shape()) n *= static_cast<uint64_t>(d);
  if (n != view->bytes.size()) std::abort();
}

void RunStep(FuzzedDataProvider& in, const shm::Arena& arena) {
  v1::Request req;
  req.set_id(1);
  v1::RunRequest* run = req.mutable_run();
  DType dtype;
  Shape shape;
  int64_t elements;
  *run->add_inputs() = ArenaTensor(in, &dtype, &shape, &elements);
  const v1::Tensor& x = run->inputs(0);
  v1::Program* p = run->mutable_program();
  auto* type = p->add_inputs();
  type->set_dtype(x.dtype());
  *type->mutable_shape() = x.shape();
  auto* ins = p->add_instructions();
  ins->set_op(in.ConsumeBool() ? "negate" : "add");
  ins->add_operands(0);
  if (ins->op() == "add") ins->add_operands(0);
  *ins->mutable_result() = *type;
  p->add_outputs(in.ConsumeBool() ? 1 : 0);
  if (in.ConsumeBool()) p->add_outputs(1);
  if (in.ConsumeBool()) {
    run->mutable_output_arena()->set_offset(Edge(in));
    run->mutable_output_arena()->set_length(Edge(in));
    run->set_output_arena_min_bytes(in.ConsumeIntegralInRange<uint64_t>(0, 64));
  }
  const v1::Response resp = Handler().HandleWork(req, nullptr);
  if (resp.has_error()) {
    if (resp.error().code() == v1::INTERNAL || resp.error().code() == v1::ERROR_CODE_UNSPECIFIED) std::abort();
    return;
  }
  const uint64_t in_begin = x.arena().offset(), in_end = in_begin + x.arena().length();
  for (const auto& out : resp.run().outputs()) {
    Buffer storage;
    auto view = TensorPayload(out, storage, &arena);
    if (!view.ok()) std::abort();
    if (out.has_arena()) {
      if (!Inside(view->bytes, arena)) std::abort();
      const uint64_t b = out.arena().offset(), e = b + out.arena().length();
      const bool same_as_input = b == in_begin && e == in_end;  // an input returned unchanged
      if (!same_as_input && b < in_end && in_begin < e && e > b) std::abort();
      if (run->has_output_arena() && !same_as_input) {
        const uint64_t rb = run->output_arena().offset(), re = rb + run->output_arena().length();
        if (b < rb || e > re || b % kArenaOutputAlignment != 0) std::abort();
      }
    }
  }
}

}  // namespace
}  // namespace pelemay

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pelemay;
  FuzzedDataProvider in(data, size);
  const shm::Arena& arena = *TheArena();
  Handler();
  for (int step = 0; step < 16 && in.remaining_bytes() > 0; ++step) {
    switch (in.ConsumeIntegralInRange<int>(0, 2)) {
      case 0: SliceStep(in, arena); break;
      case 1: PayloadStep(in, arena); break;
      default: RunStep(in, arena); break;
    }
  }
  return 0;
}
