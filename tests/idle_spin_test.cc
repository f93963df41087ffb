// The port loop's idle polling (--spin-us, executor/server/port_server.cc):
// the option's bounds and default, that a spinning executor serves requests
// as before, that it spins after a reply and only for as long as asked, and
// that it does not spin while a run computes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "executor/server/options.h"
#include "tests/executor_process.h"
#include "tests/program_builder.h"

namespace pelemay {
namespace {

using testing::ExecutorProcess;
using testing::ProgramBuilder;

// CPU time (user + system, all threads) the process has used so far.
std::chrono::milliseconds CpuTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start after ')'.
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
  const long ticks = std::stol(fields.at(11)) + std::stol(fields.at(12));
  return std::chrono::milliseconds(ticks * 1000 / ::sysconf(_SC_CLK_TCK));
}

v1::Request SmallRun(uint64_t id) {
  ProgramBuilder b;
  const uint32_t x = b.Input(DType::kF32, {4});
  b.Add("add", {x, x}, DType::kF32, {4});
  b.Output(b.last());
  v1::Request r;
  r.set_id(id);
  *r.mutable_run()->mutable_program() = b.program();
  *r.mutable_run()->add_inputs() = testing::Tensor<float>(DType::kF32, {4}, {1, 2, 3, 4});
  return r;
}

// Sends `count` small runs `gap` apart and checks every answer; returns the
// CPU time the executor used from the first request to `gap` after the last.
std::chrono::milliseconds CpuForSpacedRuns(ExecutorProcess& p, int count, std::chrono::milliseconds gap) {
  const auto before = CpuTime(p.pid());
  for (int i = 1; i <= count; ++i) {
    EXPECT_TRUE(p.Send(SmallRun(static_cast<uint64_t>(i))));
    auto resp = p.Receive();
    EXPECT_TRUE(resp && resp->has_run()) << (resp ? resp->DebugString() : "no reply");
    if (resp && resp->has_run()) {
      EXPECT_EQ(testing::Values<float>(resp->run().outputs(0)), (std::vector<float>{2, 4, 6, 8}));
    }
    std::this_thread::sleep_for(gap);
  }
  return CpuTime(p.pid()) - before;
}

// The executor's `stats`, with the governor's counters.
v1::Stats StatsOf(ExecutorProcess& p) {
  v1::Request r;
  r.set_id(424242);
  r.mutable_stats();
  EXPECT_TRUE(p.Send(r));
  auto resp = p.Receive();
  EXPECT_TRUE(resp && resp->has_stats()) << (resp ? resp->DebugString() : "no reply");
  return resp && resp->has_stats() ? resp->stats() : v1::Stats();
}

TEST(IdleSpin, SpinAlwaysTurnsTheGovernorOff) {
  auto parsed = ParseOptions({"--spin-us=100"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->spin_governor);
  parsed = ParseOptions({"--spin-us=100", "--spin-always"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->spin_governor);
}

TEST(IdleSpin, OptionBoundsAndDefault) {
  auto parsed = ParseOptions({"--spin-us=250"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->spin_us, 250);
  EXPECT_EQ(EffectiveSpinUs(*parsed, 1), 250);  // an explicit value holds on one CPU too
  parsed = ParseOptions({"--spin-us", "0"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(EffectiveSpinUs(*parsed, 8), 0);
  parsed = ParseOptions({"--spin-us=10000"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->spin_us, kMaxSpinUs);

  // Unset: the default with two CPUs or more, none on one.
  parsed = ParseOptions({});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(EffectiveSpinUs(*parsed, 2), kDefaultSpinUs);
  EXPECT_EQ(EffectiveSpinUs(*parsed, 1), 0);

  for (const char* bad : {"--spin-us=10001", "--spin-us=-1", "--spin-us=fast", "--spin-us="}) {
    auto r = ParseOptions({bad});
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(IdleSpin, SpinsAfterEachReplyForAsLongAsAskedThenSleeps) {
  // 10 ms of polling after each of 20 replies: about 200 ms of CPU. The
  // bound is loose (a loaded machine deschedules the spinning thread), but
  // not spinning at all would use a few ms.
  // --spin-always: polling through even where another process (a parallel
  // test) shares the CPU, which the governor would otherwise cut short.
  ExecutorProcess spinning({"--threads=1", "--spin-us=10000", "--spin-always"});
  ASSERT_TRUE(spinning.started());
  const auto spun = CpuForSpacedRuns(spinning, 20, std::chrono::milliseconds(30));
  EXPECT_GE(spun.count(), 60) << "the executor did not poll after its replies";
  std::printf("CPU for 20 replies with 10 ms of polling each: %lld ms\n", static_cast<long long>(spun.count()));
  EXPECT_LE(spun.count(), 20 * 30 + 50) << "the executor polled for longer than --spin-us after each reply";

  // Then idle: no CPU at all for the next 300 ms.
  const auto idle_before = CpuTime(spinning.pid());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_LE((CpuTime(spinning.pid()) - idle_before).count(), 20) << "an idle executor kept polling";
  spinning.CloseInput();
  EXPECT_EQ(spinning.Wait(), 0);

  ExecutorProcess still({"--threads=1", "--spin-us=0"});
  ASSERT_TRUE(still.started());
  EXPECT_LT(CpuForSpacedRuns(still, 20, std::chrono::milliseconds(30)).count(), spun.count());
  still.CloseInput();
  EXPECT_EQ(still.Wait(), 0);
}

TEST(IdleSpin, StopsPollingWhenItsOnlyCpuIsShared) {
  // The executor inherits this process's affinity: one CPU, which a rival
  // thread keeps busy. Polling 10 ms after each of 20 replies would take
  // about half of 200 ms from the rival; the governor (SpinGovernor) sees
  // the executor wait for its CPU and stops polling within a millisecond,
  // for 20 ms and longer while the sharing lasts.
  cpu_set_t saved;
  ASSERT_EQ(::sched_getaffinity(0, sizeof(saved), &saved), 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(::sched_getcpu(), &one);
  ASSERT_EQ(::sched_setaffinity(0, sizeof(one), &one), 0);
  std::atomic<bool> stop{false};
  std::thread rival([&] {
    while (!stop.load(std::memory_order_relaxed)) {}
  });
  // One executor at a time: a second would inherit the first one's pipes.
  struct Use {
    std::chrono::milliseconds cpu{-1};
    v1::Stats stats;
  };
  auto cpu_for = [](std::vector<std::string> args) {
    args.insert(args.begin(), "--threads=1");
    ExecutorProcess p(args);
    Use use;
    if (!p.started()) return use;
    use.cpu = CpuForSpacedRuns(p, 20, std::chrono::milliseconds(30));
    use.stats = StatsOf(p);
    p.CloseInput();
    EXPECT_EQ(p.Wait(), 0);
    return use;
  };
  const Use governed = cpu_for({"--spin-us=10000"});
  const Use always = cpu_for({"--spin-us=10000", "--spin-always"});
  const Use never = cpu_for({"--spin-us=0"});
  const auto polling = governed.cpu, ungoverned = always.cpu, still = never.cpu;
  stop = true;
  rival.join();
  ::sched_setaffinity(0, sizeof(saved), &saved);
  ASSERT_GE(polling.count(), 0) << "the executor did not start";
  ASSERT_GE(ungoverned.count(), 0) << "the executor did not start";
  ASSERT_GE(still.count(), 0) << "the executor did not start";
  std::printf(
      "CPU for 20 replies on a shared CPU: %lld ms with 10 ms of polling each, %lld ms with --spin-always, %lld ms "
      "without polling\n",
      static_cast<long long>(polling.count()), static_cast<long long>(ungoverned.count()),
      static_cast<long long>(still.count()));
  // Polling through adds 100-150 ms (half or more of 20 x 10 ms); the
  // governor's looks (1 ms apart) before each back-off and the clock's
  // 10 ms ticks add 20-30 ms.
  EXPECT_GE(ungoverned.count(), still.count() + 60) << "--spin-always did not poll: the comparison shows nothing";
  EXPECT_LE(polling.count(), still.count() + 50) << "the executor kept polling on a CPU another thread needed";
  EXPECT_LE(2 * polling.count(), ungoverned.count()) << "the governor saved less than half of the polling";
  // Its only CPU: it could not move, it backed off (and says so in stats).
  EXPECT_EQ(governed.stats.spin_moves(), 0u);
  EXPECT_GE(governed.stats.spin_backoffs(), 1u);
  EXPECT_EQ(always.stats.spin_moves() + always.stats.spin_backoffs(), 0u);
}

TEST(IdleSpin, MovesOffASharedCpuInsideTheSandbox) {
  // The executor's I/O thread (its main thread) is held on one CPU from
  // outside, beside a rival thread; it may use every CPU, so the governor
  // moves it (sched_setaffinity on itself, allowed by the seccomp filter:
  // an executor killed by SIGSYS would stop answering) and gives it its
  // whole affinity back.
  cpu_set_t all;
  ASSERT_EQ(::sched_getaffinity(0, sizeof(all), &all), 0);
  if (CPU_COUNT(&all) < 2) GTEST_SKIP() << "one CPU: nowhere to move";
  int cpu = 0;
  while (!CPU_ISSET(cpu, &all)) ++cpu;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);

  ExecutorProcess p({"--threads=1", "--spin-us=10000"});
  ASSERT_TRUE(p.started());
  // Answered once it serves: its governor has recorded the whole affinity.
  v1::Request ping;
  ping.set_id(99);
  ping.mutable_ping();
  ASSERT_TRUE(p.Send(ping));
  auto pong = p.Receive();
  ASSERT_TRUE(pong && pong->has_pong());
  ASSERT_EQ(::sched_setaffinity(p.pid(), sizeof(one), &one), 0);
  std::atomic<bool> stop{false};
  std::thread rival([&] {
    ::sched_setaffinity(0, sizeof(one), &one);
    while (!stop.load(std::memory_order_relaxed)) {}
  });
  CpuForSpacedRuns(p, 10, std::chrono::milliseconds(20));  // checks every answer
  stop = true;
  rival.join();
  EXPECT_GE(StatsOf(p).spin_moves(), 1u);
  cpu_set_t after;
  ASSERT_EQ(::sched_getaffinity(p.pid(), sizeof(after), &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&after, &all)) << "the governor did not move the thread and give its affinity back";
  p.CloseInput();
  EXPECT_EQ(p.Wait(), 0) << "the executor died (SIGSYS would mean the filter forbids the move)";
}

TEST(IdleSpin, DoesNotSpinWhileARunComputes) {
  // One compute thread: the run alone keeps one CPU busy. Pings every 5 ms
  // keep the I/O thread handling events; if it polled after each of them
  // (10 ms), it would never sleep during the run, and the process would use
  // about twice the wall time.
  ExecutorProcess p({"--threads=1", "--spin-us=10000"});
  ASSERT_TRUE(p.started());
  // Long enough to tell (>= 200 ms) on every SIMD target and build: grow
  // the run until it is.
  std::chrono::milliseconds wall{0}, cpu{0};
  for (int steps = 4; steps <= 4096 && wall.count() < 200; steps *= 4) {
    const auto cpu_before = CpuTime(p.pid());
    const auto wall_before = std::chrono::steady_clock::now();
    const auto id = static_cast<uint64_t>(steps);
    ASSERT_TRUE(p.Send(testing::ChainedDotsRun(id, steps)));
    for (bool done = false; !done;) {
      v1::Request ping;
      ping.set_id(id + 1);
      ping.mutable_ping();
      ASSERT_TRUE(p.Send(ping));
      // The ping's answer, and maybe the run's, in either order.
      for (bool pinged = false; !pinged;) {
        auto resp = p.Receive(std::chrono::seconds(120));
        ASSERT_TRUE(resp) << "no reply";
        if (resp->id() == id) {
          ASSERT_TRUE(resp->has_run()) << resp->DebugString();
          done = true;
        } else {
          ASSERT_TRUE(resp->has_pong()) << resp->DebugString();
          pinged = true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    wall = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - wall_before);
    cpu = CpuTime(p.pid()) - cpu_before;
  }
  ASSERT_GE(wall.count(), 200) << "the run was too short to tell";
  // The run, plus 10 ms of polling before it started and after it ended.
  EXPECT_LE(cpu.count(), wall.count() * 13 / 10 + 40) << "cpu " << cpu.count() << " ms in " << wall.count() << " ms";
  p.CloseInput();
  EXPECT_EQ(p.Wait(), 0);
}

// What the executor resolved, as Info reports it.
uint32_t InfoSpinUs(ExecutorProcess& p) {
  v1::Request r;
  r.set_id(99);
  r.mutable_info();
  EXPECT_TRUE(p.Send(r));
  auto resp = p.Receive();
  EXPECT_TRUE(resp && resp->has_info());
  return resp && resp->has_info() ? resp->info().spin_us() : ~0u;
}

TEST(IdleSpin, InfoReportsTheResolvedValue) {
  ExecutorProcess off({"--spin-us=0"});
  ASSERT_TRUE(off.started());
  EXPECT_EQ(InfoSpinUs(off), 0u);
  ExecutorProcess unset;
  ASSERT_TRUE(unset.started());
  const uint32_t resolved = InfoSpinUs(unset);
  EXPECT_TRUE(resolved == 0u || resolved == static_cast<uint32_t>(kDefaultSpinUs)) << resolved;
}

TEST(IdleSpin, SpinningExecutorAnswersPipelinedRequestsAndExitsOnEof) {
  ExecutorProcess p({"--threads=1", "--spin-us=10000"});
  ASSERT_TRUE(p.started());
  EXPECT_EQ(InfoSpinUs(p), 10000u);
  for (uint64_t id = 1; id <= 50; ++id) ASSERT_TRUE(p.Send(SmallRun(id)));
  std::vector<bool> seen(51, false);
  for (int i = 0; i < 50; ++i) {
    auto resp = p.Receive();
    ASSERT_TRUE(resp && resp->has_run()) << (resp ? resp->DebugString() : "no reply");
    ASSERT_LE(resp->id(), 50u);
    EXPECT_FALSE(seen[resp->id()]);
    seen[resp->id()] = true;
  }
  // End of input while polling: it exits at once, not after the spin.
  const auto t0 = std::chrono::steady_clock::now();
  p.CloseInput();
  EXPECT_EQ(p.Wait(std::chrono::seconds(5)), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

}  // namespace
}  // namespace pelemay
