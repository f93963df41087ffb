// Which runs the executor's I/O thread may compute itself
// (executor/server/inline_run.h): small programs of cheap ops, inline or by
// the id of a compiled program; never a run carrying a fault, a large one,
// an unknown op or an unknown id.
#include "executor/server/inline_run.h"

#include <gtest/gtest.h>

#include <memory>

#include "executor/validate/validator.h"
#include "tests/program_builder.h"

namespace pelemay {
namespace {

using testing::ProgramBuilder;

v1::Program AddProgram(int64_t n) {
  ProgramBuilder b;
  const uint32_t x = b.Input(DType::kF32, {n});
  const uint32_t y = b.Input(DType::kF32, {n});
  b.Add("add", {x, y}, DType::kF32, {n});
  b.Output(b.last());
  return b.program();
}

v1::Request RunOf(const v1::Program& program) {
  v1::Request r;
  *r.mutable_run()->mutable_program() = program;
  return r;
}

v1::Request RunById(uint64_t id) {
  v1::Request r;
  r.mutable_run()->set_program_id(id);
  return r;
}

uint64_t Compile(ProgramCache& cache, const v1::Program& program) {
  auto checked = Validate(program, Limits{});
  EXPECT_TRUE(checked.ok()) << checked.status().message();
  return cache.Insert(std::make_shared<const CheckedProgram>(std::move(*checked)));
}

TEST(InlineRun, SmallInlineProgramIsCheap) {
  ProgramCache cache(4);
  EXPECT_TRUE(CheapEnoughForIoThread(RunOf(AddProgram(4)), cache));
  EXPECT_TRUE(CheapEnoughForIoThread(RunOf(AddProgram(kInlineMaxElements)), cache));
}

TEST(InlineRun, LargeInlineProgramIsNot) {
  ProgramCache cache(4);
  EXPECT_FALSE(CheapEnoughForIoThread(RunOf(AddProgram(kInlineMaxElements + 1)), cache));
}

// Empty tensors still have their other axes walked: what counts is the
// product of the non-zero dimensions, inline or compiled.
TEST(InlineRun, EmptyButWideTensorsAreNot) {
  ProgramCache cache(4);
  ProgramBuilder b;
  const uint32_t x = b.Input(DType::kF32, {0, 4096, 4096});
  b.Add("negate", {x}, DType::kF32, {0, 4096, 4096});
  b.Output(b.last());
  EXPECT_FALSE(CheapEnoughForIoThread(RunOf(b.program()), cache));
  EXPECT_FALSE(CheapEnoughForIoThread(RunById(Compile(cache, b.program())), cache));
}

TEST(InlineRun, ARunWithItsOwnFaultIsNot) {
  ProgramCache cache(4);
  v1::Request r = RunOf(AddProgram(4));
  r.mutable_run()->mutable_fault()->set_kind(v1::FaultRequest::SLOW);
  EXPECT_FALSE(CheapEnoughForIoThread(r, cache));
}

TEST(InlineRun, AnUnknownOpIsNot) {
  ProgramCache cache(4);
  v1::Program p = AddProgram(4);
  p.mutable_instructions(0)->set_op("no_such_op");
  EXPECT_FALSE(CheapEnoughForIoThread(RunOf(p), cache));
}

TEST(InlineRun, ACompileIsNot) {
  ProgramCache cache(4);
  v1::Request r;
  *r.mutable_compile()->mutable_program() = AddProgram(4);
  EXPECT_FALSE(CheapEnoughForIoThread(r, cache));
}

TEST(InlineRun, ARunByIdIsJudgedByItsCompiledProgram) {
  ProgramCache cache(4);
  const uint64_t small = Compile(cache, AddProgram(4));
  const uint64_t large = Compile(cache, AddProgram(kInlineMaxElements + 1));
  EXPECT_TRUE(CheapEnoughForIoThread(RunById(small), cache));
  EXPECT_FALSE(CheapEnoughForIoThread(RunById(large), cache));
  EXPECT_FALSE(CheapEnoughForIoThread(RunById(large + 100), cache));  // unknown id
  v1::Request faulty = RunById(small);
  faulty.mutable_run()->mutable_fault()->set_kind(v1::FaultRequest::SLOW);
  EXPECT_FALSE(CheapEnoughForIoThread(faulty, cache));
}

}  // namespace
}  // namespace pelemay
