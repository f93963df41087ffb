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

struct FakeKernel {
  int64_t run_delay_ns = 0;
  bool readable = true;
  bool can_move = true;
  int moves = 0;

  SpinGovernor Governor() {
    SpinGovernor::Hooks hooks;
    hooks.run_delay = [this]() -> std::optional<int64_t> {
      if (!readable) return std::nullopt;
      return run_delay_ns;
    };
    hooks.move_off_cpu = [this] {
      if (!can_move) return false;
      ++moves;
      return true;
    };
    return SpinGovernor(hooks);
  }
  void Wait(microseconds us) { run_delay_ns += std::chrono::nanoseconds(us).count(); }
};

constexpr microseconds kJustBelow = SpinGovernor::kContended - microseconds(1);
constexpr microseconds kJustAbove = SpinGovernor::kContended + microseconds(1);

TEST(SpinGovernor, AThreadThatNeverWaitsKeepsPolling) {
  FakeKernel k;
  SpinGovernor g = k.Governor();
  Clock::time_point t{};
  for (int i = 0; i < 1000; ++i) {
    k.Wait(kJustBelow);  // below the threshold every time
    t += microseconds(100);
    EXPECT_TRUE(g.Observe(t));
  }
  EXPECT_EQ(g.moves(), 0u);
  EXPECT_EQ(g.backoffs(), 0u);
}

TEST(SpinGovernor, FirstLookOnlySetsTheBaseline) {
  FakeKernel k;
  k.run_delay_ns = 5'000'000'000;  // waits from before the loop started
  SpinGovernor g = k.Governor();
  EXPECT_TRUE(g.Observe(Clock::time_point{}));
  EXPECT_EQ(k.moves, 0);
}

TEST(SpinGovernor, ContentionMovesTheThreadFirst) {
  FakeKernel k;
  SpinGovernor g = k.Governor();
  Clock::time_point t{};
  g.Observe(t);
  k.Wait(kJustAbove);
  t += milliseconds(1);
  EXPECT_TRUE(g.Observe(t)) << "a move keeps the loop polling";
  EXPECT_EQ(k.moves, 1);
  EXPECT_EQ(g.moves(), 1u);
  EXPECT_EQ(g.backoffs(), 0u);
}

TEST(SpinGovernor, ContentionRightAfterAMoveBacksOff) {
  FakeKernel k;
  SpinGovernor g = k.Governor();
  Clock::time_point t{};
  g.Observe(t);
  k.Wait(kJustAbove);
  t += milliseconds(1);
  ASSERT_TRUE(g.Observe(t));  // moved
  k.Wait(kJustAbove);
  t += SpinGovernor::kMoveWindow - milliseconds(1);
  EXPECT_FALSE(g.Observe(t)) << "the other CPU is busy too";
  EXPECT_EQ(k.moves, 1);
  EXPECT_EQ(g.backoffs(), 1u);
  EXPECT_FALSE(g.MaySpin(t + SpinGovernor::kFirstBackoff - microseconds(1)));
  EXPECT_TRUE(g.MaySpin(t + SpinGovernor::kFirstBackoff));
}

TEST(SpinGovernor, ContentionLongAfterAMoveMovesAgain) {
  FakeKernel k;
  SpinGovernor g = k.Governor();
  Clock::time_point t{};
  g.Observe(t);
  k.Wait(kJustAbove);
  t += milliseconds(1);
  ASSERT_TRUE(g.Observe(t));
  k.Wait(kJustAbove);
  t += SpinGovernor::kMoveWindow;
  EXPECT_TRUE(g.Observe(t));
  EXPECT_EQ(k.moves, 2);
  EXPECT_EQ(g.backoffs(), 0u);
}

TEST(SpinGovernor, WithNowhereToGoItBacksOffAtOnce) {
  FakeKernel k;
  k.can_move = false;  // one CPU in the affinity
  SpinGovernor g = k.Governor();
  Clock::time_point t{};
  g.Observe(t);
  k.Wait(kJustAbove);
  t += milliseconds(1);
  EXPECT_FALSE(g.Observe(t));
  EXPECT_EQ(g.moves(), 0u);
  EXPECT_EQ(g.backoffs(), 1u);
}

TEST(SpinGovernor, BackOffDoublesWhileContentionLastsUpToItsBound) {
  FakeKernel k;
  k.can_move = false;
  SpinGovernor g = k.Governor();
  Clock::time_point t{};
  g.Observe(t);
  milliseconds expected = SpinGovernor::kFirstBackoff;
  for (int i = 0; i < 12; ++i) {
    k.Wait(kJustAbove);
    t += milliseconds(1);
    ASSERT_TRUE(g.MaySpin(t));
    ASSERT_FALSE(g.Observe(t));
    // Quiet for exactly the expected back-off.
    EXPECT_FALSE(g.MaySpin(t + expected - microseconds(1))) << "back-off " << i;
    EXPECT_TRUE(g.MaySpin(t + expected)) << "back-off " << i;
    t += expected;
    expected = std::min(expected * 2, SpinGovernor::kMaxBackoff);
  }
  EXPECT_EQ(g.backoffs(), 12u);
}

TEST(SpinGovernor, BackOffStartsAgainAfterACalmPeriod) {
  FakeKernel k;
  k.can_move = false;
  SpinGovernor g = k.Governor();
  Clock::time_point t{};
  g.Observe(t);
  k.Wait(kJustAbove);
  t += milliseconds(1);
  ASSERT_FALSE(g.Observe(t));  // 20 ms
  t += SpinGovernor::kFirstBackoff;
  k.Wait(kJustAbove);
  ASSERT_FALSE(g.Observe(t));  // again at once: 40 ms
  EXPECT_FALSE(g.MaySpin(t + 2 * SpinGovernor::kFirstBackoff - microseconds(1)));
  // Then calm for a long time: the next contention is a first one.
  t += std::chrono::seconds(5);
  k.Wait(kJustAbove);
  ASSERT_FALSE(g.Observe(t));
  EXPECT_TRUE(g.MaySpin(t + SpinGovernor::kFirstBackoff));
}

TEST(SpinGovernor, WaitsSeenWhileBackedOffDoNotExtendTheBackOff) {
  FakeKernel k;
  k.can_move = false;
  SpinGovernor g = k.Governor();
  Clock::time_point t{};
  g.Observe(t);
  k.Wait(kJustAbove);
  t += milliseconds(1);
  ASSERT_FALSE(g.Observe(t));
  const Clock::time_point until = t + SpinGovernor::kFirstBackoff;
  // The loop sleeps between events meanwhile, and is woken late each time.
  for (int i = 0; i < 10; ++i) {
    k.Wait(milliseconds(1));
    t += milliseconds(1);
    g.Observe(t);
  }
  EXPECT_TRUE(g.MaySpin(until));
  EXPECT_EQ(g.backoffs(), 1u);
}

TEST(SpinGovernor, AnUnreadableRunDelayNeverStopsPolling) {
  FakeKernel k;
  k.readable = false;
  SpinGovernor g = k.Governor();
  Clock::time_point t{};
  for (int i = 0; i < 100; ++i) {
    k.Wait(milliseconds(10));
    t += milliseconds(1);
    EXPECT_TRUE(g.Observe(t));
  }
  EXPECT_EQ(k.moves, 0);
  EXPECT_EQ(g.backoffs(), 0u);
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
