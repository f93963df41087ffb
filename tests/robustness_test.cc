// Rows of the bad-input catalogue (docs/robustness.md) that no other suite
// covers, and the check that every test the catalogue names exists.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "executor/server/request_handler.h"
#include "tests/executor_process.h"
#include "tests/program_builder.h"

namespace pelemay {
namespace {

using testing::ProgramBuilder;

v1::Response RunOne(v1::Program program, std::vector<v1::Tensor> inputs) {
  static RequestHandler handler(ExecutorOptions{});
  v1::Request r;
  r.set_id(9);
  *r.mutable_run()->mutable_program() = std::move(program);
  for (auto& t : inputs) *r.mutable_run()->add_inputs() = std::move(t);
  return handler.HandleWork(r, nullptr);
}

void ExpectInvalid(const v1::Response& resp, int64_t instruction, const std::string& words) {
  ASSERT_TRUE(resp.has_error()) << resp.DebugString();
  EXPECT_EQ(resp.error().code(), v1::INVALID_ARGUMENT) << resp.error().message();
  EXPECT_EQ(resp.error().instruction(), instruction) << resp.error().message();
  EXPECT_NE(resp.error().message().find(words), std::string::npos) << resp.error().message();
}

TEST(Robustness, ZeroLengthFrameIsARequestWithNoKind) {
  testing::ExecutorProcess p;
  ASSERT_TRUE(p.WriteRaw(std::string(4, '\0')));
  auto r = p.Receive();
  ASSERT_TRUE(r && r->has_error());
  EXPECT_EQ(r->error().code(), v1::INVALID_ARGUMENT);
  EXPECT_NE(r->error().message().find("no kind"), std::string::npos) << r->error().message();
  v1::Request ping;
  ping.set_id(2);
  ping.mutable_ping();
  ASSERT_TRUE(p.Send(ping));
  r = p.Receive();
  ASSERT_TRUE(r && r->has_pong());  // the stream goes on
}

TEST(Robustness, AxisAttributesOutOfRange) {
  {
    ProgramBuilder b;
    const auto x = b.Input(DType::kF32, {2, 3});
    b.Add("concatenate", {x, x}, DType::kF32, {4, 3}).mutable_attrs()->set_axis(2);
    b.Output(b.last());
    ExpectInvalid(RunOne(b.program(), {}), 0, "axis");
  }
  {
    ProgramBuilder b;
    const auto x = b.Input(DType::kF32, {2, 3});
    b.Add("argmax", {x}, DType::kS64, {2}).mutable_attrs()->set_axis(-1);
    b.Output(b.last());
    ExpectInvalid(RunOne(b.program(), {}), 0, "axis");
  }
  {
    ProgramBuilder b;
    b.Add("iota", {}, DType::kS32, {4}).mutable_attrs()->set_axis(1);
    b.Output(b.last());
    ExpectInvalid(RunOne(b.program(), {}), 0, "axis");
  }
  {
    ProgramBuilder b;
    const auto x = b.Input(DType::kF32, {2, 3});
    auto& t = b.Add("transpose", {x}, DType::kF32, {3, 2});
    t.mutable_attrs()->add_permutation(1);
    t.mutable_attrs()->add_permutation(2);
    b.Output(b.last());
    ExpectInvalid(RunOne(b.program(), {}), 0, "out of range");
  }
}

// NaN and Inf are values, not errors: they flow through the kernels as IEEE
// and Nx say, and conversion to integers is defined (docs/ops.md).
TEST(Robustness, NaNAndInfAreValuesNotErrors) {
  ProgramBuilder b;
  const auto x = b.Input(DType::kF32, {4});
  const auto y = b.Input(DType::kF32, {4});
  b.Add("divide", {x, y}, DType::kF32, {4});
  const auto q = b.last();
  b.Add("sqrt", {q}, DType::kF32, {4});
  b.Add("as_type", {q}, DType::kS32, {4});
  b.Output(q);
  b.Output(q + 1);
  b.Output(q + 2);
  const float inf = std::numeric_limits<float>::infinity();
  auto resp = RunOne(b.program(), {testing::Tensor<float>(DType::kF32, {4}, {1.f, -1.f, 0.f, inf}),
                                   testing::Tensor<float>(DType::kF32, {4}, {0.f, 0.f, 0.f, 2.f})});
  ASSERT_TRUE(resp.has_run()) << resp.DebugString();
  const auto quot = testing::Values<float>(resp.run().outputs(0));
  EXPECT_EQ(quot[0], inf);
  EXPECT_EQ(quot[1], -inf);
  EXPECT_TRUE(std::isnan(quot[2]));
  EXPECT_EQ(quot[3], inf);
  const auto root = testing::Values<float>(resp.run().outputs(1));
  EXPECT_TRUE(std::isnan(root[1]));
  EXPECT_TRUE(std::isnan(root[2]));
  EXPECT_EQ(testing::Values<int32_t>(resp.run().outputs(2)).size(), 4u);
}

// Every `Suite.Name` the catalogue cites is a TEST/TEST_F/TEST_P in tests/.
TEST(Robustness, TheCatalogueNamesOnlyTestsThatExist) {
  const std::filesystem::path root = PELEMAY_SOURCE_DIR;
  std::ifstream doc(root / "docs" / "robustness.md");
  ASSERT_TRUE(doc) << "docs/robustness.md is missing";
  std::stringstream text;
  text << doc.rdbuf();
  std::set<std::string> defined;
  const std::regex test_re(R"(TEST(?:_F|_P)?\(\s*(\w+)\s*,\s*(\w+)\s*\))");
  for (const auto& entry : std::filesystem::directory_iterator(root / "tests")) {
    if (entry.path().extension() != ".cc") continue;
    std::ifstream f(entry.path());
    std::stringstream s;
    s << f.rdbuf();
    const std::string src = s.str();
    for (std::sregex_iterator it(src.begin(), src.end(), test_re), end; it != end; ++it)
      defined.insert((*it)[1].str() + "." + (*it)[2].str());
  }
  const std::string md = text.str();
  const std::regex cite_re(R"(`([A-Z]\w+)\.([A-Z]\w+)`)");
  int cited = 0;
  for (std::sregex_iterator it(md.begin(), md.end(), cite_re), end; it != end; ++it) {
    ++cited;
    const std::string name = (*it)[1].str() + "." + (*it)[2].str();
    EXPECT_TRUE(defined.count(name)) << "docs/robustness.md cites " << name << ", which no test in tests/ defines";
  }
  EXPECT_GE(cited, 20) << "the catalogue should cite a test on every row";
}

}  // namespace
}  // namespace pelemay
