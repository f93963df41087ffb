#include "executor/server/request_handler.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <string>
#include <string_view>

#include "executor/interp/interpreter.h"
#include "executor/kernels/simd_targets.h"
#include "executor/ops/op_catalogue.h"
#include "executor/sandbox/sandbox.h"
#include "executor/validate/tensor_payload.h"
#include "executor/validate/validator.h"

#ifndef PELEMAY_VERSION
#define PELEMAY_VERSION "0.1.0"
#endif

namespace pelemay {

uint64_t RssAnonBytes() {
#if defined(__linux__)
  // Opened once, before the sandbox (the RequestHandler constructor calls
  // this), and re-read with pread: the sandbox forbids opening files.
  static const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  std::array<char, 4096> buf{};
  const ssize_t n = ::pread(fd, buf.data(), buf.size() - 1, 0);
  if (n <= 0) return 0;
  const std::string_view text(buf.data(), static_cast<size_t>(n));
  const size_t at = text.find("\nRssAnon:");
  if (at == std::string_view::npos) return 0;
  uint64_t kb = 0;
  const char* p = text.data() + at + 9;
  while (p < text.data() + text.size() && (*p == ' ' || *p == '\t')) ++p;
  for (; p < text.data() + text.size() && *p >= '0' && *p <= '9'; ++p) kb = kb * 10 + static_cast<uint64_t>(*p - '0');
  return kb * 1024;  // the line reads "RssAnon:\t    1234 kB"
#else
  return 0;
#endif
}

RequestHandler::RequestHandler(const ExecutorOptions& options)
    : options_(options),
      pool_(options.threads),
      cache_(static_cast<size_t>(options.program_cache)),
      faults_(options.enable_fault_injection, options.memory_budget_bytes) {
  limits_.memory_budget_bytes = options.memory_budget_bytes;
  compiled_targets_ = kernels::CompiledTargets();
  RssAnonBytes();  // opens /proc/self/status while opening is still allowed
}

bool RequestHandler::IsWork(const v1::Request& r) {
  return r.kind_case() == v1::Request::kRun || r.kind_case() == v1::Request::kCompile;
}

v1::Response RequestHandler::ErrorResponse(uint64_t id, const Status& status) {
  v1::Response resp;
  resp.set_id(id);
  auto* e = resp.mutable_error();
  e->set_code(static_cast<v1::ErrorCode>(status.code()));
  e->set_message(status.message());
  if (status.instruction()) e->set_instruction(*status.instruction());
  return resp;
}

v1::Response RequestHandler::HandleWork(const v1::Request& request, const std::atomic<bool>* cancelled,
                                        FaultInjector::Reply* reply) {
  v1::Response resp;
  FaultInjector::Reply ignored = FaultInjector::Reply::kNormal;
  if (reply == nullptr) reply = &ignored;
  try {
    resp = request.kind_case() == v1::Request::kRun ? Run(request, cancelled, reply) : Compile(request);
  } catch (const std::bad_alloc&) {
    resp =
        ErrorResponse(request.id(), Status(ErrorCode::kResourceExhausted, "the system has no memory for this request"));
  }
  if (resp.has_error()) ++errors_;
  return resp;
}

v1::Response RequestHandler::Compile(const v1::Request& request) {
  auto checked = Validate(request.compile().program(), limits_);
  if (!checked.ok()) return ErrorResponse(request.id(), checked.status());
  v1::Response resp;
  resp.set_id(request.id());
  resp.mutable_compile()->set_program_id(cache_.Insert(std::make_shared<const CheckedProgram>(std::move(*checked))));
  return resp;
}

StatusOr<std::vector<std::span<std::byte>>> PlaceOutputs(const v1::RunRequest& run, const CheckedProgram& program,
                                                         const shm::Arena* arena) {
  std::vector<std::span<std::byte>> slots;
  if (!run.has_output_arena()) return slots;
  if (arena == nullptr)
    return Unsupported() << "output_arena needs a shared-memory arena, and none is mapped (--arena)";
  const uint64_t begin = run.output_arena().offset();
  const uint64_t length = run.output_arena().length();
  std::string error;
  if (!arena->Slice(begin, length, kArenaOutputAlignment, &error))
    return InvalidArgument() << "output_arena: " << error;
  // No output may land on a live input: the region shares no byte with any
  // arena input of this run (no op of the catalogue works in place).
  for (int i = 0; i < run.inputs_size(); ++i) {
    if (run.inputs(i).payload_case() != v1::Tensor::kArena) continue;
    const auto& in = run.inputs(i).arena();
    if (shm::Overlap(begin, length, in.offset(), in.length()))
      return InvalidArgument() << "output_arena [" << begin << ", +" << length << ") overlaps input " << i << " at ["
                               << in.offset() << ", +" << in.length() << ")";
  }
  // Bump allocation in output order; an output that does not fit (or is
  // under output_arena_min_bytes, or empty) stays with the executor and goes
  // back inline. All arithmetic below stays within [begin, begin + length],
  // which Slice() proved to be inside the arena.
  const uint64_t end = begin + length;
  uint64_t cursor = begin;
  slots.resize(program.outputs.size());
  for (size_t j = 0; j < program.outputs.size(); ++j) {
    const uint32_t v = program.outputs[j];
    const auto bytes = static_cast<uint64_t>(program.type_of(v).bytes);
    if (bytes == 0 || bytes < run.output_arena_min_bytes()) continue;
    if (v < program.inputs.size() && run.inputs(static_cast<int>(v)).payload_case() == v1::Tensor::kArena)
      continue;  // already in the arena: answered with the input's own reference
    const uint64_t pad = (kArenaOutputAlignment - cursor % kArenaOutputAlignment) % kArenaOutputAlignment;
    if (pad > end - cursor || bytes > end - cursor - pad) continue;
    cursor += pad;
    slots[j] = arena->bytes().subspan(static_cast<size_t>(cursor), static_cast<size_t>(bytes));
    cursor += bytes;
  }
  return slots;
}

v1::Response RequestHandler::Run(const v1::Request& request, const std::atomic<bool>* cancelled,
                                 FaultInjector::Reply* reply) {
  const auto& run = request.run();
  const auto start = std::chrono::steady_clock::now();
  std::shared_ptr<const CheckedProgram> program;
  if (run.source_case() == v1::RunRequest::kProgramId) {
    program = cache_.Find(run.program_id());
    if (!program)
      return ErrorResponse(
          request.id(), Status(ErrorCode::kNotFound, "no compiled program with id " + std::to_string(run.program_id()) +
                                                         " (never compiled, released, or evicted: compile it again)"));
  } else if (run.source_case() == v1::RunRequest::kProgram) {
    auto checked = Validate(run.program(), limits_);
    if (!checked.ok()) return ErrorResponse(request.id(), checked.status());
    program = std::make_shared<const CheckedProgram>(std::move(*checked));
  } else {
    return ErrorResponse(request.id(), InvalidArgument() << "run request names no program");
  }

  const shm::Arena* arena = options_.arena.get();
  std::vector<Buffer> literal_storage(run.inputs_size());
  std::vector<ConstTensorView> inputs;
  for (int i = 0; i < run.inputs_size(); ++i) {
    auto view = TensorPayload(run.inputs(i), literal_storage[i], arena);
    if (!view.ok())
      return ErrorResponse(request.id(),
                           Status(view.status().code(), "input " + std::to_string(i) + ": " + view.status().message()));
    inputs.push_back(std::move(*view));
  }
  if (Status st = ValidateInputs(*program, inputs); !st.ok()) return ErrorResponse(request.id(), st);
  auto slots = PlaceOutputs(run, *program, arena);
  if (!slots.ok()) return ErrorResponse(request.id(), slots.status());

  RunContext ctx;
  ctx.pool = &pool_;
  ctx.output_slots = std::move(*slots);
  ctx.cancelled = cancelled;
  if (run.timeout_ms() > 0) ctx.deadline = start + std::chrono::milliseconds(run.timeout_ms());
  const v1::FaultRequest* own_fault = run.has_fault() ? &run.fault() : nullptr;
  if (own_fault != nullptr) {
    if (Status st = faults_.BeforeRun(*own_fault, reply); !st.ok()) return ErrorResponse(request.id(), st);
  }
  if (faults_.enabled())
    ctx.after_instruction = [&](size_t i) { return faults_.AfterInstruction(i, own_fault, reply); };
  busy_ = true;
  const auto compute_start = std::chrono::steady_clock::now();
  auto outputs = pelemay::Run(*program, inputs, ctx);
  const auto compute_end = std::chrono::steady_clock::now();
  busy_ = false;
  ++runs_;
  if (!outputs.ok()) return ErrorResponse(request.id(), outputs.status());

  v1::Response resp;
  resp.set_id(request.id());
  auto* result = resp.mutable_run();
  for (const auto& o : *outputs) {
    // In the arena (computed into its slot, or an arena input returned
    // unchanged): answer with its place. Anything else travels inline.
    const auto offset = arena != nullptr && !o.bytes.empty() ? arena->OffsetOf(o.bytes) : std::nullopt;
    if (offset) SetArenaTensor(o.dtype, o.shape, *offset, o.bytes.size(), result->add_outputs());
    else SetTensor(o.dtype, o.shape, o.bytes, result->add_outputs());
  }
  result->set_compute_us(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(compute_end - compute_start).count()));
  return resp;
}

