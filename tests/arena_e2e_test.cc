// Shared-memory tensors through the real binary: the test plays the owner
// (it creates the arena, writes inputs into it and reads outputs back), the
// executor maps it from --arena at start-up and computes on it in place.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <limits>
#include <numeric>

#include "shared_mem/arena.h"
#include "tests/executor_process.h"
#include "tests/program_builder.h"

namespace pelemay {
namespace {

using testing::ExecutorProcess;
using testing::ProgramBuilder;

struct OwnedArena {
  explicit OwnedArena(uint64_t size) {
    static uint64_t n = 0;
    path = shm::DefaultDirectory() + "/" + shm::ArenaName(static_cast<uint64_t>(::getpid()), n++);
    std::string error;
    arena = shm::Arena::Create(path, size, &error);
    EXPECT_TRUE(arena) << error;
  }
  ~OwnedArena() {
    arena.reset();
    shm::Arena::Remove(path);
  }
  template <class T>
  void Write(uint64_t offset, const std::vector<T>& v) {
    std::memcpy(arena->bytes().data() + offset, v.data(), v.size() * sizeof(T));
  }
  template <class T>
  std::vector<T> Read(const v1::ArenaRef& ref) {
    std::vector<T> v(ref.length() / sizeof(T));
    std::memcpy(v.data(), arena->bytes().data() + ref.offset(), v.size() * sizeof(T));
    return v;
  }
  std::string path;
  std::unique_ptr<shm::Arena> arena;
};

v1::Tensor ArenaTensor(DType dtype, std::vector<int64_t> shape, uint64_t offset, uint64_t length) {
  v1::Tensor t;
  t.set_dtype(static_cast<v1::DType>(dtype));
  for (int64_t d : shape) t.add_shape(d);
  t.mutable_arena()->set_offset(offset);
  t.mutable_arena()->set_length(length);
  return t;
}

// x + y over f32[n], the sum returned `copies` times.
v1::Request AddRequest(uint64_t id, int64_t n, int copies = 1) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {n});
  auto y = b.Input(DType::kF32, {n});
  b.Add("add", {x, y}, DType::kF32, {n});
  for (int i = 0; i < copies; ++i) b.Output(b.last());
  v1::Request r;
  r.set_id(id);
  *r.mutable_run()->mutable_program() = b.program();
  return r;
}

std::optional<v1::Response> Call(ExecutorProcess& p, const v1::Request& r) {
  if (!p.Send(r)) return std::nullopt;
  return p.Receive(std::chrono::seconds(60));
}

std::string Describe(const std::optional<v1::Response>& r) { return r ? r->ShortDebugString() : "no reply"; }

TEST(ArenaE2E, ComputesOnMappedInputsAndWritesOutputsIntoTheArena) {
  OwnedArena a(1 << 20);
  ExecutorProcess p({"--arena=" + a.path});
  ASSERT_TRUE(p.started());
  const int64_t n = 1000;
  std::vector<float> x(n), y(n);
  std::iota(x.begin(), x.end(), 0.0f);
  std::iota(y.begin(), y.end(), 0.5f);
  a.Write(0, x);
  a.Write(4096, y);
  v1::Request r = AddRequest(1, n, 2);
  *r.mutable_run()->add_inputs() = ArenaTensor(DType::kF32, {n}, 0, n * 4);
  *r.mutable_run()->add_inputs() = ArenaTensor(DType::kF32, {n}, 4096, n * 4);
  r.mutable_run()->mutable_output_arena()->set_offset(8192);
  r.mutable_run()->mutable_output_arena()->set_length(16384);
  auto resp = Call(p, r);
  ASSERT_TRUE(resp && resp->has_run()) << Describe(resp);
  ASSERT_EQ(resp->run().outputs_size(), 2);
  // Placed in output order at multiples of 64: [8192, 12192), then 12224.
  const auto& o0 = resp->run().outputs(0);
  const auto& o1 = resp->run().outputs(1);
  ASSERT_TRUE(o0.has_arena() && o1.has_arena()) << Describe(resp);
  EXPECT_EQ(o0.arena().offset(), 8192u);
  EXPECT_EQ(o0.arena().length(), uint64_t(n * 4));
  EXPECT_EQ(o1.arena().offset(), 12224u);
  auto sum = a.Read<float>(o0.arena());
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(sum[i], x[i] + y[i]) << i;
  EXPECT_EQ(a.Read<float>(o1.arena()), sum);

  v1::Request info;
  info.set_id(2);
  info.mutable_info();
  auto ir = Call(p, info);
  ASSERT_TRUE(ir && ir->has_info()) << Describe(ir);
  EXPECT_EQ(ir->info().arena_path(), a.path);
  EXPECT_EQ(ir->info().arena_bytes(), 1u << 20);
}

