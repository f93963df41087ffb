// Bad programs: each violation gets its typed error and names the instruction.
#include <gtest/gtest.h>

#include "executor/validate/validator.h"
#include "tests/program_builder.h"

namespace pelemay {
namespace {

using testing::ProgramBuilder;

Status Check(const v1::Program& p, Limits limits = {}) {
  auto r = Validate(p, limits);
  return r.ok() ? Status::Ok() : r.status();
}

void ExpectError(const v1::Program& p, ErrorCode code, std::optional<int64_t> instruction, const std::string& fragment,
                 Limits limits = {}) {
  const Status st = Check(p, limits);
  ASSERT_FALSE(st.ok()) << "program was accepted";
  EXPECT_EQ(st.code(), code) << st.ToString();
  EXPECT_EQ(st.instruction(), instruction) << st.ToString();
  EXPECT_NE(st.message().find(fragment), std::string::npos) << st.ToString();
}

TEST(Validator, AcceptsAWellFormedProgram) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {2, 3});
  auto y = b.Input(DType::kF32, {2, 3});
  b.Add("add", {x, y}, DType::kF32, {2, 3});
  b.Output(b.last());
  auto r = Validate(b.program(), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->peak_bytes, 24);
}

// An empty tensor's other axes are still walked by kernels (batch loops,
// strides, index rows): their product is bounded, for inputs and results.
TEST(Validator, EmptyTensorsWithHugeOtherDimensionsAreRejected) {
  {
    ProgramBuilder b;
    b.Output(b.Input(DType::kF32, {int64_t{1} << 62, 0}));
    ExpectError(b.program(), ErrorCode::kInvalidArgument, std::nullopt, "is empty, but its non-zero dimensions");
  }
  {
    ProgramBuilder b;
    auto x = b.Input(DType::kF32, {0, 2});
    auto& in = b.Add("broadcast", {x}, DType::kF32, {0, int64_t{1} << 40, 2});
    in.mutable_attrs()->add_axes(0);
    in.mutable_attrs()->add_axes(2);
    b.Output(b.last());
    ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "is empty, but its non-zero dimensions");
  }
  {
    ProgramBuilder b;  // INT64_MAX dims beside a zero: no overflow anywhere
    b.Output(b.Input(DType::kF32, {0, INT64_MAX, INT64_MAX}));
    ExpectError(b.program(), ErrorCode::kInvalidArgument, std::nullopt, "is empty");
  }
  {
    ProgramBuilder b;  // at the bound: fine
    auto x = b.Input(DType::kF32, {0, kMaxEmptyExtent});
    b.Add("negate", {x}, DType::kF32, {0, kMaxEmptyExtent});
    b.Output(b.last());
    EXPECT_TRUE(Check(b.program()).ok()) << Check(b.program()).ToString();
  }
}

TEST(Validator, UnknownOpIsUnsupported) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {2});
  b.Add("frobnicate", {x}, DType::kF32, {2});
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kUnsupported, 0, "unknown op 'frobnicate'");
}

TEST(Validator, WrongArity) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {2});
  b.Add("add", {x}, DType::kF32, {2});
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "takes 2 operand(s), got 1");
}

TEST(Validator, OperandUsedBeforeDefinition) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {2});
  b.Add("negate", {x}, DType::kF32, {2});
  b.Add("add", {x, 3}, DType::kF32, {2});  // %3 is this instruction itself
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 1, "not defined before");
}

TEST(Validator, DTypeMismatchBetweenOperands) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {2});
  auto y = b.Input(DType::kS32, {2});
  b.Add("add", {x, y}, DType::kF32, {2});
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "differ in dtype");
}

TEST(Validator, ShapeMismatchBetweenOperands) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {2});
  auto y = b.Input(DType::kF32, {3});
  b.Add("add", {x, y}, DType::kF32, {2});
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "differ in shape");
}

TEST(Validator, DeclaredResultMustMatch) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {2});
  b.Add("exp", {x}, DType::kF64, {2});
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "produces f32[2] but the instruction declares f64[2]");
}

