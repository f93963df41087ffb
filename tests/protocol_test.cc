// The framing state machine and the request handler, without processes.
#include <gtest/gtest.h>

#include <random>

#include "executor/server/frame_reader.h"
#include "executor/server/request_handler.h"
#include "tests/program_builder.h"

namespace pelemay {
namespace {

using testing::ProgramBuilder;

std::span<const std::byte> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

TEST(FrameReader, SplitsFramesAcrossArbitraryChunks) {
  const std::string stream = EncodeFrame("hello") + EncodeFrame("") + EncodeFrame(std::string(70000, 'x'));
  for (size_t chunk : {1u, 3u, 4u, 7u, 65536u}) {
    FrameReader reader(1 << 20);
    std::vector<FrameEvent> events;
    for (size_t i = 0; i < stream.size(); i += chunk) reader.Feed(Bytes(stream.substr(i, chunk)), events);
    ASSERT_EQ(events.size(), 3u) << "chunk " << chunk;
    EXPECT_EQ(events[0].payload, "hello");
    EXPECT_EQ(events[1].payload, "");
    EXPECT_EQ(events[2].payload.size(), 70000u);
    EXPECT_FALSE(reader.mid_frame());
  }
}

TEST(FrameReader, OversizeFrameIsReportedAndSkippedWithoutBuffering) {
  FrameReader reader(16);
  std::vector<FrameEvent> events;
  reader.Feed(Bytes(EncodeFrame(std::string(100, 'a')) + EncodeFrame("ok")), events);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, FrameEvent::Kind::kOversize);
  EXPECT_EQ(events[0].length, 100u);
  EXPECT_EQ(events[1].kind, FrameEvent::Kind::kFrame);
  EXPECT_EQ(events[1].payload, "ok");
}

TEST(FrameReader, TruncatedFrameIsVisible) {
  FrameReader reader(1 << 20);
  std::vector<FrameEvent> events;
  reader.Feed(Bytes(EncodeFrame("abcdef").substr(0, 7)), events);
  EXPECT_TRUE(events.empty());
  EXPECT_TRUE(reader.mid_frame());
  FrameReader header_only(1 << 20);
  header_only.Feed(Bytes(std::string("\0\0", 2)), events);
  EXPECT_TRUE(header_only.mid_frame());
}

TEST(FrameReader, RandomBytesNeverBufferPastTheLimit) {
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    std::string junk(4096, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    FrameReader reader(1024);
    std::vector<FrameEvent> events;
    reader.Feed(Bytes(junk), events);
    for (const auto& e : events)
      if (e.kind == FrameEvent::Kind::kFrame) {
        EXPECT_LE(e.payload.size(), 1024u);
      }
  }
}

class HandlerTest : public ::testing::Test {
 protected:
  ExecutorOptions options_;
  RequestHandler handler_{options_};
};

v1::Request AddRequest(uint64_t id) {
  ProgramBuilder b;
  auto x = b.Input(DType::kS32, {3});
  auto y = b.Input(DType::kS32, {3});
  b.Add("add", {x, y}, DType::kS32, {3});
  b.Output(b.last());
  v1::Request r;
  r.set_id(id);
  *r.mutable_run()->mutable_program() = b.program();
  *r.mutable_run()->add_inputs() = testing::Tensor<int32_t>(DType::kS32, {3}, {1, 2, 3});
  *r.mutable_run()->add_inputs() = testing::Tensor<int32_t>(DType::kS32, {3}, {10, 20, 2147483647});
  return r;
}

TEST_F(HandlerTest, RunsAnInlineProgramAndEchoesTheId) {
  auto resp = handler_.HandleWork(AddRequest(42), nullptr);
  ASSERT_TRUE(resp.has_run()) << resp.DebugString();
  EXPECT_EQ(resp.id(), 42u);
  EXPECT_EQ(testing::Values<int32_t>(resp.run().outputs(0)), (std::vector<int32_t>{11, 22, -2147483646}));
}

TEST_F(HandlerTest, CompileThenRunByIdThenRelease) {
  v1::Request compile;
  compile.set_id(1);
  *compile.mutable_compile()->mutable_program() = AddRequest(0).run().program();
  auto c = handler_.HandleWork(compile, nullptr);
  ASSERT_TRUE(c.has_compile()) << c.DebugString();
  v1::Request run = AddRequest(2);
  run.mutable_run()->set_program_id(c.compile().program_id());
  auto r = handler_.HandleWork(run, nullptr);
  ASSERT_TRUE(r.has_run()) << r.DebugString();
  EXPECT_EQ(handler_.Stats().cached_programs(), 1u);
  v1::Request rel;
  rel.mutable_release()->set_program_id(c.compile().program_id());
  EXPECT_TRUE(handler_.HandleQuick(rel).release().released());
  EXPECT_FALSE(handler_.HandleQuick(rel).release().released());
  auto gone = handler_.HandleWork(run, nullptr);
  ASSERT_TRUE(gone.has_error());
  EXPECT_EQ(gone.error().code(), v1::NOT_FOUND);
}

TEST(ProgramCacheTest, EvictsTheLeastRecentlyUsed) {
  ExecutorOptions o;
  o.program_cache = 2;
  RequestHandler h(o);
  v1::Request compile;
  *compile.mutable_compile()->mutable_program() = AddRequest(0).run().program();
  const uint64_t a = h.HandleWork(compile, nullptr).compile().program_id();
  const uint64_t b = h.HandleWork(compile, nullptr).compile().program_id();
  v1::Request run = AddRequest(1);
  run.mutable_run()->set_program_id(a);
  ASSERT_TRUE(h.HandleWork(run, nullptr).has_run());  // a is now the most recent
  h.HandleWork(compile, nullptr);                     // evicts b
  run.mutable_run()->set_program_id(b);
  EXPECT_EQ(h.HandleWork(run, nullptr).error().code(), v1::NOT_FOUND);
  run.mutable_run()->set_program_id(a);
  EXPECT_TRUE(h.HandleWork(run, nullptr).has_run());
}

TEST_F(HandlerTest, WrongInputsAreInvalidArgument) {
  auto req = AddRequest(3);
  req.mutable_run()->mutable_inputs(1)->set_data("short");
  auto resp = handler_.HandleWork(req, nullptr);
  ASSERT_TRUE(resp.has_error());
  EXPECT_EQ(resp.error().code(), v1::INVALID_ARGUMENT);
  EXPECT_NE(resp.error().message().find("input 1"), std::string::npos);
  req.mutable_run()->mutable_inputs()->RemoveLast();
  EXPECT_EQ(handler_.HandleWork(req, nullptr).error().code(), v1::INVALID_ARGUMENT);
}

TEST_F(HandlerTest, ArenaPayloadIsUnsupportedWithoutAnArena) {
  auto req = AddRequest(4);
  req.mutable_run()->mutable_inputs(0)->mutable_arena()->set_length(12);
  auto resp = handler_.HandleWork(req, nullptr);
  ASSERT_TRUE(resp.has_error());
  EXPECT_EQ(resp.error().code(), v1::UNSUPPORTED);
  EXPECT_NE(resp.error().message().find("arena"), std::string::npos);
}

TEST_F(HandlerTest, CancelledBeforeTheFirstInstruction) {
  std::atomic<bool> cancelled{true};
  auto resp = handler_.HandleWork(AddRequest(5), &cancelled);
  ASSERT_TRUE(resp.has_error());
  EXPECT_EQ(resp.error().code(), v1::CANCELLED);
  EXPECT_EQ(resp.error().instruction(), 0);
}

TEST_F(HandlerTest, IntegerDivisionByZeroNamesTheInstruction) {
  ProgramBuilder b;
  auto x = b.Input(DType::kS32, {2});
  b.Add("negate", {x}, DType::kS32, {2});
  b.Add("quotient", {x, x}, DType::kS32, {2});
  b.Output(b.last());
  v1::Request r;
  *r.mutable_run()->mutable_program() = b.program();
  *r.mutable_run()->add_inputs() = testing::Tensor<int32_t>(DType::kS32, {2}, {4, 0});
  auto resp = handler_.HandleWork(r, nullptr);
  ASSERT_TRUE(resp.has_error());
  EXPECT_EQ(resp.error().code(), v1::INVALID_ARGUMENT);
  EXPECT_EQ(resp.error().instruction(), 1);
  EXPECT_NE(resp.error().message().find("division by zero"), std::string::npos);
}

TEST_F(HandlerTest, InfoAndStats) {
  v1::Request info;
  info.mutable_info();
  auto i = handler_.HandleQuick(info).info();
  EXPECT_EQ(i.protocol_version(), 1u);
  EXPECT_FALSE(i.simd_targets_compiled().empty());
  EXPECT_FALSE(i.simd_target_chosen().empty());
  EXPECT_EQ(i.memory_budget_bytes(), uint64_t{1} << 30);
  EXPECT_GT(i.ops_size(), 40);
  ASSERT_TRUE(handler_.HandleWork(AddRequest(1), nullptr).has_run());
  v1::Request stats;
  stats.mutable_stats();
  auto s = handler_.HandleQuick(stats).stats();
  EXPECT_EQ(s.runs(), 1u);
  EXPECT_GT(s.tensor_bytes_peak(), 0u);
  EXPECT_GT(s.rss_anon_bytes(), 0u);
}

TEST_F(HandlerTest, UnknownRequestKindIsAnError) {
  v1::Request empty;
  empty.set_id(9);
  auto resp = handler_.HandleQuick(empty);
  ASSERT_TRUE(resp.has_error());
  EXPECT_EQ(resp.id(), 9u);
  EXPECT_EQ(resp.error().code(), v1::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace pelemay