TEST(ArenaE2E, OutputsThatDoNotFitOrAreSmallComeBackInline) {
  OwnedArena a(1 << 16);
  ExecutorProcess p({"--arena", a.path});
  ASSERT_TRUE(p.started());
  const int64_t n = 256;
  a.Write(0, std::vector<float>(n, 1.0f));
  a.Write(1024, std::vector<float>(n, 2.0f));
  for (int variant = 0; variant < 3; ++variant) {
    v1::Request r = AddRequest(10 + variant, n, 2);
    *r.mutable_run()->add_inputs() = ArenaTensor(DType::kF32, {n}, 0, n * 4);
    *r.mutable_run()->add_inputs() = testing::Tensor<float>(DType::kF32, {n}, std::vector<float>(n, 2.0f));
    r.mutable_run()->mutable_output_arena()->set_offset(4096);
    // 0: room for one output only; 1: outputs under the minimum; 2: empty region.
    r.mutable_run()->mutable_output_arena()->set_length(variant == 0 ? 1500 : variant == 1 ? 8192 : 0);
    if (variant == 1) r.mutable_run()->set_output_arena_min_bytes(n * 4 + 1);
    auto resp = Call(p, r);
    ASSERT_TRUE(resp && resp->has_run()) << Describe(resp);
    ASSERT_EQ(resp->run().outputs_size(), 2);
    EXPECT_EQ(resp->run().outputs(0).has_arena(), variant == 0) << variant;
    EXPECT_FALSE(resp->run().outputs(1).has_arena()) << variant;
    EXPECT_EQ(testing::Values<float>(resp->run().outputs(1)), std::vector<float>(n, 3.0f));
    if (variant == 0) {
      EXPECT_EQ(a.Read<float>(resp->run().outputs(0).arena()), std::vector<float>(n, 3.0f));
    }
  }
}

TEST(ArenaE2E, AnArenaInputReturnedUnchangedKeepsItsPlace) {
  OwnedArena a(1 << 16);
  ExecutorProcess p({"--arena=" + a.path});
  ASSERT_TRUE(p.started());
  ProgramBuilder b;
  auto x = b.Input(DType::kS32, {4});
  b.Output(x);
  v1::Request r;
  r.set_id(3);
  *r.mutable_run()->mutable_program() = b.program();
  *r.mutable_run()->add_inputs() = ArenaTensor(DType::kS32, {4}, 256, 16);
  r.mutable_run()->mutable_output_arena()->set_offset(1024);
  r.mutable_run()->mutable_output_arena()->set_length(1024);
  auto resp = Call(p, r);
  ASSERT_TRUE(resp && resp->has_run()) << Describe(resp);
  ASSERT_TRUE(resp->run().outputs(0).has_arena());
  EXPECT_EQ(resp->run().outputs(0).arena().offset(), 256u);
  EXPECT_EQ(resp->run().outputs(0).arena().length(), 16u);
}

