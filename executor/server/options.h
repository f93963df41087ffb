// Command-line options of pelemay_executor and their defaults.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "executor/core/status.h"
#include "shared_mem/arena.h"

namespace pelemay {

struct ExecutorOptions {
  enum class Mode { kPort, kRun, kInfo, kHelp };
  Mode mode = Mode::kPort;
  std::string run_file;                            // run FILE
  int64_t memory_budget_bytes = int64_t{1} << 30;  // 1 GiB
  int64_t max_frame_bytes = int64_t{256} << 20;    // 256 MiB
  unsigned threads = 0;                            // 0 = cores available
  int64_t program_cache = 256;                     // compiled programs kept
  std::string simd_target;                         // "" = best
  int64_t repeat = 1;                              // run FILE: timed repetitions
  bool enable_fault_injection = false;             // obey FaultRequest (tests only)
  std::string arena_path;                          // --arena: the owner's shared-memory arena
  // The arena at arena_path, mapped by MapArena() at start-up: before the
  // sandbox, which forbids opening files, is applied. Never mapped lazily.
  std::shared_ptr<shm::Arena> arena;
  bool sandbox = true;  // confine the port loop (--no-sandbox: off)
  // --spin-us: after the port loop has handled an event while the compute
  // thread is idle, it polls its input for this long before it sleeps, so
  // the next request of a caller that sends one right after a reply finds
  // it awake (on a virtual machine waking a sleeping thread costs tens of
  // microseconds, more than a small run). -1 = the default: kDefaultSpinUs
  // with at least two CPUs available, else 0 (a spinning thread would hold
  // the only CPU the peer needs to send that request).
  int64_t spin_us = -1;
  // The polling stops where its thread finds its CPU shared (SpinGovernor,
  // executor/server/spin_governor.h); --spin-always: it never does (for
  // measurements and tests of the polling itself).
  bool spin_governor = true;
};

inline constexpr int64_t kDefaultSpinUs = 100;
inline constexpr int64_t kMaxSpinUs = 10000;

// options.spin_us resolved: its value, or the default for `cpus` CPUs.
int64_t EffectiveSpinUs(const ExecutorOptions& options, unsigned cpus);

StatusOr<ExecutorOptions> ParseOptions(const std::vector<std::string>& args);
std::string HelpText();
// Maps options->arena_path (if set) into options->arena. Call once at
// start-up, before anything confines the process.
Status MapArena(ExecutorOptions* options);
// "64M" -> 67108864; accepts K, M, G suffixes (powers of 1024).
StatusOr<int64_t> ParseBytes(const std::string& text);

}  // namespace pelemay
