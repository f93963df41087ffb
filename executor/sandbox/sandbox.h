// The executor's confinement (docs/security.md). After start-up — options
// parsed, the shared-memory arena mapped, the thread pool, the Asio loop and
// the compute thread's prerequisites created — the port loop calls Apply():
//   * PR_SET_NO_NEW_PRIVS, core dumps off (RLIMIT_CORE 0, not dumpable),
//   * RLIMIT_AS derived from --memory-budget (AddressSpaceLimit below),
//   * RLIMIT_NOFILE (no descriptor can be created after start-up anyway),
//   * on Linux, a seccomp-bpf allowlist (libseccomp) whose default action
//     kills the whole process with SIGSYS.
// Where the platform has no seccomp (macOS, Windows) only the rlimits apply,
// and State() says so (the `sandbox` field of Info).
#pragma once

#include <cstdint>
#include <string>

#include "executor/core/status.h"

namespace pelemay::sandbox {

struct Limits {
  int64_t memory_budget_bytes = 0;  // --memory-budget
  int64_t max_frame_bytes = 0;      // --max-frame
  unsigned threads = 1;             // threads the process runs (pool + I/O + compute + spares)
};

// Call first thing in main(), before any thread exists, when the sandbox
// will be applied later. glibc's malloc gives threads their own arenas, and
// shrinking such an arena reads /proc/sys/vm/overcommit_memory the first
// time — an open() the sandbox forbids, at a moment nobody chooses. With one
// arena (the main one, which shrinks with brk) that never happens.
void PrepareProcess();

// RLIMIT_AS for these limits, in bytes (saturating; 0 = leave it unlimited).
// See the formula in sandbox.cc and docs/security.md.
uint64_t AddressSpaceLimit(const Limits& limits);

// RLIMIT_NOFILE applied by Apply().
constexpr uint64_t kOpenFilesLimit = 64;

// True where this build can install a seccomp filter (Linux with libseccomp).
bool SeccompAvailable();

// What Apply() installs on this platform and build, in Info's words:
// "seccomp", or "rlimits-only (no seccomp on this platform)".
std::string Planned();

// Confines the calling process. Call once, from the main thread, after every
// descriptor and thread the executor needs exists. On success State()
// becomes Planned(). Errors leave the process partly confined; the caller
// must exit.
Status Apply(const Limits& limits);

// The confinement of this process now: "off" until Apply() succeeded.
std::string State();

}  // namespace pelemay::sandbox
