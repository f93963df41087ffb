// pelemay_executor: the port program (default), plus `run FILE` and `info`
// for people debugging it. See `pelemay_executor --help`.
#include <csignal>
#if defined(__linux__)
#include <sys/prctl.h>
#include <unistd.h>
#endif
#include <cstdio>
#include <string>
#include <vector>

#include <google/protobuf/text_format.h>

#include "executor/kernels/simd_targets.h"
#include "executor/sandbox/sandbox.h"
#include "executor/server/options.h"
#include "executor/server/port_server.h"
#include "executor/server/request_handler.h"
#include "executor/server/tensor_printer.h"
#include "executor/server/text_format.h"
#include "executor/validate/tensor_payload.h"

namespace pelemay {
namespace {

int PrintInfo(const ExecutorOptions& options) {
  RequestHandler handler(options);
  std::string text;
  google::protobuf::TextFormat::Printer printer;
  printer.SetUseShortRepeatedPrimitives(true);
  const v1::Info info = handler.Info();
  std::printf("pelemay_executor %s (protocol v%u)\n", info.version().c_str(), info.protocol_version());
  std::printf("SIMD targets compiled and supported: ");
  for (int i = 0; i < info.simd_targets_compiled_size(); ++i)
    std::printf("%s%s", i ? ", " : "", info.simd_targets_compiled(i).c_str());
  std::printf("\nSIMD target chosen: %s\n", info.simd_target_chosen().c_str());
  std::printf("memory budget: %llu bytes\n", static_cast<unsigned long long>(info.memory_budget_bytes()));
  std::printf("max frame: %llu bytes\n", static_cast<unsigned long long>(info.max_frame_bytes()));
  std::printf("threads: %u\n", info.threads());
  std::printf("program cache: %llu programs\n", static_cast<unsigned long long>(info.program_cache_capacity()));
  // `info` itself runs unconfined (it only prints); this says what the port
  // loop and `run FILE` apply with the same options.
  std::printf("sandbox: %s\n", options.sandbox ? sandbox::Planned().c_str() : "off (--no-sandbox)");
  if (info.arena_path().empty()) std::printf("arena: none (--arena PATH maps one)\n");
  else
    std::printf("arena: %s, %llu bytes mapped\n", info.arena_path().c_str(),
                static_cast<unsigned long long>(info.arena_bytes()));
  std::printf("ops (%d): ", info.ops_size());
  for (int i = 0; i < info.ops_size(); ++i) std::printf("%s%s", i ? " " : "", info.ops(i).c_str());
  std::printf("\n");
  return 0;
}

int RunFile(const ExecutorOptions& options) {
  auto request = ReadRequestFile(options.run_file);
  if (!request.ok()) {
    std::fprintf(stderr, "error: %s\n", request.status().ToString().c_str());
    return 2;
  }
  if (request->kind_case() != v1::Request::kRun || !request->run().has_program()) {
    std::fprintf(stderr, "error: %s must hold a `run` request with an inline `program`\n", options.run_file.c_str());
    return 2;
  }
  RequestHandler handler(options);
  // Confined like the port loop (the request is read, the pool is up), so a
  // request file reproduces what the executor does under the BEAM.
  if (options.sandbox) {
    if (Status st = sandbox::Apply(SandboxLimits(options, handler.Info().threads())); !st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.message().c_str());
      return kExitSandbox;
    }
  }
  std::printf("program: %d input(s), %d instruction(s), %d output(s); SIMD target %s\n",
              request->run().program().inputs_size(), request->run().program().instructions_size(),
              request->run().program().outputs_size(), kernels::ChosenTarget().c_str());
  v1::Response resp;
  uint64_t total_us = 0;
  for (int64_t i = 0; i < options.repeat; ++i) {
    resp = handler.HandleWork(*request, nullptr);
    if (resp.has_error()) break;
    total_us += resp.run().compute_us();
  }
  if (resp.has_error()) {
    const auto& e = resp.error();
    std::printf("error %s%s: %s\n", v1::ErrorCode_Name(e.code()).c_str(),
                e.has_instruction() ? (" at instruction " + std::to_string(e.instruction())).c_str() : "",
                e.message().c_str());
    return 1;
  }
  for (int i = 0; i < resp.run().outputs_size(); ++i) {
    Buffer unused;
    auto view = TensorPayload(resp.run().outputs(i), unused, options.arena.get());
    std::printf("output %d: %s\n", i, view.ok() ? FormatTensor(*view).c_str() : "(unreadable)");
  }
  std::printf("compute time: %.3f ms (mean of %lld run(s))\n",
              static_cast<double>(total_us) / 1000.0 / static_cast<double>(options.repeat),
              static_cast<long long>(options.repeat));
  return 0;
}

}  // namespace
}  // namespace pelemay

int main(int argc, char** argv) {
  using namespace pelemay;
  // A peer that went away must surface as a write error, not kill us.
  std::signal(SIGPIPE, SIG_IGN);
  // Before any thread exists (sandbox.h says why); harmless with --no-sandbox.
  sandbox::PrepareProcess();
  auto options = ParseOptions(std::vector<std::string>(argv + 1, argv + argc));
  if (!options.ok()) {
    std::fprintf(stderr, "pelemay_executor: %s\n", options.status().message().c_str());
    return 2;
  }
  if (options->mode == ExecutorOptions::Mode::kHelp) {
    std::fputs(HelpText().c_str(), stdout);
    return 0;
  }
  Status st =
      options->simd_target.empty() ? kernels::UseTargetFromEnvironment() : kernels::UseTarget(options->simd_target);
  if (!st.ok()) {
    std::fprintf(stderr, "pelemay_executor: %s\n", st.message().c_str());
    return 2;
  }
  // The shared-memory arena is mapped here, at start-up, from the command
  // line: never later, from a request. The sandbox that ServePort applies
  // after start-up forbids opening files, and a mapping made now stays valid
  // under it.
  st = MapArena(&*options);
  if (!st.ok()) {
    std::fprintf(stderr, "pelemay_executor: %s\n", st.message().c_str());
    return 2;
  }
  switch (options->mode) {
    case ExecutorOptions::Mode::kInfo: return PrintInfo(*options);
    case ExecutorOptions::Mode::kRun: return RunFile(*options);
    default:
#if defined(__linux__)
      // Never outlive the owner: if the process that started us (the BEAM's
      // port spawner) dies, the kernel kills us, even when a hung kernel or an
      // injected HANG keeps us from ever reading stdin's EOF.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() == 1) return 0;  // the owner died before the line above
#endif
      return ServePort(*options, 0, 1);
  }
}