TEST(ArenaE2E, EveryBadReferenceIsInvalidArgumentBeforeAnyKernelRuns) {
  const uint64_t size = 1 << 16;
  OwnedArena a(size);
  ExecutorProcess p({"--arena=" + a.path});
  ASSERT_TRUE(p.started());
  const int64_t n = 16;
  a.Write(0, std::vector<float>(n, 1.0f));
  a.Write(128, std::vector<float>(n, 2.0f));
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  struct Case {
    const char* name;
    uint64_t in_offset, in_length, out_offset, out_length;
    const char* says;
  };
  const Case cases[] = {
      {"past the end", size - 32, 64, 4096, 4096, "not inside"},
      {"offset + length wraps", kMax - 31, 64, 4096, 4096, "not inside"},
      {"misaligned for f32", 2, 64, 4096, 4096, "multiple of 4"},
      {"length is not elements x size", 0, 60, 4096, 4096, "needs 64 bytes"},
      {"length far too large", 0, kMax, 4096, 4096, "needs 64 bytes"},
      {"output region past the end", 0, 64, size - 64, 128, "not inside"},
      {"output region wraps", 0, 64, 4096, kMax - 4000, "not inside"},
      {"output region misaligned", 0, 64, 4100, 512, "multiple of 64"},
      {"output region on an input", 0, 64, 64, 512, "overlaps input 1"},
  };
  uint64_t id = 100;
  for (const Case& c : cases) {
    v1::Request r = AddRequest(id, n);
    *r.mutable_run()->add_inputs() = ArenaTensor(DType::kF32, {n}, c.in_offset, c.in_length);
    *r.mutable_run()->add_inputs() = ArenaTensor(DType::kF32, {n}, 128, 64);
    r.mutable_run()->mutable_output_arena()->set_offset(c.out_offset);
    r.mutable_run()->mutable_output_arena()->set_length(c.out_length);
    auto resp = Call(p, r);
    ASSERT_TRUE(resp && resp->has_error()) << c.name << ": " << Describe(resp);
    EXPECT_EQ(resp->id(), id) << c.name;
    EXPECT_EQ(resp->error().code(), v1::INVALID_ARGUMENT) << c.name << ": " << Describe(resp);
    EXPECT_NE(resp->error().message().find(c.says), std::string::npos) << c.name << ": " << Describe(resp);
    ++id;
  }
  // Nothing ran: the input under the overlapping region is untouched.
  v1::ArenaRef in;
  in.set_offset(128);
  in.set_length(64);
  EXPECT_EQ(a.Read<float>(in), std::vector<float>(n, 2.0f));
  // And the executor is still serving.
  v1::Request ok = AddRequest(id, n);
  *ok.mutable_run()->add_inputs() = ArenaTensor(DType::kF32, {n}, 0, 64);
  *ok.mutable_run()->add_inputs() = ArenaTensor(DType::kF32, {n}, 128, 64);
  auto resp = Call(p, ok);
  ASSERT_TRUE(resp && resp->has_run()) << Describe(resp);
  EXPECT_EQ(testing::Values<float>(resp->run().outputs(0)), std::vector<float>(n, 3.0f));
}

TEST(ArenaE2E, WithoutAnArenaArenaPayloadsAreUnsupported) {
  ExecutorProcess p;
  ASSERT_TRUE(p.started());
  v1::Request r = AddRequest(5, 4);
  *r.mutable_run()->add_inputs() = ArenaTensor(DType::kF32, {4}, 0, 16);
  *r.mutable_run()->add_inputs() = ArenaTensor(DType::kF32, {4}, 64, 16);
  auto resp = Call(p, r);
  ASSERT_TRUE(resp && resp->has_error()) << Describe(resp);
  EXPECT_EQ(resp->error().code(), v1::UNSUPPORTED);
  v1::Request r2 = AddRequest(6, 4);
  *r2.mutable_run()->add_inputs() = testing::Tensor<float>(DType::kF32, {4}, std::vector<float>(4, 1.0f));
  *r2.mutable_run()->add_inputs() = testing::Tensor<float>(DType::kF32, {4}, std::vector<float>(4, 1.0f));
  r2.mutable_run()->mutable_output_arena()->set_length(64);
  resp = Call(p, r2);
  ASSERT_TRUE(resp && resp->has_error()) << Describe(resp);
  EXPECT_EQ(resp->error().code(), v1::UNSUPPORTED);
}

TEST(ArenaE2E, AnArenaThatCannotBeMappedStopsStartUp) {
  ExecutorProcess p({"--arena=/nonexistent/pelemay-arena-1-1"});
  ASSERT_TRUE(p.started());
  EXPECT_EQ(p.Wait(), std::optional<int>(2));
}

TEST(ArenaE2E, TheArenaOutlivesAnExecutorAndTheNextOneMapsIt) {
  OwnedArena a(1 << 16);
  const int64_t n = 8;
  a.Write(0, std::vector<float>(n, 1.5f));
  a.Write(64, std::vector<float>(n, 2.0f));
  for (int life = 0; life < 2; ++life) {
    ExecutorProcess p({"--arena=" + a.path});
    ASSERT_TRUE(p.started());
    v1::Request r = AddRequest(1, n);
    *r.mutable_run()->add_inputs() = ArenaTensor(DType::kF32, {n}, 0, 32);
    *r.mutable_run()->add_inputs() = ArenaTensor(DType::kF32, {n}, 64, 32);
    r.mutable_run()->mutable_output_arena()->set_offset(128);
    r.mutable_run()->mutable_output_arena()->set_length(64);
    auto resp = Call(p, r);
    ASSERT_TRUE(resp && resp->has_run()) << Describe(resp);
    EXPECT_EQ(a.Read<float>(resp->run().outputs(0).arena()), std::vector<float>(n, 3.5f));
    ::kill(p.pid(), SIGKILL);  // dies; the arena and its bytes stay
    p.Wait();
  }
}