TEST(Validator, DTypeNotAcceptedByOpIsUnsupported) {
  ProgramBuilder b;
  auto x = b.Input(DType::kS32, {2});
  b.Add("exp", {x}, DType::kS32, {2});
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kUnsupported, 0, "does not accept s32");
  ProgramBuilder c;
  auto z = c.Input(DType::kC64, {2});
  c.Add("max", {z, z}, DType::kC64, {2});
  c.Output(c.last());
  ExpectError(c.program(), ErrorCode::kUnsupported, 0, "does not accept c64");
}

TEST(Validator, NegativeAndOverflowingDimensions) {
  ProgramBuilder b;
  b.Input(DType::kF32, {2, -1});
  b.Output(0);
  ExpectError(b.program(), ErrorCode::kInvalidArgument, std::nullopt, "negative dimension");
  ProgramBuilder c;
  c.Input(DType::kF64, {int64_t{1} << 40, int64_t{1} << 30});  // 2^70 elements
  c.Output(0);
  ExpectError(c.program(), ErrorCode::kInvalidArgument, std::nullopt, "overflows");
  ProgramBuilder d;
  d.Input(DType::kF64, {int64_t{1} << 61});  // elements fit, bytes do not
  d.Output(0);
  ExpectError(d.program(), ErrorCode::kInvalidArgument, std::nullopt, "overflows");
}

TEST(Validator, RankLimit) {
  ProgramBuilder b;
  b.Input(DType::kU8, std::vector<int64_t>(kMaxRank + 1, 1));
  b.Output(0);
  ExpectError(b.program(), ErrorCode::kInvalidArgument, std::nullopt, "rank");
}

TEST(Validator, UnknownDType) {
  v1::Program p;
  auto* in = p.add_inputs();
  in->set_dtype(static_cast<v1::DType>(99));
  p.add_outputs(0);
  ExpectError(p, ErrorCode::kInvalidArgument, std::nullopt, "unknown dtype 99");
}

TEST(Validator, ReductionAxesOutOfRangeOrRepeated) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {2, 3});
  auto& s = b.Add("sum", {x}, DType::kF32, {2});
  s.mutable_attrs()->add_axes(2);
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "axis 2 is out of range");
  s.mutable_attrs()->set_axes(0, 1);
  s.mutable_attrs()->add_axes(1);
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "repeated");
}

TEST(Validator, TransposeNeedsAPermutation) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {2, 3});
  auto& t = b.Add("transpose", {x}, DType::kF32, {3, 2});
  t.mutable_attrs()->add_permutation(1);
  t.mutable_attrs()->add_permutation(1);
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "repeated");
}

TEST(Validator, SliceOutOfBounds) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {10});
  auto& s = b.Add("slice", {x}, DType::kF32, {4});
  s.mutable_attrs()->add_start(4);
  s.mutable_attrs()->add_strides(2);  // 4, 6, 8, 10 -> past the end
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "runs past axis 0");
  s.mutable_attrs()->set_strides(0, 0);
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "stride 0");
  s.mutable_attrs()->set_strides(0, std::numeric_limits<int64_t>::max());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "runs past");  // overflow caught
}

TEST(Validator, BroadcastRules) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {3});
  auto& br = b.Add("broadcast", {x}, DType::kF32, {2, 4});
  br.mutable_attrs()->add_axes(1);
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "cannot broadcast dimension 0 of size 3");
}

TEST(Validator, PadCropsTooMuch) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {3});
  auto v = b.Input(DType::kF32, {});
  auto& p = b.Add("pad", {x, v}, DType::kF32, {0});
  auto* axis = p.mutable_attrs()->add_padding();
  axis->set_lo(-2);
  axis->set_hi(-2);
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "crops more");
}

TEST(Validator, DotContractionSizesMustMatch) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {2, 3});
  auto y = b.Input(DType::kF32, {4, 5});
  auto& d = b.Add("dot", {x, y}, DType::kF32, {2, 5});
  d.mutable_attrs()->add_lhs_contract(1);
  d.mutable_attrs()->add_rhs_contract(0);
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "contracts lhs axis 1 (size 3) with rhs axis 0 (size 4)");
}

