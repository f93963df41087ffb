// SpinGovernor (executor/server/spin_governor.h): when the port loop's
// polling moves to another CPU, backs off, and polls again. The kernel is
// faked: a run delay the test advances and a mover the test can refuse.
#include "executor/server/spin_governor.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>

namespace pelemay {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using Clock = SpinGovernor::Clock;

// A governor on a fake kernel and a fake clock, its baseline taken.
class Scenario {
 public:
  explicit Scenario(bool can_move = true, bool readable = true) : can_move_(can_move), readable_(readable) {
    g.Observe(t);
  }

  // Time passes, the thread waits `waited` for its CPU meanwhile, and the
  // loop looks: what Observe says.
  bool LookAfter(Clock::duration later, microseconds waited) {
    run_delay_ns_ += std::chrono::nanoseconds(waited).count();
    t += later;
    return g.Observe(t);
  }

  int moves = 0;  // what the fake mover did
  Clock::time_point t{};
  SpinGovernor g{Hooks()};

 private:
  SpinGovernor::Hooks Hooks() {
    SpinGovernor::Hooks hooks;
    hooks.run_delay = [this]() -> std::optional<int64_t> {
      if (!readable_) return std::nullopt;
      return run_delay_ns_;
    };
    hooks.move_off_cpu = [this] {
      if (!can_move_) return false;
      ++moves;
      return true;
    };
    return hooks;
  }