v1::Response RequestHandler::HandleQuick(const v1::Request& request) {
  v1::Response resp;
  resp.set_id(request.id());
  switch (request.kind_case()) {
    case v1::Request::kStats: *resp.mutable_stats() = Stats(); break;
    case v1::Request::kInfo: *resp.mutable_info() = Info(); break;
    case v1::Request::kPing: resp.mutable_pong(); break;
    case v1::Request::kRelease:
      resp.mutable_release()->set_released(cache_.Release(request.release().program_id()));
      break;
    default:
      ++errors_;
      return ErrorResponse(request.id(), InvalidArgument() << "request has no kind the executor knows");
  }
  return resp;
}

v1::Info RequestHandler::Info() const {
  v1::Info info;
  info.set_version(PELEMAY_VERSION);
  info.set_protocol_version(v1::PROTOCOL_VERSION);
  for (const auto& t : compiled_targets_) info.add_simd_targets_compiled(t);
  info.set_simd_target_chosen(kernels::ChosenTarget());
  info.set_memory_budget_bytes(static_cast<uint64_t>(limits_.memory_budget_bytes));
  info.set_max_frame_bytes(static_cast<uint64_t>(options_.max_frame_bytes));
  info.set_threads(pool_.threads());
  info.set_program_cache_capacity(cache_.capacity());
  for (const auto& op : AllOps()) info.add_ops(std::string(op.name));
  if (options_.arena) {
    info.set_arena_path(options_.arena->path());
    info.set_arena_bytes(options_.arena->size());
  }
  info.set_sandbox(sandbox::State());
  info.set_spin_us(static_cast<uint32_t>(std::max<int64_t>(options_.spin_us, 0)));
  return info;
}

v1::Stats RequestHandler::Stats() const {
  v1::Stats s;
  s.set_requests(requests_);
  s.set_runs(runs_);
  s.set_errors(errors_);
  s.set_cached_programs(cache_.size());
  s.set_bytes_in(bytes_in_);
  s.set_bytes_out(bytes_out_);
  s.set_tensor_bytes_live(static_cast<uint64_t>(MemoryAccount::Global().live()));
  s.set_tensor_bytes_peak(static_cast<uint64_t>(MemoryAccount::Global().peak()));
  s.set_rss_anon_bytes(RssAnonBytes());
  s.set_busy(busy_ ? 1 : 0);
  return s;
}

}  // namespace pelemay