TEST(Validator, AttributeTheOpDoesNotTake) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {2});
  auto& a = b.Add("exp", {x}, DType::kF32, {2});
  a.mutable_attrs()->add_axes(0);
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "does not take the attribute 'axes'");
}

TEST(Validator, ConstantPayloadMustMatch) {
  ProgramBuilder b;
  auto& c = b.Add("constant", {}, DType::kF32, {2});
  auto* v = c.mutable_attrs()->mutable_value();
  v->set_dtype(v1::DTYPE_F32);
  v->add_shape(2);
  v->set_data(std::string(7, '\0'));
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "needs 8 bytes of data, got 7");
}

TEST(Validator, OverTheMemoryBudget) {
  ProgramBuilder b;
  auto x = b.Input(DType::kF32, {1024});
  b.Add("broadcast", {x}, DType::kF32, {1024, 1024}).mutable_attrs()->add_axes(1);
  b.Output(b.last());
  Limits small;
  small.memory_budget_bytes = 1 << 20;  // the result alone needs 4 MiB
  ExpectError(b.program(), ErrorCode::kResourceExhausted, 0, "memory budget", small);
}

TEST(Validator, PeakCountsLivenessNotTheSum) {
  // A chain of 100 negations of a 1 MiB tensor keeps at most two alive.
  ProgramBuilder b;
  uint32_t v = b.Input(DType::kF32, {256 * 1024});
  for (int i = 0; i < 100; ++i) {
    b.Add("negate", {v}, DType::kF32, {256 * 1024});
    v = b.last();
  }
  b.Output(v);
  Limits limits;
  limits.memory_budget_bytes = 3 << 20;
  auto r = Validate(b.program(), limits);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->peak_bytes, 2 << 20);
}

TEST(Validator, LongProgramsAreBounded) {
  ProgramBuilder b;
  uint32_t v = b.Input(DType::kF32, {1});
  for (int i = 0; i < 101; ++i) {
    b.Add("negate", {v}, DType::kF32, {1});
    v = b.last();
  }
  b.Output(v);
  Limits limits;
  limits.max_instructions = 100;
  ExpectError(b.program(), ErrorCode::kResourceExhausted, std::nullopt, "instructions", limits);
}

TEST(Validator, OutputsMustExist) {
  ProgramBuilder b;
  b.Input(DType::kF32, {1});
  ExpectError(b.program(), ErrorCode::kInvalidArgument, std::nullopt, "no outputs");
  b.Output(5);
  ExpectError(b.program(), ErrorCode::kInvalidArgument, std::nullopt, "output %5");
}

TEST(Validator, InputsAreCheckedAgainstTheProgram) {
  ProgramBuilder b;
  b.Input(DType::kF32, {2});
  b.Output(0);
  auto r = Validate(b.program(), {});
  ASSERT_TRUE(r.ok());
  std::vector<std::byte> bytes(8);
  EXPECT_TRUE(ValidateInputs(*r, {ConstTensorView{DType::kF32, {2}, bytes}}).ok());
  EXPECT_EQ(ValidateInputs(*r, {}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ValidateInputs(*r, {ConstTensorView{DType::kS32, {2}, bytes}}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ValidateInputs(*r, {ConstTensorView{DType::kF32, {2}, std::span(bytes).first(7)}}).code(),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace pelemay

namespace pelemay {
namespace {

TEST(Validator, PadValuesNearOverflowAreRejected) {
  testing::ProgramBuilder b;
  auto x = b.Input(DType::kF32, {1});
  auto v = b.Input(DType::kF32, {});
  auto& p = b.Add("pad", {x, v}, DType::kF32, {1});
  auto* axis = p.mutable_attrs()->add_padding();
  axis->set_lo(std::numeric_limits<int64_t>::min());
  axis->set_hi(std::numeric_limits<int64_t>::max());
  b.Output(b.last());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "out of range");
  axis->set_lo(0);
  axis->set_hi(0);
  axis->set_interior(std::numeric_limits<int64_t>::max());
  ExpectError(b.program(), ErrorCode::kInvalidArgument, 0, "out of range");
}

}  // namespace
}  // namespace pelemay
