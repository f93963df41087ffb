#include "executor/server/spin_governor.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <utility>

namespace pelemay {

std::optional<int64_t> ParseSchedstatRunDelay(std::string_view line) {
  // Three unsigned decimal fields separated by single spaces.
  std::array<int64_t, 3> fields{};
  size_t pos = 0;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) {
      if (pos >= line.size() || line[pos] != ' ') return std::nullopt;
      ++pos;
    }
    const size_t start = pos;
    int64_t value = 0;
    while (pos < line.size() && line[pos] >= '0' && line[pos] <= '9') {
      if (value > (INT64_MAX - 9) / 10) return std::nullopt;
      value = value * 10 + (line[pos] - '0');
      ++pos;
    }
    if (pos == start) return std::nullopt;
    fields[i] = value;
  }
  if (pos < line.size() && line[pos] != '\n') return std::nullopt;
  return fields[1];
}

SpinGovernor::SpinGovernor(Hooks hooks) : hooks_(std::move(hooks)) {}

bool SpinGovernor::Observe(Clock::time_point now) {
  const std::optional<int64_t> delay = hooks_.run_delay ? hooks_.run_delay() : std::nullopt;
  if (!delay) return MaySpin(now);
  const bool contended = last_delay_ && *delay - *last_delay_ > std::chrono::nanoseconds(kContended).count();
  last_delay_ = delay;
  // While backed off the loop sleeps between events; a delay seen then says
  // nothing about polling.
  if (!contended || !MaySpin(now)) return MaySpin(now);

  // First remedy: another CPU, unless one was just tried.
  const bool moved_recently = moves_ > 0 && now - last_move_ < kMoveWindow;
  if (!moved_recently && hooks_.move_off_cpu && hooks_.move_off_cpu()) {
    ++moves_;
    last_move_ = now;
    return true;
  }
  // The machine is busy: stop polling for a while, longer if this follows
  // the last back-off closely.
  const bool again = backoffs_ > 0 && now < quiet_until_ + 2 * backoff_;
  backoff_ = again ? std::min(backoff_ * 2, std::chrono::milliseconds(kMaxBackoff)) : kFirstBackoff;
  quiet_until_ = now + backoff_;
  ++backoffs_;
  return false;
}

namespace {

// An owned descriptor.
class OwnedFd {
 public:
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// schedstat is generated afresh by each read from offset 0 (pread64 is in
// the sandbox's allowlist).
std::optional<int64_t> ReadRunDelay(int fd) {
  std::array<char, 96> buf{};
  const ssize_t n = ::pread(fd, buf.data(), buf.size(), 0);
  if (n <= 0) return std::nullopt;
  return ParseSchedstatRunDelay(std::string_view(buf.data(), static_cast<size_t>(n)));
}

}  // namespace

SpinGovernor SpinGovernor::ForThisThread() {
  auto schedstat = std::make_shared<OwnedFd>(::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC));
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof(allowed), &allowed) != 0) CPU_ZERO(&allowed);

  Hooks hooks;
  if (schedstat->get() >= 0) {
    hooks.run_delay = [schedstat] { return ReadRunDelay(schedstat->get()); };
  }
  hooks.move_off_cpu = [allowed] {
    const int cpu = ::sched_getcpu();
    if (cpu < 0 || CPU_COUNT(&allowed) < 2 || !CPU_ISSET(cpu, &allowed)) return false;
    cpu_set_t others = allowed;
    CPU_CLR(cpu, &others);
    // The kernel moves a running thread at once when its CPU leaves its
    // affinity; giving the CPU back afterwards does not move it again.
    if (::sched_setaffinity(0, sizeof(others), &others) != 0) return false;
    ::sched_setaffinity(0, sizeof(allowed), &allowed);
    return true;
  };
  return SpinGovernor(std::move(hooks));
}

}  // namespace pelemay