uint64_t StatsField(ExecutorProcess& p, uint64_t id, uint64_t (v1::Stats::*field)() const) {
  v1::Request r;
  r.set_id(id);
  r.mutable_stats();
  auto resp = Call(p, r);
  EXPECT_TRUE(resp && resp->has_stats()) << Describe(resp);
  return resp && resp->has_stats() ? (resp->stats().*field)() : 0;
}

// The memory promise: adding two 64 MiB f32 tensors through the
// arena grows the executor's private memory (allocation high-water mark and
// RssAnon) by at most 8 MiB; the inline path needs at least the payload.
TEST(ArenaE2E, AddingTwo64MiBTensorsThroughTheArenaCopiesNothing) {
  const int64_t n = int64_t{16} << 20;  // f32: 64 MiB
  const uint64_t bytes = static_cast<uint64_t>(n) * 4;
  const uint64_t slack = uint64_t{8} << 20;
  {
    OwnedArena a(3 * bytes);
    a.Write(0, std::vector<float>(n, 1.0f));
    a.Write(bytes, std::vector<float>(n, 2.0f));
    ExecutorProcess p({"--arena=" + a.path});
    ASSERT_TRUE(p.started());
    const uint64_t peak0 = StatsField(p, 1, &v1::Stats::tensor_bytes_peak);
    const uint64_t rss0 = StatsField(p, 2, &v1::Stats::rss_anon_bytes);
    v1::Request r = AddRequest(3, n);
    *r.mutable_run()->add_inputs() = ArenaTensor(DType::kF32, {n}, 0, bytes);
    *r.mutable_run()->add_inputs() = ArenaTensor(DType::kF32, {n}, bytes, bytes);
    r.mutable_run()->mutable_output_arena()->set_offset(2 * bytes);
    r.mutable_run()->mutable_output_arena()->set_length(bytes);
    auto resp = Call(p, r);
    ASSERT_TRUE(resp && resp->has_run()) << Describe(resp);
    ASSERT_TRUE(resp->run().outputs(0).has_arena());
    const uint64_t peak1 = StatsField(p, 4, &v1::Stats::tensor_bytes_peak);
    const uint64_t rss1 = StatsField(p, 5, &v1::Stats::rss_anon_bytes);
    EXPECT_LE(peak1 - peak0, slack) << "allocation high-water mark grew from " << peak0 << " to " << peak1;
#if defined(__linux__)
    EXPECT_GT(rss0, 0u);
    EXPECT_LE(rss1, rss0 + slack) << "RssAnon grew from " << rss0 << " to " << rss1;
#endif
    std::printf("arena path: tensor_bytes_peak %llu -> %llu, RssAnon %llu -> %llu\n",
                static_cast<unsigned long long>(peak0), static_cast<unsigned long long>(peak1),
                static_cast<unsigned long long>(rss0), static_cast<unsigned long long>(rss1));
    auto sum = a.Read<float>(resp->run().outputs(0).arena());
    EXPECT_EQ(sum.front(), 3.0f);
    EXPECT_EQ(sum.back(), 3.0f);
  }
  {
    ExecutorProcess p;
    ASSERT_TRUE(p.started());
    const uint64_t peak0 = StatsField(p, 1, &v1::Stats::tensor_bytes_peak);
    v1::Request r = AddRequest(3, n);
    *r.mutable_run()->add_inputs() = testing::Tensor<float>(DType::kF32, {n}, std::vector<float>(n, 1.0f));
    *r.mutable_run()->add_inputs() = testing::Tensor<float>(DType::kF32, {n}, std::vector<float>(n, 2.0f));
    auto resp = Call(p, r);
    ASSERT_TRUE(resp && resp->has_run()) << Describe(resp);
    const uint64_t peak1 = StatsField(p, 4, &v1::Stats::tensor_bytes_peak);
    EXPECT_GE(peak1 - peak0, bytes) << "the inline path should hold at least the payload";
    std::printf("inline path: tensor_bytes_peak %llu -> %llu\n", static_cast<unsigned long long>(peak0),
                static_cast<unsigned long long>(peak1));
  }
}

}  // namespace
}  // namespace pelemay