  bool can_move_, readable_;
  int64_t run_delay_ns_ = 0;
};

constexpr microseconds kJustBelow = SpinGovernor::kContended - microseconds(1);
constexpr microseconds kJustAbove = SpinGovernor::kContended + microseconds(1);
constexpr milliseconds kLook{1};

TEST(SpinGovernor, AThreadThatNeverWaitsKeepsPolling) {
  Scenario s;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(s.LookAfter(microseconds(100), kJustBelow));
  EXPECT_EQ(s.g.moves(), 0u);
  EXPECT_EQ(s.g.backoffs(), 0u);
}

TEST(SpinGovernor, FirstLookOnlySetsTheBaseline) {
  // Waits from before the loop started count for nothing.
  Scenario s;
  EXPECT_TRUE(s.LookAfter(kLook, microseconds(0)));
  SpinGovernor fresh(SpinGovernor::Hooks{[] { return std::optional<int64_t>(5'000'000'000); }, [] { return true; }});
  EXPECT_TRUE(fresh.Observe(Clock::time_point{}));
  EXPECT_EQ(fresh.moves(), 0u);
}

TEST(SpinGovernor, ContentionMovesTheThreadFirst) {
  Scenario s;
  EXPECT_TRUE(s.LookAfter(kLook, kJustAbove)) << "a move keeps the loop polling";
  EXPECT_EQ(s.moves, 1);
  EXPECT_EQ(s.g.moves(), 1u);
  EXPECT_EQ(s.g.backoffs(), 0u);
}

TEST(SpinGovernor, ContentionRightAfterAMoveBacksOff) {
  Scenario s;
  ASSERT_TRUE(s.LookAfter(kLook, kJustAbove));  // moved
  EXPECT_FALSE(s.LookAfter(SpinGovernor::kMoveWindow - milliseconds(1), kJustAbove)) << "the other CPU is busy too";
  EXPECT_EQ(s.moves, 1);
  EXPECT_EQ(s.g.backoffs(), 1u);
  EXPECT_FALSE(s.g.MaySpin(s.t + SpinGovernor::kFirstBackoff - microseconds(1)));
  EXPECT_TRUE(s.g.MaySpin(s.t + SpinGovernor::kFirstBackoff));
}

TEST(SpinGovernor, ContentionLongAfterAMoveMovesAgain) {
  Scenario s;
  ASSERT_TRUE(s.LookAfter(kLook, kJustAbove));
  EXPECT_TRUE(s.LookAfter(SpinGovernor::kMoveWindow, kJustAbove));
  EXPECT_EQ(s.moves, 2);
  EXPECT_EQ(s.g.backoffs(), 0u);
}

TEST(SpinGovernor, WithNowhereToGoItBacksOffAtOnce) {
  Scenario s(/*can_move=*/false);  // one CPU in the affinity
  EXPECT_FALSE(s.LookAfter(kLook, kJustAbove));
  EXPECT_EQ(s.g.moves(), 0u);
  EXPECT_EQ(s.g.backoffs(), 1u);
}

TEST(SpinGovernor, BackOffDoublesWhileContentionLastsUpToItsBound) {
  Scenario s(/*can_move=*/false);
  milliseconds expected = SpinGovernor::kFirstBackoff;
  Clock::duration since_last_end = kLook;
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(s.g.MaySpin(s.t + since_last_end));
    ASSERT_FALSE(s.LookAfter(since_last_end, kJustAbove));
    // Quiet for exactly the expected back-off.
    EXPECT_FALSE(s.g.MaySpin(s.t + expected - microseconds(1))) << "back-off " << i;
    EXPECT_TRUE(s.g.MaySpin(s.t + expected)) << "back-off " << i;
    since_last_end = expected + kLook;  // contended again a look after it ends
    expected = std::min(expected * 2, SpinGovernor::kMaxBackoff);
  }
  EXPECT_EQ(s.g.backoffs(), 12u);
}

TEST(SpinGovernor, BackOffStartsAgainAfterACalmPeriod) {
  Scenario s(/*can_move=*/false);
  ASSERT_FALSE(s.LookAfter(kLook, kJustAbove));                        // 20 ms
  ASSERT_FALSE(s.LookAfter(SpinGovernor::kFirstBackoff, kJustAbove));  // again at once: 40 ms
  EXPECT_FALSE(s.g.MaySpin(s.t + 2 * SpinGovernor::kFirstBackoff - microseconds(1)));
  // Then calm for a long time: the next contention is a first one.
  ASSERT_FALSE(s.LookAfter(std::chrono::seconds(5), kJustAbove));
  EXPECT_TRUE(s.g.MaySpin(s.t + SpinGovernor::kFirstBackoff));
}

TEST(SpinGovernor, WaitsSeenWhileBackedOffDoNotExtendTheBackOff) {
  Scenario s(/*can_move=*/false);
  ASSERT_FALSE(s.LookAfter(kLook, kJustAbove));
  const Clock::time_point until = s.t + SpinGovernor::kFirstBackoff;
  // The loop sleeps between events meanwhile, and is woken late each time.
  for (int i = 0; i < 10; ++i) s.LookAfter(kLook, milliseconds(1));
  EXPECT_TRUE(s.g.MaySpin(until));
  EXPECT_EQ(s.g.backoffs(), 1u);
}

TEST(SpinGovernor, AnUnreadableRunDelayNeverStopsPolling) {
  Scenario s(/*can_move=*/true, /*readable=*/false);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(s.LookAfter(kLook, milliseconds(10)));
  EXPECT_EQ(s.moves, 0);
  EXPECT_EQ(s.g.backoffs(), 0u);
}

TEST(SpinGovernor, ParsesTheRunDelayOfASchedstatLine) {
  EXPECT_EQ(ParseSchedstatRunDelay("7000 123456 9\n"), 123456);
  EXPECT_EQ(ParseSchedstatRunDelay("0 0 0"), 0);
  EXPECT_EQ(ParseSchedstatRunDelay("1 9223372036854775000 3\n"), 9223372036854775000);
  for (const char* bad : {"", "\n", "7000", "7000 123456", "7000 123456 \n", "a b c", "7000  123456 9", "-1 5 9",
                          "7000 12x 9", "1 99999999999999999999 3", "1 2 3 4"}) {
    EXPECT_EQ(ParseSchedstatRunDelay(bad), std::nullopt) << '"' << bad << '"';
  }
}

// The real hooks, on this thread: a rival thread pinned to the same CPU
// busy-loops beside it for `busy`, then the governor looks again.
struct RealContention {
  cpu_set_t saved;
  explicit RealContention(const cpu_set_t& allowed) {
    ::sched_getaffinity(0, sizeof(saved), &saved);
    ::sched_setaffinity(0, sizeof(allowed), &allowed);
  }
  ~RealContention() { ::sched_setaffinity(0, sizeof(saved), &saved); }

  // Returns what Observe said after sharing the CPU with the rival.
  static bool ShareCpu(SpinGovernor& g, int cpu, milliseconds busy) {
    std::atomic<bool> stop{false};
    std::thread rival([&] {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      ::sched_setaffinity(0, sizeof(one), &one);
      while (!stop.load(std::memory_order_relaxed)) {}
    });
    g.Observe(Clock::now());
    const auto end = Clock::now() + busy;
    while (Clock::now() < end) {}
    const bool may_spin = g.Observe(Clock::now());
    stop = true;
    rival.join();
    return may_spin;
  }
};

TEST(SpinGovernor, ARealThreadSharingItsOnlyCpuBacksOff) {
  const int cpu = ::sched_getcpu();
  ASSERT_GE(cpu, 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  RealContention pinned(one);
  SpinGovernor g = SpinGovernor::ForThisThread();  // sees one CPU
  EXPECT_FALSE(RealContention::ShareCpu(g, cpu, milliseconds(100)))
      << "two busy threads on one CPU for 100 ms: the run delay must show it";
  EXPECT_EQ(g.moves(), 0u);
  EXPECT_EQ(g.backoffs(), 1u);
}

TEST(SpinGovernor, ARealThreadMovesOffASharedCpu) {
  cpu_set_t all;
  CPU_ZERO(&all);
  ASSERT_EQ(::sched_getaffinity(0, sizeof(all), &all), 0);
  if (CPU_COUNT(&all) < 2) GTEST_SKIP() << "one CPU: nowhere to move";
  SpinGovernor g = SpinGovernor::ForThisThread();  // may use them all
  // Held on one CPU meanwhile, so that only the governor can move it.
  const int cpu = ::sched_getcpu();
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  RealContention pinned(one);
  EXPECT_TRUE(RealContention::ShareCpu(g, cpu, milliseconds(100)));
  EXPECT_EQ(g.moves(), 1u);
  // Where it runs now is the kernel's choice again (on a loaded machine it
  // may well be back beside the rival): only the affinity can be checked.
  // With its whole affinity back.
  cpu_set_t after;
  ASSERT_EQ(::sched_getaffinity(0, sizeof(after), &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&after, &all));
}

}  // namespace
}  // namespace pelemay
