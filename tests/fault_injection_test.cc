// Fault injection through the real binary: every kind, now and in the middle
// of a run, and refusal without --enable-fault-injection.
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "tests/executor_process.h"
#include "tests/program_builder.h"

namespace pelemay {
namespace {

using namespace std::chrono_literals;
using testing::ExecutorProcess;
using testing::ProgramBuilder;
using Kind = v1::FaultRequest;

v1::Request Fault(uint64_t id, v1::FaultRequest::Kind kind, v1::FaultRequest::When when = v1::FaultRequest::NOW) {
  v1::Request r;
  r.set_id(id);
  r.mutable_fault()->set_kind(kind);
  r.mutable_fault()->set_when(when);
  return r;
}

v1::Request Ping(uint64_t id) {
  v1::Request r;
  r.set_id(id);
  r.mutable_ping();
  return r;
}

// Three negations of a small vector: a run with instruction boundaries.
v1::Request ThreeStepRun(uint64_t id) {
  ProgramBuilder b;
  uint32_t v = b.Input(DType::kF32, {4});
  for (int i = 0; i < 3; ++i) {
    b.Add("negate", {v}, DType::kF32, {4});
    v = b.last();
  }
  b.Output(v);
  v1::Request r;
  r.set_id(id);
  *r.mutable_run()->mutable_program() = b.program();
  *r.mutable_run()->add_inputs() = testing::Tensor<float>(DType::kF32, {4}, {1, 2, 3, 4});
  return r;
}

const std::vector<std::string> kEnabled = {"--enable-fault-injection"};

TEST(FaultInjection, RejectedWithoutTheFlag) {
  ExecutorProcess p;
  ASSERT_TRUE(p.Send(Fault(1, Kind::SEGFAULT)));
  auto r = p.Receive();
  ASSERT_TRUE(r && r->has_error());
  EXPECT_EQ(r->error().code(), v1::UNSUPPORTED);
  ASSERT_TRUE(p.Send(Ping(2)));
  EXPECT_TRUE(p.Receive().has_value());  // still alive
}

TEST(FaultInjection, FatalKindsKillTheProcessTheWayTheySay) {
  {
    ExecutorProcess p(kEnabled);
    ASSERT_TRUE(p.Send(Fault(1, Kind::SEGFAULT)));
    EXPECT_EQ(p.Wait(), -SIGSEGV);
  }
  {
    ExecutorProcess p(kEnabled);
    ASSERT_TRUE(p.Send(Fault(1, Kind::ABORT)));
    EXPECT_EQ(p.Wait(), -SIGABRT);
  }
  {
    ExecutorProcess p(kEnabled);
    auto r = Fault(1, Kind::EXIT);
    r.mutable_fault()->set_exit_code(42);
    ASSERT_TRUE(p.Send(r));
    EXPECT_EQ(p.Wait(), 42);
  }
}

TEST(FaultInjection, HangStopsAnswering) {
  ExecutorProcess p(kEnabled);
  ASSERT_TRUE(p.Send(Fault(1, Kind::HANG)));
  ASSERT_TRUE(p.Send(Ping(2)));
  EXPECT_FALSE(p.Receive(300ms).has_value());
  EXPECT_FALSE(p.Wait(10ms).has_value());  // alive, not answering
}

TEST(FaultInjection, AllocateIsResourceExhaustedAndTheExecutorStaysUp) {
  ExecutorProcess p({"--enable-fault-injection", "--memory-budget=32M"});
  ASSERT_TRUE(p.Send(Fault(1, Kind::ALLOCATE)));
  auto r = p.Receive();
  ASSERT_TRUE(r && r->has_error());
  EXPECT_EQ(r->error().code(), v1::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(p.Send(ThreeStepRun(2)));
  auto run = p.Receive();
  ASSERT_TRUE(run && run->has_run());
}

TEST(FaultInjection, GarbageReplyIsNotAResponseAndTheStreamGoesOn) {
  ExecutorProcess p(kEnabled);
  ASSERT_TRUE(p.Send(Fault(1, Kind::GARBAGE_REPLY)));
  EXPECT_FALSE(p.Receive().has_value());  // a frame that does not parse
  ASSERT_TRUE(p.Send(Ping(2)));
  auto pong = p.Receive();
  ASSERT_TRUE(pong && pong->has_pong());
}

TEST(FaultInjection, TruncatedReplyThenExit) {
  ExecutorProcess p(kEnabled);
  ASSERT_TRUE(p.Send(Fault(1, Kind::TRUNCATED_REPLY)));
  EXPECT_EQ(p.Wait(), 70);
}

TEST(FaultInjection, SegfaultInTheMiddleOfARun) {
  ExecutorProcess p(kEnabled);
  ASSERT_TRUE(p.Send(Fault(1, Kind::SEGFAULT, Kind::DURING_NEXT_RUN)));
  auto ack = p.Receive();
  ASSERT_TRUE(ack && ack->has_fault());
  ASSERT_TRUE(p.Send(ThreeStepRun(2)));
  EXPECT_EQ(p.Wait(), -SIGSEGV);
}

TEST(FaultInjection, GarbageReplyToARun) {
  ExecutorProcess p(kEnabled);
  ASSERT_TRUE(p.Send(Fault(1, Kind::GARBAGE_REPLY, Kind::DURING_NEXT_RUN)));
  ASSERT_TRUE(p.Receive().has_value());
  ASSERT_TRUE(p.Send(ThreeStepRun(2)));
  EXPECT_FALSE(p.Receive().has_value());
  ASSERT_TRUE(p.Send(ThreeStepRun(3)));  // the next run is answered normally
  auto r = p.Receive();
  ASSERT_TRUE(r && r->has_run());
  EXPECT_EQ(testing::Values<float>(r->run().outputs(0)), (std::vector<float>{-1, -2, -3, -4}));
}

TEST(FaultInjection, AllocateDuringARunFailsThatRun) {
  ExecutorProcess p({"--enable-fault-injection", "--memory-budget=16M"});
  ASSERT_TRUE(p.Send(Fault(1, Kind::ALLOCATE, Kind::DURING_NEXT_RUN)));
  ASSERT_TRUE(p.Receive().has_value());
  ASSERT_TRUE(p.Send(ThreeStepRun(2)));
  auto r = p.Receive();
  ASSERT_TRUE(r && r->has_error());
  EXPECT_EQ(r->error().code(), v1::RESOURCE_EXHAUSTED);
  EXPECT_EQ(r->error().instruction(), 0);
}

TEST(FaultInjection, SlowDelaysEveryInstruction) {
  ExecutorProcess p(kEnabled);
  auto slow = Fault(1, Kind::SLOW);
  slow.mutable_fault()->set_delay_ms(60);
  ASSERT_TRUE(p.Send(slow));
  ASSERT_TRUE(p.Receive().has_value());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(p.Send(ThreeStepRun(2)));
  auto r = p.Receive();
  ASSERT_TRUE(r && r->has_run());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 180ms);
}

// A run that carries its own fault (RunRequest.fault).
v1::Request PoisonedRun(uint64_t id, v1::FaultRequest::Kind kind, v1::FaultRequest::When when) {
  v1::Request r = ThreeStepRun(id);
  r.mutable_run()->mutable_fault()->set_kind(kind);
  r.mutable_run()->mutable_fault()->set_when(when);
  return r;
}

TEST(FaultInjection, ARunsOwnFaultIsRefusedWithoutTheFlagAndSoIsTheRun) {
  ExecutorProcess p;
  ASSERT_TRUE(p.Send(PoisonedRun(1, Kind::SEGFAULT, Kind::NOW)));
  auto r = p.Receive();
  ASSERT_TRUE(r && r->has_error());
  EXPECT_EQ(r->error().code(), v1::UNSUPPORTED);
  EXPECT_EQ(r->id(), 1u);
}

TEST(FaultInjection, ARunsOwnFaultFiresInThatRunNowOrAfterItsFirstInstruction) {
  for (auto when : {Kind::NOW, Kind::DURING_NEXT_RUN}) {
    ExecutorProcess p(kEnabled);
    ASSERT_TRUE(p.Send(PoisonedRun(1, Kind::ABORT, when)));
    EXPECT_EQ(p.Wait(), -SIGABRT) << Kind::When_Name(when);
  }
  ExecutorProcess p({"--enable-fault-injection", "--memory-budget=16M"});
  ASSERT_TRUE(p.Send(PoisonedRun(1, Kind::ALLOCATE, Kind::DURING_NEXT_RUN)));
  auto r = p.Receive();
  ASSERT_TRUE(r && r->has_error());
  EXPECT_EQ(r->error().code(), v1::RESOURCE_EXHAUSTED);
  EXPECT_EQ(r->error().instruction(), 0);
  ASSERT_TRUE(p.Send(PoisonedRun(2, Kind::ALLOCATE, Kind::NOW)));
  r = p.Receive();
  ASSERT_TRUE(r && r->has_error());
  EXPECT_EQ(r->error().code(), v1::RESOURCE_EXHAUSTED);
}

TEST(FaultInjection, ARunsOwnFaultNeverHitsTheRunAheadOfIt) {
  // A slow run computes while a poisoned one waits behind it: the slow one
  // is answered; only the poisoned one dies (a FaultRequest would have fired
  // inside whichever run came next, here the slow one).
  ExecutorProcess p(kEnabled);
  v1::Request slow = PoisonedRun(1, Kind::SLOW, Kind::NOW);
  slow.mutable_run()->mutable_fault()->set_delay_ms(50);
  ASSERT_TRUE(p.Send(slow));
  ASSERT_TRUE(p.Send(PoisonedRun(2, Kind::SEGFAULT, Kind::DURING_NEXT_RUN)));
  auto r = p.Receive();
  ASSERT_TRUE(r && r->has_run());
  EXPECT_EQ(r->id(), 1u);
  EXPECT_EQ(testing::Values<float>(r->run().outputs(0)), (std::vector<float>{-1, -2, -3, -4}));
  EXPECT_EQ(p.Wait(), -SIGSEGV);
}

TEST(FaultInjection, ARunsOwnSlowSlowsThatRunOnly) {
  ExecutorProcess p(kEnabled);
  v1::Request slow = PoisonedRun(1, Kind::SLOW, Kind::NOW);
  slow.mutable_run()->mutable_fault()->set_delay_ms(60);
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(p.Send(slow));
  auto r = p.Receive();
  ASSERT_TRUE(r && r->has_run());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 180ms);
  start = std::chrono::steady_clock::now();
  ASSERT_TRUE(p.Send(ThreeStepRun(2)));
  r = p.Receive();
  ASSERT_TRUE(r && r->has_run());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 150ms);
}

}  // namespace
}  // namespace pelemay

namespace pelemay {
namespace {

TEST(FaultInjection, ExitsOnEofWhileTheComputeThreadIsStuck) {
  // SLOW makes each instruction sleep 5 s; EOF must still end the process
  // within the 1 s shutdown grace, not after the run.
  ExecutorProcess p(kEnabled);
  auto slow = Fault(1, Kind::SLOW);
  slow.mutable_fault()->set_delay_ms(5000);
  ASSERT_TRUE(p.Send(slow));
  ASSERT_TRUE(p.Receive().has_value());
  ASSERT_TRUE(p.Send(ThreeStepRun(2)));
  std::this_thread::sleep_for(100ms);
  const auto start = std::chrono::steady_clock::now();
  p.CloseInput();
  ASSERT_TRUE(p.Wait(3s).has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

}  // namespace
}  // namespace pelemay
