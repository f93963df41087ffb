// The sandbox (executor/sandbox, docs/security.md) through the real binary:
// a forbidden system call ends in SIGSYS with the sandbox on and succeeds
// with --no-sandbox; info reports the state; the rlimits are in force; the
// address-space formula.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>

#include "executor/sandbox/sandbox.h"
#include "tests/executor_process.h"
#include "tests/program_builder.h"

#if defined(__SANITIZE_ADDRESS__)
#define PELEMAY_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PELEMAY_TEST_ASAN 1
#endif
#endif

namespace pelemay {
namespace {

using namespace std::chrono_literals;
using testing::ExecutorProcess;
using Kind = v1::FaultRequest;

v1::Request Fault(uint64_t id, Kind::Kind kind, Kind::When when = Kind::NOW) {
  v1::Request r;
  r.set_id(id);
  r.mutable_fault()->set_kind(kind);
  r.mutable_fault()->set_when(when);
  return r;
}

v1::Request Simple(uint64_t id, int which) {
  v1::Request r;
  r.set_id(id);
  if (which == 0) r.mutable_ping();
  if (which == 1) r.mutable_info();
  if (which == 2) r.mutable_stats();
  return r;
}

v1::Request NegateRun(uint64_t id) {
  testing::ProgramBuilder b;
  const uint32_t x = b.Input(DType::kF32, {4});
  b.Add("negate", {x}, DType::kF32, {4});
  b.Add("negate", {b.last()}, DType::kF32, {4});
  b.Output(b.last());
  v1::Request r;
  r.set_id(id);
  *r.mutable_run()->mutable_program() = b.program();
  *r.mutable_run()->add_inputs() = testing::Tensor<float>(DType::kF32, {4}, {1, 2, 3, 4});
  return r;
}

const Kind::Kind kForbidden[] = {Kind::FORBIDDEN_OPEN, Kind::FORBIDDEN_SOCKET, Kind::FORBIDDEN_EXEC};

TEST(Sandbox, InfoSaysSeccompByDefaultAndOffWithNoSandbox) {
  {
    ExecutorProcess p;
    ASSERT_TRUE(p.Send(Simple(1, 1)));
    auto r = p.Receive();
    ASSERT_TRUE(r && r->has_info());
#if defined(__linux__)
    EXPECT_EQ(r->info().sandbox().rfind("seccomp", 0), 0u) << r->info().sandbox();
#else
    EXPECT_EQ(r->info().sandbox(), "rlimits-only (no seccomp on this platform)");
#endif
    EXPECT_EQ(r->info().sandbox(), sandbox::Planned());
  }
  ExecutorProcess p({"--no-sandbox"});
  ASSERT_TRUE(p.Send(Simple(1, 1)));
  auto r = p.Receive();
  ASSERT_TRUE(r && r->has_info());
  EXPECT_EQ(r->info().sandbox(), "off");
}

#if defined(__linux__)
TEST(Sandbox, ForbiddenSyscallIsKilledWithSigsys) {
  for (auto kind : kForbidden) {
    ExecutorProcess p({"--enable-fault-injection"});
    ASSERT_TRUE(p.Send(Simple(1, 0)));
    ASSERT_TRUE(p.Receive().has_value());  // up and confined
    ASSERT_TRUE(p.Send(Fault(2, kind)));
    EXPECT_EQ(p.Wait(), -SIGSYS) << Kind::Kind_Name(kind);
  }
}

TEST(Sandbox, ForbiddenSyscallInsideARunIsKilledWithSigsys) {
  for (auto kind : kForbidden) {
    ExecutorProcess p({"--enable-fault-injection"});
    v1::Request run = NegateRun(1);
    run.mutable_run()->mutable_fault()->set_kind(kind);
    run.mutable_run()->mutable_fault()->set_when(Kind::DURING_NEXT_RUN);
    ASSERT_TRUE(p.Send(run));
    EXPECT_EQ(p.Wait(), -SIGSYS) << Kind::Kind_Name(kind);
  }
}
#endif

TEST(Sandbox, ForbiddenSyscallSucceedsWithoutTheSandbox) {
  for (auto kind : kForbidden) {
    ExecutorProcess p({"--enable-fault-injection", "--no-sandbox"});
    ASSERT_TRUE(p.Send(Fault(1, kind)));
    auto r = p.Receive();
    ASSERT_TRUE(r.has_value()) << Kind::Kind_Name(kind);
    EXPECT_TRUE(r->has_fault()) << Kind::Kind_Name(kind) << ": " << r->DebugString();
    ASSERT_TRUE(p.Send(Simple(2, 0)));
    EXPECT_TRUE(p.Receive().has_value());
    p.CloseInput();
    EXPECT_EQ(p.Wait(), 0);
  }
}

TEST(Sandbox, ForbiddenKindsAreRefusedWithoutFaultInjection) {
  ExecutorProcess p;
  ASSERT_TRUE(p.Send(Fault(1, Kind::FORBIDDEN_OPEN)));
  auto r = p.Receive();
  ASSERT_TRUE(r && r->has_error());
  EXPECT_EQ(r->error().code(), v1::UNSUPPORTED);
}

// Everything a confined executor does in normal service still works: runs
// on the thread pool, stats (which re-read /proc/self/status), a clean exit.
TEST(Sandbox, ConfinedExecutorServesRunsStatsAndExitsCleanly) {
  ExecutorProcess p({"--threads", "4"});
  ASSERT_TRUE(p.Send(NegateRun(1)));
  auto r = p.Receive();
  ASSERT_TRUE(r && r->has_run()) << (r ? r->DebugString() : "no reply");
  ASSERT_TRUE(p.Send(Simple(2, 2)));
  r = p.Receive();
  ASSERT_TRUE(r && r->has_stats());
#if defined(__linux__)
  EXPECT_GT(r->stats().rss_anon_bytes(), 0u);
#endif
  p.CloseInput();
  EXPECT_EQ(p.Wait(), 0);
}

#if defined(__linux__)
TEST(Sandbox, RlimitsAreInForce) {
  ExecutorProcess p({"--memory-budget", "64M", "--max-frame", "1M", "--threads", "2"});
  ASSERT_TRUE(p.Send(Simple(1, 0)));
  ASSERT_TRUE(p.Receive().has_value());  // the sandbox is applied before the first read
  rlimit lim{};
  ASSERT_EQ(::prlimit(p.pid(), RLIMIT_CORE, nullptr, &lim), 0);
  EXPECT_EQ(lim.rlim_cur, 0u);
  ASSERT_EQ(::prlimit(p.pid(), RLIMIT_NOFILE, nullptr, &lim), 0);
  EXPECT_LE(lim.rlim_max, sandbox::kOpenFilesLimit);
  ASSERT_EQ(::prlimit(p.pid(), RLIMIT_AS, nullptr, &lim), 0);
#if defined(PELEMAY_TEST_ASAN)
  EXPECT_EQ(lim.rlim_cur, RLIM_INFINITY);  // ASan's shadow memory rules it out
#else
  sandbox::Limits l{64 << 20, 1 << 20, 2 + 5};
  EXPECT_EQ(lim.rlim_cur, sandbox::AddressSpaceLimit(l));
#endif
}
#endif

TEST(Sandbox, AddressSpaceLimitFormula) {
  constexpr uint64_t MiB = 1 << 20;
  EXPECT_EQ(sandbox::AddressSpaceLimit({1 << 30, 256 << 20, 4}), 512 * MiB + 2048 * MiB + 1024 * MiB + 4 * 136 * MiB);
  // Monotonic in every input; saturates instead of wrapping.
  EXPECT_LT(sandbox::AddressSpaceLimit({1 << 20, 1 << 20, 1}), sandbox::AddressSpaceLimit({2 << 20, 1 << 20, 1}));
  EXPECT_LT(sandbox::AddressSpaceLimit({1 << 20, 1 << 20, 1}), sandbox::AddressSpaceLimit({1 << 20, 2 << 20, 1}));
  EXPECT_LT(sandbox::AddressSpaceLimit({1 << 20, 1 << 20, 1}), sandbox::AddressSpaceLimit({1 << 20, 1 << 20, 2}));
  EXPECT_EQ(sandbox::AddressSpaceLimit({INT64_MAX, INT64_MAX, 1024}), UINT64_MAX);
}

}  // namespace
}  // namespace pelemay
