#include "executor/sandbox/sandbox.h"

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <cerrno>
#include <cstring>

#if defined(__linux__) && defined(PELEMAY_HAVE_SECCOMP)
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#define PELEMAY_SECCOMP 1
#elif defined(__linux__)
#include <sys/prctl.h>
#endif

// AddressSanitizer reserves terabytes of shadow address space at start-up,
// so no RLIMIT_AS can be set under it (its allocator would fail at once).
#if defined(__SANITIZE_ADDRESS__)
#define PELEMAY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PELEMAY_ASAN 1
#endif
#endif

namespace pelemay::sandbox {
namespace {

std::atomic<const char*> g_state{"off"};

constexpr uint64_t kMiB = uint64_t{1} << 20;

uint64_t SatAdd(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}
uint64_t SatMul(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

Status Errno(const char* what) { return Internal() << "sandbox: " << what << " failed: " << std::strerror(errno); }

// Lowers both limits of `resource` to `value` (never raises the hard limit).
Status LowerLimit(int resource, uint64_t value, const char* what) {
  rlimit current{};
  if (::getrlimit(resource, &current) != 0) return Errno(what);
  rlim_t v = static_cast<rlim_t>(value);
  if (current.rlim_max != RLIM_INFINITY && current.rlim_max < v) v = current.rlim_max;
  const rlimit lowered{v, v};
  if (::setrlimit(resource, &lowered) != 0) return Errno(what);
  return Status::Ok();
}

#if defined(PELEMAY_SECCOMP)
// The allowlist. Every entry is justified in docs/security.md (same order);
// the set was measured with `strace -f` over the whole test suite.
Status InstallSeccomp() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (ctx == nullptr) return Internal() << "sandbox: seccomp_init failed";
  struct Guard {
    scmp_filter_ctx c;
    ~Guard() { seccomp_release(c); }
  } guard{ctx};
  int rc = 0;
  auto allow = [&](int nr) {
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
  };
  // A comparison on argument `arg` (libseccomp's SCMP_A* macros leave a
  // field to default initialization, which -Wextra flags).
  auto arg = [](unsigned index, scmp_compare op, scmp_datum_t a, scmp_datum_t b = 0) {
    return scmp_arg_cmp{index, op, a, b};
  };
  auto allow_if = [&](int nr, scmp_arg_cmp cmp) {
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, cmp);
  };
  // The pipes and the descriptors Asio made before the sandbox.
  allow(SCMP_SYS(read));
  allow(SCMP_SYS(write));
  allow(SCMP_SYS(close));
  allow(SCMP_SYS(pread64));     // re-reading /proc/self/status and schedstat, opened at start-up
  allow(SCMP_SYS(newfstatat));  // stdio's first write to stderr
  allow(SCMP_SYS(epoll_wait));
  allow(SCMP_SYS(epoll_pwait));  // what epoll_wait is on arm64
  allow(SCMP_SYS(epoll_ctl));
  allow_if(SCMP_SYS(ioctl), arg(1, SCMP_CMP_EQ, FIONBIO));  // Asio: non-blocking mode
  // Memory. Never executable: no new code can be mapped.
  allow_if(SCMP_SYS(mmap), arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  allow_if(SCMP_SYS(mprotect), arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  allow(SCMP_SYS(munmap));
  allow(SCMP_SYS(mremap));
  allow(SCMP_SYS(madvise));
  allow(SCMP_SYS(brk));
  // Threads: pthread_create's clone (threads only: CLONE_THREAD), its
  // bookkeeping, and the futexes every lock and condition variable uses.
  // clone3 passes its flags in memory a filter cannot read: it fails with
  // ENOSYS and glibc falls back to clone.
  allow_if(SCMP_SYS(clone), arg(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  allow(SCMP_SYS(set_robust_list));
  allow(SCMP_SYS(rseq));
  allow(SCMP_SYS(futex));
  allow(SCMP_SYS(gettid));
  allow(SCMP_SYS(getpid));
  // The port loop's SpinGovernor moves its own thread off a shared CPU
  // (pid 0: the calling thread, nothing else); sched_getcpu's fallback.
  allow_if(SCMP_SYS(sched_setaffinity), arg(0, SCMP_CMP_EQ, 0));
  allow(SCMP_SYS(getcpu));
  // Time.
  allow(SCMP_SYS(clock_gettime));  // when the vDSO cannot answer
  allow(SCMP_SYS(clock_nanosleep));
  // Signals: masks, handlers, abort()'s and raise()'s signal to itself.
  allow(SCMP_SYS(rt_sigprocmask));
  allow(SCMP_SYS(rt_sigaction));
  allow(SCMP_SYS(rt_sigreturn));
  allow(SCMP_SYS(restart_syscall));
  allow_if(SCMP_SYS(tgkill), arg(0, SCMP_CMP_EQ, static_cast<scmp_datum_t>(::getpid())));
  // Leaving.
  allow(SCMP_SYS(exit));
  allow(SCMP_SYS(exit_group));
#if defined(PELEMAY_SANITIZER_BUILD)
  // Sanitizer builds only (-DPELEMAY_SANITIZE / -DPELEMAY_FUZZ), never the
  // product: UBSan's vptr check probes whether a vtable is readable by
  // writing it into a pipe (IsAccessibleMemoryRange).
  allow(SCMP_SYS(pipe2));
  // ASan registers each new thread's stack with pthread_getattr_np, which
  // asks for the thread's CPU affinity.
  allow(SCMP_SYS(sched_getaffinity));
  // ASan gives every thread an alternate signal stack for its SEGV handler.
  allow(SCMP_SYS(sigaltstack));
#endif
  if (rc != 0) return Internal() << "sandbox: seccomp_rule_add failed: " << std::strerror(-rc);
  // Threads already running (thread pool, relays) get the filter too.
  if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) != 0)
    return Internal() << "sandbox: seccomp TSYNC unavailable: " << std::strerror(-rc);
  if ((rc = seccomp_load(ctx)) != 0) return Internal() << "sandbox: seccomp_load failed: " << std::strerror(-rc);
  return Status::Ok();
}
#endif

}  // namespace

// RLIMIT_AS = 512 MiB                      code, libraries, protobuf and Highway tables, stdio
//           + 2 x memory budget            tensor memory, plus the same again for allocator
//                                          slack and the ALLOCATE fault's overshoot
//           + 4 x max frame                the frame being read, the parsed request's bytes,
//                                          the serialized reply and its framed copy
//           + 136 MiB x threads            an 8 MiB stack and a glibc malloc arena per thread
//                                          (a new arena maps 128 MiB to align 64 MiB)
// It bounds a runaway far below "all the machine's memory" while never
// failing a program the memory budget admits.
uint64_t AddressSpaceLimit(const Limits& l) {
  const uint64_t budget = l.memory_budget_bytes > 0 ? static_cast<uint64_t>(l.memory_budget_bytes) : 0;
  const uint64_t frame = l.max_frame_bytes > 0 ? static_cast<uint64_t>(l.max_frame_bytes) : 0;
  uint64_t as = 512 * kMiB;
  as = SatAdd(as, SatMul(budget, 2));
  as = SatAdd(as, SatMul(frame, 4));
  as = SatAdd(as, SatMul(136 * kMiB, l.threads == 0 ? 1 : l.threads));
  return as;
}

void PrepareProcess() {
#if defined(__GLIBC__)
  ::mallopt(M_ARENA_MAX, 1);
#endif
}

bool SeccompAvailable() {
#if defined(PELEMAY_SECCOMP)
  return true;
#else
  return false;
#endif
}

std::string Planned() {
#if defined(PELEMAY_SECCOMP) && defined(PELEMAY_ASAN)
  return "seccomp (no RLIMIT_AS: AddressSanitizer build)";
#elif defined(PELEMAY_SECCOMP)
  return "seccomp";
#else
  return "rlimits-only (no seccomp on this platform)";
#endif
}

Status Apply(const Limits& limits) {
#if defined(__linux__)
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Errno("PR_SET_NO_NEW_PRIVS");
  // Not dumpable: no core file, and no ptrace attach by other processes of
  // the same user (the tensor data in memory belongs to the BEAM's user).
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return Errno("PR_SET_DUMPABLE");
#endif
  if (Status st = LowerLimit(RLIMIT_CORE, 0, "RLIMIT_CORE"); !st.ok()) return st;
#if !defined(PELEMAY_ASAN)
  if (Status st = LowerLimit(RLIMIT_AS, AddressSpaceLimit(limits), "RLIMIT_AS"); !st.ok()) {
#if defined(__linux__)
    return st;
#else
    // macOS accepts RLIMIT_AS only loosely (it aliases RLIMIT_RSS and does
    // not enforce it); not having it there is no reason to refuse to serve.
    (void)st;
#endif
  }
#endif
  if (Status st = LowerLimit(RLIMIT_NOFILE, kOpenFilesLimit, "RLIMIT_NOFILE"); !st.ok()) return st;
#if defined(PELEMAY_SECCOMP)
  if (Status st = InstallSeccomp(); !st.ok()) return st;
  static const std::string planned = Planned();
  g_state = planned.c_str();
#else
  g_state = "rlimits-only (no seccomp on this platform)";
#endif
  return Status::Ok();
}

std::string State() { return g_state.load(); }

}  // namespace pelemay::sandbox
