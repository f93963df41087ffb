// docs/ops.md is rendered from the op catalogue; this test fails when the two
// disagree. To regenerate after changing executor/ops/op_catalogue.inc:
//   PELEMAY_UPDATE_DOCS=1 build/tests/ops_doc_test
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "executor/kernels/elementwise.h"
#include "executor/ops/op_catalogue.h"

namespace pelemay {
namespace {

std::string FamilyName(OpFamily f) {
  switch (f) {
    case OpFamily::kBinary: return "elementwise binary";
    case OpFamily::kCompare: return "comparison / logical (u8 result)";
    case OpFamily::kUnary: return "elementwise unary";
    case OpFamily::kReduce: return "reduction";
    case OpFamily::kArgReduce: return "arg-reduction";
    case OpFamily::kConvert: return "conversion";
    case OpFamily::kLinAlg: return "linear algebra";
    case OpFamily::kWindowReduce: return "window reduction";
    case OpFamily::kWindowScatter: return "window scatter";
    case OpFamily::kConv: return "convolution";
    case OpFamily::kSort: return "sort along an axis";
    case OpFamily::kScan: return "cumulative scan";
    case OpFamily::kComplexPart: return "complex part";
    case OpFamily::kFft: return "Fourier transform";
    default: return "structural";
  }
}

std::string Render() {
  std::ostringstream os;
  os << "# Ops\n\n"
        "<!-- Generated from executor/ops/op_catalogue.inc by tests/ops_doc_test.cc "
        "(PELEMAY_UPDATE_DOCS=1 build/tests/ops_doc_test); do not edit by hand. -->\n\n"
        "Every op the executor runs, as listed in the op catalogue. Operands of elementwise ops must\n"
        "already share one dtype and one shape: type promotion and broadcasting are explicit\n"
        "(`as_type`, `broadcast`), as the Elixir side emits them. Each op accepts the dtypes of its\n"
        "class: *all* = every Nx type (s8..s64, u8..u64, f16, bf16, f32, f64, c64, c128); *integer and\n"
        "float* = all but complex; *float* = f16, bf16, f32, f64; *complex* = c64, c128. Every op has a\n"
        "scalar reference path for every accepted dtype; the SIMD column names the dtypes with Highway\n"
        "kernels.\n\n"
        "| op | kind | operands | dtypes | attributes | SIMD | semantics |\n"
        "|---|---|---|---|---|---|---|\n";
  for (const auto& op : AllOps()) {
    std::string simd = "-";
    // Elementwise kernels say themselves which ops they vectorise.
    if (kernels::HasSimdKernel(op.code, DType::kF32)) simd = "f16, bf16, f32, f64";
    if (op.code == OpCode::sum) simd = "f32, f64 (rows)";
    if (op.code == OpCode::dot) simd = "f32, f64";
    if (op.code == OpCode::conv) simd = "f16, bf16, f32, f64 (the GEMM)";
    os << "| `" << op.name << "` | " << FamilyName(op.family) << " | "
       << (op.arity < 0 ? std::string("1+") : std::to_string(op.arity)) << " | " << DTypeClassName(op.dtypes) << " | "
       << (op.attributes.empty() ? std::string("-") : std::string(op.attributes)) << " | " << simd << " | "
       << op.summary << " |\n";
  }
  return os.str();
}

TEST(OpsDoc, MatchesTheCatalogue) {
  const std::string path = std::string(PELEMAY_SOURCE_DIR) + "/docs/ops.md";
  const std::string want = Render();
  if (std::getenv("PELEMAY_UPDATE_DOCS") != nullptr) {
    std::ofstream(path) << want;
    GTEST_SKIP() << "rewrote " << path;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << path << " is missing; run PELEMAY_UPDATE_DOCS=1 " << ::testing::internal::GetArgvs()[0];
  std::stringstream have;
  have << in.rdbuf();
  // The catalogue section is the generated part; the file may go on after it.
  EXPECT_EQ(have.str().substr(0, want.size()), want)
      << "docs/ops.md is out of date with executor/ops/op_catalogue.inc; run PELEMAY_UPDATE_DOCS=1 "
      << ::testing::internal::GetArgvs()[0];
}

}  // namespace
}  // namespace pelemay
