#include "executor/server/fault_injection.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "executor/core/buffer.h"

namespace pelemay {

Status FaultInjector::Check(const v1::FaultRequest& fault) const {
  if (!enabled_)
    return Unsupported() << "fault injection is disabled; start the executor with --enable-fault-injection";
  if (fault.kind() == v1::FaultRequest::FAULT_KIND_UNSPECIFIED || !v1::FaultRequest::Kind_IsValid(fault.kind()))
    return InvalidArgument() << "unknown fault kind " << fault.kind();
  if (!v1::FaultRequest::When_IsValid(fault.when())) return InvalidArgument() << "unknown fault time " << fault.when();
  return Status::Ok();
}

StatusOr<FaultInjector::Reply> FaultInjector::Handle(const v1::FaultRequest& fault) {
  if (Status st = Check(fault); !st.ok()) return st;
  if (fault.when() == v1::FaultRequest::DURING_NEXT_RUN) {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = fault;
    return Reply::kNormal;
  }
  Status status;
  const Reply reply = Fire(fault, &status);
  if (!status.ok()) return status;
  return reply;
}

Status FaultInjector::BeforeRun(const v1::FaultRequest& own, Reply* reply) {
  if (Status st = Check(own); !st.ok()) return st;
  if (own.when() != v1::FaultRequest::NOW || own.kind() == v1::FaultRequest::SLOW) return Status::Ok();
  Status status;
  *reply = Fire(own, &status);
  return status;
}

Status FaultInjector::AfterInstruction(size_t index, const v1::FaultRequest* own, Reply* reply) {
  if (!enabled_) return Status::Ok();
  if (const uint64_t ms = slow_ms_.load(); ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  if (own != nullptr) {
    // The run's own SLOW applies to this run only, so it is not Fire()d
    // (which would slow every later run too).
    if (own->kind() == v1::FaultRequest::SLOW) {
      std::this_thread::sleep_for(std::chrono::milliseconds(own->delay_ms()));
    } else if (own->when() == v1::FaultRequest::DURING_NEXT_RUN && index == 0) {
      Status status;
      *reply = Fire(*own, &status);
      if (!status.ok()) return status;
    }
  }
  std::optional<v1::FaultRequest> fault;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!armed_) return Status::Ok();
    fault.swap(armed_);
  }
  Status status;
  *reply = Fire(*fault, &status);
  return status;
}

FaultInjector::Reply FaultInjector::Fire(const v1::FaultRequest& fault, Status* status) {
  switch (fault.kind()) {
    case v1::FaultRequest::ALLOCATE: *status = Allocate(); return Reply::kNormal;
    case v1::FaultRequest::GARBAGE_REPLY: return Reply::kGarbage;
    case v1::FaultRequest::TRUNCATED_REPLY: return Reply::kTruncatedThenExit;
    case v1::FaultRequest::SLOW: slow_ms_ = fault.delay_ms(); return Reply::kNormal;
    case v1::FaultRequest::FORBIDDEN_OPEN:
    case v1::FaultRequest::FORBIDDEN_SOCKET:
    case v1::FaultRequest::FORBIDDEN_EXEC: *status = TryForbidden(fault.kind()); return Reply::kNormal;
    default: Die(fault);
  }
}

void FaultInjector::Die(const v1::FaultRequest& fault) {
  switch (fault.kind()) {
    case v1::FaultRequest::SEGFAULT:
      std::signal(SIGSEGV, SIG_DFL);
      std::raise(SIGSEGV);
      break;
    case v1::FaultRequest::EXIT: ::_exit(fault.exit_code());
    case v1::FaultRequest::HANG:
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    default: break;
  }
  std::abort();  // ABORT, and the fallback should a signal be ignored
}

// Makes a system call the sandbox forbids (docs/security.md). Sandboxed, the
// kernel kills the process with SIGSYS inside the call; unconfined, the call
// succeeds and so does the fault.
Status FaultInjector::TryForbidden(v1::FaultRequest::Kind kind) {
  switch (kind) {
    case v1::FaultRequest::FORBIDDEN_OPEN: {
      const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Internal() << "injected open(/dev/null) failed: " << std::strerror(errno);
      ::close(fd);
      return Status::Ok();
    }
    case v1::FaultRequest::FORBIDDEN_SOCKET: {
      const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return Internal() << "injected socket() failed: " << std::strerror(errno);
      ::close(fd);
      return Status::Ok();
    }
    default: {
      pid_t pid = -1;
      char arg0[] = "true";
      char* argv[] = {arg0, nullptr};
      char* envp[] = {nullptr};
      if (const int rc = ::posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, envp); rc != 0)
        return Internal() << "injected posix_spawn(/bin/true) failed: " << std::strerror(rc);
      int wstatus = 0;
      if (::waitpid(pid, &wstatus, 0) != pid || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
        return Internal() << "injected /bin/true did not exit cleanly";
      return Status::Ok();
    }
  }
}

// Allocates the budget in 1 MiB steps and touches every page, as a runaway
// kernel would, then gives it back and reports RESOURCE_EXHAUSTED: the
// executor stays up.
Status FaultInjector::Allocate() {
  std::vector<Buffer> hog;
  constexpr int64_t kStep = 1 << 20;
  while (MemoryAccount::Global().live() <= budget_) {
    hog.emplace_back(kStep);
    for (int64_t i = 0; i < kStep; i += 4096) hog.back().bytes()[i] = std::byte{1};
  }
  const int64_t held = static_cast<int64_t>(hog.size()) * kStep;
  return ResourceExhausted() << "injected fault: allocated " << held << " bytes, over the memory budget of " << budget_;
}

std::string FaultInjector::GarbageFrame() {
  const std::string junk = "\xff\xff\xff\xff this is not a pelemay.v1.Response";
  std::string frame = {0, 0, 0, static_cast<char>(junk.size())};
  return frame + junk;
}

std::string FaultInjector::TruncatedFrame() {
  // Announces 1000 bytes, delivers 10.
  return std::string("\x00\x00\x03\xe8", 4) + std::string(10, '\x08');
}

}  // namespace pelemay
