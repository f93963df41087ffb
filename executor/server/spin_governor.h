// Keeps the port loop's polling (--spin-us) off a CPU it would have to share.
//
// Polling pays only while the I/O thread has a CPU of its own: a request
// then finds it awake, with no wake-up on the critical path. Linux places a
// thread woken through a pipe beside its waker, so after every idle period
// the executor's thread wakes on the CPU of the BEAM scheduler that sent the
// request, and that scheduler polls too (its caller waits for the reply with
// PelemayBackend.AwaitSpin). Two polling threads on one CPU take turns at
// the scheduler's pace: every round trip then costs a time slice, 70-200 us
// on the 2-vCPU machine in docs/benchmarks.md, instead of 6 us, and the
// kernel does not separate them for tens of milliseconds (both stay
// cache-hot, so its load balancer leaves them be).
//
// The governor notices the sharing from the thread's run delay, the time it
// spent runnable but waiting for its CPU (/proc/thread-self/schedstat): a
// thread with a CPU of its own does not wait. When the delay grew by more
// than kContended between two looks, it first moves the thread to another
// CPU it may use (its affinity without the current CPU, then the whole
// affinity again: the thread stays where it was moved). If the delay grows
// again within kMoveWindow, or there is no other CPU, the machine is simply
// busy: polling stops for a back-off (kFirstBackoff, doubling while the
// contention lasts, at most kMaxBackoff) and the loop sleeps between events
// as with --spin-us=0, where it never takes a CPU from anyone.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace pelemay {

class SpinGovernor {
 public:
  using Clock = std::chrono::steady_clock;

  // The thread's view of the kernel; fakes in tests.
  struct Hooks {
    // Nanoseconds the thread has waited for a CPU so far; nullopt when that
    // cannot be read (the governor then never intervenes).
    std::function<std::optional<int64_t>()> run_delay;
    // Moves the calling thread to another CPU it may run on; false when
    // there is none.
    std::function<bool()> move_off_cpu;
  };

  static constexpr std::chrono::microseconds kContended{50};
  static constexpr std::chrono::milliseconds kMoveWindow{10};
  static constexpr std::chrono::milliseconds kFirstBackoff{20};
  static constexpr std::chrono::milliseconds kMaxBackoff{1000};

  explicit SpinGovernor(Hooks hooks);

  // For the calling thread: opens its schedstat and records its CPU
  // affinity now, before the sandbox forbids opening files and asking for
  // the affinity (docs/security.md).
  static SpinGovernor ForThisThread();

  // Whether the loop may poll now.
  bool MaySpin(Clock::time_point now) const { return now >= quiet_until_; }

  // Looks at the run delay and acts on it; call after each event handled
  // from sleep, now and then while polling finds events, and when a polling
  // period ends. Returns MaySpin(now).
  bool Observe(Clock::time_point now);

  uint64_t moves() const { return moves_; }
  uint64_t backoffs() const { return backoffs_; }

 private:
  Hooks hooks_;
  std::optional<int64_t> last_delay_;
  Clock::time_point quiet_until_{};
  Clock::time_point last_move_{};
  std::chrono::milliseconds backoff_ = kFirstBackoff;
  uint64_t moves_ = 0;
  uint64_t backoffs_ = 0;
};

// The run delay in a /proc/<pid>/task/<tid>/schedstat line, "<on-CPU ns>
// <run-delay ns> <time slices>"; nullopt when the line is not that.
std::optional<int64_t> ParseSchedstatRunDelay(std::string_view line);

}  // namespace pelemay
