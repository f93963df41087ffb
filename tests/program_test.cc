// Programs end to end through Validate + Run: every structural op with
// values checked by hand, dot in its general forms, reductions and argmax
// inside programs, a two-layer MLP against values computed here, memory
// accounting (intermediates are freed, nothing leaks), and outputs that are
// inputs or repeated.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "executor/core/buffer.h"
#include "executor/core/dtype.h"
#include "executor/core/half.h"
#include "executor/core/thread_pool.h"
#include "executor/interp/interpreter.h"
#include "executor/validate/validator.h"
#include "pelemay.pb.h"

namespace pelemay {
namespace {

// ---------------------------------------------------------------------------
// Small builders.

class Builder {
 public:
  // Inputs are values 0..inputs-1, so all of them come before any instruction.
  uint32_t Input(DType dtype, Shape shape) {
    EXPECT_EQ(program_.instructions_size(), 0) << "declare inputs before instructions";
    SetType(program_.add_inputs(), dtype, shape);
    return next_++;
  }
  // Adds an instruction; `attrs` fills its attributes.
  uint32_t Op(const std::string& op, std::vector<uint32_t> operands, DType dtype, Shape shape,
              const std::function<void(v1::Attributes&)>& attrs = {}) {
    auto* in = program_.add_instructions();
    in->set_op(op);
    for (uint32_t o : operands) in->add_operands(o);
    SetType(in->mutable_result(), dtype, shape);
    if (attrs) attrs(*in->mutable_attrs());
    return next_++;
  }
  void Output(uint32_t v) { program_.add_outputs(v); }
  const v1::Program& program() const { return program_; }

 private:
  static void SetType(v1::TensorType* t, DType dtype, const Shape& shape) {
    t->set_dtype(static_cast<v1::DType>(dtype));
    for (int64_t d : shape) t->add_shape(d);
  }
  v1::Program program_;
  uint32_t next_ = 0;
};

void SetRepeated(google::protobuf::RepeatedField<int64_t>* f, const std::vector<int64_t>& v) {
  f->Clear();
  for (int64_t x : v) f->Add(x);
}

// A host tensor: the bytes the caller owns, as a run request carries them.
struct Host {
  DType dtype;
  Shape shape;
  std::vector<std::byte> bytes;
  ConstTensorView view() const { return {dtype, shape, bytes}; }
};

template <class T>
Host MakeHost(Shape shape, const std::vector<T>& values) {
  Host h{DTypeOf<T>::value, std::move(shape), std::vector<std::byte>(values.size() * sizeof(T))};
  if (!values.empty()) std::memcpy(h.bytes.data(), values.data(), h.bytes.size());  // memcpy(nullptr, ..., 0) is UB
  return h;
}

template <class T>
std::vector<T> Values(const Output& o) {
  std::vector<T> v(o.bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), o.bytes.data(), v.size() * sizeof(T));
  return v;
}

struct Ran {
  CheckedProgram checked;
  std::vector<Output> outputs;
};

// Validates and runs, failing the test on any error.
Ran ValidateAndRun(const Builder& b, const std::vector<Host>& inputs, ThreadPool* pool = nullptr) {
  Ran r;
  auto checked = Validate(b.program(), Limits{});
  EXPECT_TRUE(checked.ok()) << checked.status().ToString();
  if (!checked.ok()) return r;
  r.checked = std::move(*checked);
  std::vector<ConstTensorView> views;
  for (const Host& h : inputs) views.push_back(h.view());
  const Status in_ok = ValidateInputs(r.checked, views);
  EXPECT_TRUE(in_ok.ok()) << in_ok.ToString();
  if (!in_ok.ok()) return r;
  RunContext ctx;
  ctx.pool = pool;
  auto out = Run(r.checked, views, ctx);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  if (out.ok()) r.outputs = std::move(*out);
  return r;
}

template <class T>
std::vector<T> Iota(size_t n, T start = T(0)) {
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<T>(start + static_cast<T>(i));
  return v;
}

// ---------------------------------------------------------------------------
// Memory accounting first, while the process-wide peak is still low.

TEST(ProgramMemory, IntermediatesAreFreedAndNothingLeaks) {
  // 8 chained negates of a 16 MiB tensor: without freeing, 128 MiB would be
  // live at the end; with it, at most an operand and a result at a time.
  constexpr int64_t n = 4 << 20;
  Builder b;
  uint32_t v = b.Input(DType::kF32, {n});
  for (int i = 0; i < 8; ++i) v = b.Op("negate", {v}, DType::kF32, {n});
  b.Output(v);
  std::vector<float> x(n, 1.5f);
  const Host in = MakeHost<float>({n}, x);

  auto checked = Validate(b.program(), Limits{});
  ASSERT_TRUE(checked.ok()) << checked.status().ToString();
  EXPECT_EQ(checked->peak_bytes, 2 * n * 4);
  const int64_t live_before = MemoryAccount::Global().live();
  {
    auto out = pelemay::Run(*checked, {in.view()}, RunContext{});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_EQ(out->size(), 1u);
    // Only the output is still held.
    EXPECT_EQ(MemoryAccount::Global().live() - live_before, n * 4);
    const auto got = Values<float>((*out)[0]);
    EXPECT_EQ(got.front(), 1.5f);
    EXPECT_EQ(got.back(), 1.5f);
    // The high-water mark of this run stayed within the validator's peak.
    EXPECT_LE(MemoryAccount::Global().peak() - live_before, checked->peak_bytes);
  }
  EXPECT_EQ(MemoryAccount::Global().live(), live_before);
}

TEST(ProgramMemory, EveryKindOfProgramReturnsToBaseline) {
  // A program mixing dead values, a dot (with its packing scratch), a
  // reduction and duplicated outputs.
  Builder b;
  const uint32_t x = b.Input(DType::kF32, {8, 16});
  const uint32_t w = b.Input(DType::kF32, {16, 4});
  b.Op("negate", {x}, DType::kF32, {8, 16});  // dead: never read, not an output
  const uint32_t d = b.Op("dot", {x, w}, DType::kF32, {8, 4}, [](v1::Attributes& a) {
    a.add_lhs_contract(1);
    a.add_rhs_contract(0);
  });
  const uint32_t s = b.Op("sum", {d}, DType::kF32, {8}, [](v1::Attributes& a) { a.add_axes(1); });
  b.Output(s);
  b.Output(s);
  b.Output(d);
  const Host hx = MakeHost<float>({8, 16}, std::vector<float>(128, 1.0f));
  const Host hw = MakeHost<float>({16, 4}, std::vector<float>(64, 0.5f));
  const int64_t live_before = MemoryAccount::Global().live();
  {
    Ran r = ValidateAndRun(b, {hx, hw});
    ASSERT_EQ(r.outputs.size(), 3u);
    EXPECT_EQ(Values<float>(r.outputs[0]), std::vector<float>(8, 32.0f));
    EXPECT_EQ(Values<float>(r.outputs[1]), std::vector<float>(8, 32.0f));
    EXPECT_EQ(Values<float>(r.outputs[2]), std::vector<float>(32, 8.0f));
    // Held now: the checked program (no constants) and three owned outputs.
    EXPECT_EQ(MemoryAccount::Global().live() - live_before, 8 * 4 * 2 + 8 * 4 * 4);
  }
  EXPECT_EQ(MemoryAccount::Global().live(), live_before);
}

// ---------------------------------------------------------------------------
// Structural ops.

TEST(ProgramOps, Reshape) {
  Builder b;
  const uint32_t x = b.Input(DType::kS16, {2, 3});
  const uint32_t one = b.Input(DType::kF64, {1, 1});
  b.Output(b.Op("reshape", {x}, DType::kS16, {3, 2}));
  b.Output(b.Op("reshape", {x}, DType::kS16, {6}));
  b.Output(b.Op("reshape", {one}, DType::kF64, {}));
  const std::vector<int16_t> v = {1, -2, 3, -4, 5, -6};
  Ran r = ValidateAndRun(b, {MakeHost<int16_t>({2, 3}, v), MakeHost<double>({1, 1}, {-0.0})});
  ASSERT_EQ(r.outputs.size(), 3u);
  EXPECT_EQ(r.outputs[0].shape, (Shape{3, 2}));
  EXPECT_EQ(Values<int16_t>(r.outputs[0]), v);
  EXPECT_EQ(Values<int16_t>(r.outputs[1]), v);
  EXPECT_EQ(r.outputs[2].shape, Shape{});
  EXPECT_TRUE(std::signbit(Values<double>(r.outputs[2])[0]));  // bits preserved
}

TEST(ProgramOps, Transpose3D) {
  const Shape in_shape = {2, 3, 4};
  const auto v = Iota<int32_t>(24);
  for (const std::vector<int64_t>& perm : {std::vector<int64_t>{2, 0, 1}, {1, 2, 0}, {0, 2, 1}, {2, 1, 0}, {0, 1, 2}}) {
    Shape out_shape;
    for (int64_t p : perm) out_shape.push_back(in_shape[p]);
    Builder b;
    const uint32_t x = b.Input(DType::kS32, in_shape);
    b.Output(b.Op("transpose", {x}, DType::kS32, out_shape,
                  [&](v1::Attributes& a) { SetRepeated(a.mutable_permutation(), perm); }));
    Ran r = ValidateAndRun(b, {MakeHost<int32_t>(in_shape, v)});
    ASSERT_EQ(r.outputs.size(), 1u);
    const auto got = Values<int32_t>(r.outputs[0]);
    // out[o0][o1][o2] = in[idx] with idx[perm[k]] = o_k.
    int64_t flat = 0;
    for (int64_t o0 = 0; o0 < out_shape[0]; ++o0)
      for (int64_t o1 = 0; o1 < out_shape[1]; ++o1)
        for (int64_t o2 = 0; o2 < out_shape[2]; ++o2, ++flat) {
          int64_t idx[3];
          idx[perm[0]] = o0;
          idx[perm[1]] = o1;
          idx[perm[2]] = o2;
          EXPECT_EQ(got[flat], v[(idx[0] * 3 + idx[1]) * 4 + idx[2]])
              << "perm " << perm[0] << perm[1] << perm[2] << " at " << o0 << "," << o1 << "," << o2;
        }
  }
}

TEST(ProgramOps, Transpose2DOfHalves) {
  Builder b;
  const uint32_t x = b.Input(DType::kBF16, {2, 3});
  b.Output(b.Op("transpose", {x}, DType::kBF16, {3, 2}, [](v1::Attributes& a) {
    a.add_permutation(1);
    a.add_permutation(0);
  }));
  std::vector<uint16_t> bits = {1, 2, 3, 4, 5, 6};
  Host h{DType::kBF16, {2, 3}, std::vector<std::byte>(12)};
  std::memcpy(h.bytes.data(), bits.data(), 12);
  Ran r = ValidateAndRun(b, {h});
  EXPECT_EQ(Values<uint16_t>(r.outputs.at(0)), (std::vector<uint16_t>{1, 4, 2, 5, 3, 6}));
}

TEST(ProgramOps, Broadcast) {
  Builder b;
  const uint32_t row = b.Input(DType::kF32, {3});
  const uint32_t col = b.Input(DType::kF32, {3, 1});
  const uint32_t scalar = b.Input(DType::kF32, {});
  const uint32_t m = b.Input(DType::kS8, {2, 1});
  // [3] -> [2, 3]: the row repeats.
  b.Output(b.Op("broadcast", {row}, DType::kF32, {2, 3}, [](v1::Attributes& a) { a.add_axes(1); }));
  // [3] -> [3, 2] along axis 0: the column repeats.
  b.Output(b.Op("broadcast", {row}, DType::kF32, {3, 2}, [](v1::Attributes& a) { a.add_axes(0); }));
  // [3, 1] -> [3, 4]: the size-1 dimension stretches.
  b.Output(b.Op("broadcast", {col}, DType::kF32, {3, 4}, [](v1::Attributes& a) {
    a.add_axes(0);
    a.add_axes(1);
  }));
  // [] -> [2, 2].
  b.Output(b.Op("broadcast", {scalar}, DType::kF32, {2, 2}));
  // [2, 1] -> [2, 5, 3]: a new middle axis and a stretched last one.
  b.Output(b.Op("broadcast", {m}, DType::kS8, {2, 5, 3}, [](v1::Attributes& a) {
    a.add_axes(0);
    a.add_axes(2);
  }));
  Ran r = ValidateAndRun(b, {MakeHost<float>({3}, {1, 2, 3}), MakeHost<float>({3, 1}, {4, 5, 6}),
                             MakeHost<float>({}, {7}), MakeHost<int8_t>({2, 1}, {-1, 9})});
  ASSERT_EQ(r.outputs.size(), 5u);
  EXPECT_EQ(Values<float>(r.outputs[0]), (std::vector<float>{1, 2, 3, 1, 2, 3}));
  EXPECT_EQ(Values<float>(r.outputs[1]), (std::vector<float>{1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(Values<float>(r.outputs[2]), (std::vector<float>{4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6}));
  EXPECT_EQ(Values<float>(r.outputs[3]), (std::vector<float>{7, 7, 7, 7}));
  std::vector<int8_t> want(30);
  for (int i = 0; i < 30; ++i) want[i] = i < 15 ? -1 : 9;
  EXPECT_EQ(Values<int8_t>(r.outputs[4]), want);
}

TEST(ProgramOps, SliceWithStrides) {
  Builder b;
  const uint32_t x = b.Input(DType::kS64, {5, 6});
  // Rows 1, 3; columns 0, 3.
  b.Output(b.Op("slice", {x}, DType::kS64, {2, 2}, [](v1::Attributes& a) {
    SetRepeated(a.mutable_start(), {1, 0});
    SetRepeated(a.mutable_strides(), {2, 3});
  }));
  // Strides omitted = 1: a contiguous block.
  b.Output(b.Op("slice", {x}, DType::kS64, {2, 3}, [](v1::Attributes& a) { SetRepeated(a.mutable_start(), {3, 2}); }));
  // Stride larger than the length: one element; and an empty slice.
  b.Output(b.Op("slice", {x}, DType::kS64, {1, 2}, [](v1::Attributes& a) {
    SetRepeated(a.mutable_start(), {4, 1});
    SetRepeated(a.mutable_strides(), {7, 4});
  }));
  b.Output(b.Op("slice", {x}, DType::kS64, {0, 6}, [](v1::Attributes& a) { SetRepeated(a.mutable_start(), {5, 0}); }));
  Ran r = ValidateAndRun(b, {MakeHost<int64_t>({5, 6}, Iota<int64_t>(30))});
  ASSERT_EQ(r.outputs.size(), 4u);
  EXPECT_EQ(Values<int64_t>(r.outputs[0]), (std::vector<int64_t>{6, 9, 18, 21}));
  EXPECT_EQ(Values<int64_t>(r.outputs[1]), (std::vector<int64_t>{20, 21, 22, 26, 27, 28}));
  EXPECT_EQ(Values<int64_t>(r.outputs[2]), (std::vector<int64_t>{25, 29}));
  EXPECT_TRUE(r.outputs[3].bytes.empty());
  EXPECT_EQ(r.outputs[3].shape, (Shape{0, 6}));
}

TEST(ProgramOps, ConcatenateThreeOperandsOnTheMiddleAxis) {
  Builder b;
  const uint32_t p = b.Input(DType::kU16, {2, 1, 3});
  const uint32_t q = b.Input(DType::kU16, {2, 0, 3});  // zero-size operand
  const uint32_t s = b.Input(DType::kU16, {2, 2, 3});
  b.Output(b.Op("concatenate", {p, q, s}, DType::kU16, {2, 3, 3}, [](v1::Attributes& a) { a.set_axis(1); }));
  b.Output(b.Op("concatenate", {s, p}, DType::kU16, {2, 3, 3}, [](v1::Attributes& a) { a.set_axis(1); }));
  b.Output(b.Op("concatenate", {p, p}, DType::kU16, {4, 1, 3}, [](v1::Attributes& a) { a.set_axis(0); }));
  const auto pv = Iota<uint16_t>(6, 100);   // p[i][0][k] = 100 + 3i + k
  const auto sv = Iota<uint16_t>(12, 200);  // s[i][j][k] = 200 + 6i + 3j + k
  Ran r = ValidateAndRun(
      b, {MakeHost<uint16_t>({2, 1, 3}, pv), MakeHost<uint16_t>({2, 0, 3}, {}), MakeHost<uint16_t>({2, 2, 3}, sv)});
  ASSERT_EQ(r.outputs.size(), 3u);
  EXPECT_EQ(Values<uint16_t>(r.outputs[0]), (std::vector<uint16_t>{100, 101, 102, 200, 201, 202, 203, 204, 205, 103,
                                                                   104, 105, 206, 207, 208, 209, 210, 211}));
  EXPECT_EQ(Values<uint16_t>(r.outputs[1]), (std::vector<uint16_t>{200, 201, 202, 203, 204, 205, 100, 101, 102, 206,
                                                                   207, 208, 209, 210, 211, 103, 104, 105}));
  EXPECT_EQ(Values<uint16_t>(r.outputs[2]),
            (std::vector<uint16_t>{100, 101, 102, 103, 104, 105, 100, 101, 102, 103, 104, 105}));
}

v1::PadAxis* AddPad(v1::Attributes& a, int64_t lo, int64_t hi, int64_t interior) {
  auto* p = a.add_padding();
  p->set_lo(lo);
  p->set_hi(hi);
  p->set_interior(interior);
  return p;
}

TEST(ProgramOps, PadWithNegativeEdgesAndInterior) {
  Builder b;
  const uint32_t x = b.Input(DType::kF32, {3});
  const uint32_t m = b.Input(DType::kF32, {2, 3});
  const uint32_t e = b.Input(DType::kF32, {0});
  const uint32_t zero = b.Input(DType::kF32, {});
  // [1 2 3], interior 1 -> [1 0 2 0 3]; lo -1 crops the 1; hi 2 appends two.
  b.Output(b.Op("pad", {x, zero}, DType::kF32, {6}, [](v1::Attributes& a) { AddPad(a, -1, 2, 1); }));
  // interior 2 -> [1 0 0 2 0 0 3]; lo -3 and hi -1 leave [2 0 0].
  b.Output(b.Op("pad", {x, zero}, DType::kF32, {3}, [](v1::Attributes& a) { AddPad(a, -3, -1, 2); }));
  // 2-D: a row on top; columns interior-padded, the last one cropped.
  b.Output(b.Op("pad", {m, zero}, DType::kF32, {3, 4}, [](v1::Attributes& a) {
    AddPad(a, 1, 0, 0);
    AddPad(a, 0, -1, 1);
  }));
  // Crops everything; pads an empty operand.
  b.Output(b.Op("pad", {x, zero}, DType::kF32, {0}, [](v1::Attributes& a) { AddPad(a, -2, -1, 0); }));
  b.Output(b.Op("pad", {e, zero}, DType::kF32, {3}, [](v1::Attributes& a) { AddPad(a, 2, 1, 5); }));
  // Crops past the first element into the padding: [1 0 0 2 0 0 3] from index 4.
  b.Output(b.Op("pad", {x, zero}, DType::kF32, {3}, [](v1::Attributes& a) { AddPad(a, -4, 0, 2); }));
  Ran r = ValidateAndRun(b, {MakeHost<float>({3}, {1, 2, 3}), MakeHost<float>({2, 3}, {1, 2, 3, 4, 5, 6}),
                             MakeHost<float>({0}, {}), MakeHost<float>({}, {-9})});
  ASSERT_EQ(r.outputs.size(), 6u);
  const float p = -9;
  EXPECT_EQ(Values<float>(r.outputs[0]), (std::vector<float>{p, 2, p, 3, p, p}));
  EXPECT_EQ(Values<float>(r.outputs[1]), (std::vector<float>{2, p, p}));
  EXPECT_EQ(Values<float>(r.outputs[2]), (std::vector<float>{p, p, p, p, 1, p, 2, p, 4, p, 5, p}));
  EXPECT_TRUE(r.outputs[3].bytes.empty());
  EXPECT_EQ(Values<float>(r.outputs[4]), (std::vector<float>{p, p, p}));
  EXPECT_EQ(Values<float>(r.outputs[5]), (std::vector<float>{p, p, 3}));
}

TEST(ProgramOps, PadMatchesBruteForce) {
  // Random paddings of a [3, 4] s32 tensor against a direct definition.
  std::mt19937 rng(3);
  const Shape shape = {3, 4};
  const auto v = Iota<int32_t>(12, 1);
  for (int trial = 0; trial < 60; ++trial) {
    int64_t lo[2], hi[2], in[2], out[2];
    bool ok = true;
    for (int a = 0; a < 2; ++a) {
      in[a] = rng() % 3;
      lo[a] = static_cast<int64_t>(rng() % 9) - 5;
      hi[a] = static_cast<int64_t>(rng() % 9) - 5;
      out[a] = shape[a] + (shape[a] - 1) * in[a] + lo[a] + hi[a];
      ok &= out[a] >= 0;
    }
    if (!ok) continue;
    Builder b;
    const uint32_t x = b.Input(DType::kS32, shape);
    const uint32_t pv = b.Input(DType::kS32, {});
    b.Output(b.Op("pad", {x, pv}, DType::kS32, {out[0], out[1]}, [&](v1::Attributes& a) {
      AddPad(a, lo[0], hi[0], in[0]);
      AddPad(a, lo[1], hi[1], in[1]);
    }));
    Ran r = ValidateAndRun(b, {MakeHost<int32_t>(shape, v), MakeHost<int32_t>({}, {-1})});
    ASSERT_EQ(r.outputs.size(), 1u);
    const auto got = Values<int32_t>(r.outputs[0]);
    std::vector<int32_t> want(static_cast<size_t>(out[0] * out[1]), -1);
    for (int64_t i = 0; i < shape[0]; ++i)
      for (int64_t j = 0; j < shape[1]; ++j) {
        const int64_t oi = lo[0] + i * (in[0] + 1), oj = lo[1] + j * (in[1] + 1);
        if (oi >= 0 && oi < out[0] && oj >= 0 && oj < out[1]) want[oi * out[1] + oj] = v[i * 4 + j];
      }
    EXPECT_EQ(got, want) << "lo " << lo[0] << "," << lo[1] << " hi " << hi[0] << "," << hi[1] << " interior " << in[0]
                         << "," << in[1];
  }
}

TEST(ProgramOps, Select) {
  Builder b;
  const uint32_t pred = b.Input(DType::kU8, {5});
  const uint32_t t = b.Input(DType::kC64, {5});
  const uint32_t f = b.Input(DType::kC64, {5});
  const uint32_t ti = b.Input(DType::kS8, {5});
  const uint32_t fi = b.Input(DType::kS8, {5});
  b.Output(b.Op("select", {pred, t, f}, DType::kC64, {5}));
  b.Output(b.Op("select", {pred, ti, fi}, DType::kS8, {5}));
  std::vector<c64> tv, fv;
  for (int i = 0; i < 5; ++i) tv.emplace_back(i, 1), fv.emplace_back(-i, -1);
  Ran r = ValidateAndRun(b, {MakeHost<uint8_t>({5}, {0, 1, 2, 255, 0}), MakeHost<c64>({5}, tv), MakeHost<c64>({5}, fv),
                             MakeHost<int8_t>({5}, {1, 2, 3, 4, 5}), MakeHost<int8_t>({5}, {-1, -2, -3, -4, -5})});
  ASSERT_EQ(r.outputs.size(), 2u);
  EXPECT_EQ(Values<c64>(r.outputs[0]), (std::vector<c64>{fv[0], tv[1], tv[2], tv[3], fv[4]}));
  EXPECT_EQ(Values<int8_t>(r.outputs[1]), (std::vector<int8_t>{-1, 2, 3, 4, -5}));
}

TEST(ProgramOps, Iota) {
  Builder b;
  b.Output(b.Op("iota", {}, DType::kS32, {2, 3}));
  b.Output(b.Op("iota", {}, DType::kS32, {2, 3}, [](v1::Attributes& a) { a.set_axis(1); }));
  b.Output(b.Op("iota", {}, DType::kS32, {2, 3}, [](v1::Attributes& a) { a.set_axis(0); }));
  b.Output(b.Op("iota", {}, DType::kF32, {2, 2, 2}, [](v1::Attributes& a) { a.set_axis(1); }));
  b.Output(b.Op("iota", {}, DType::kU8, {300}));  // wraps past 255
  b.Output(b.Op("iota", {}, DType::kBF16, {260}));
  b.Output(b.Op("iota", {}, DType::kF64, {0, 4}, [](v1::Attributes& a) { a.set_axis(1); }));
  Ran r = ValidateAndRun(b, {});
  ASSERT_EQ(r.outputs.size(), 7u);
  EXPECT_EQ(Values<int32_t>(r.outputs[0]), (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(Values<int32_t>(r.outputs[1]), (std::vector<int32_t>{0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(Values<int32_t>(r.outputs[2]), (std::vector<int32_t>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(Values<float>(r.outputs[3]), (std::vector<float>{0, 0, 1, 1, 0, 0, 1, 1}));
  const auto u = Values<uint8_t>(r.outputs[4]);
  EXPECT_EQ(u[255], 255);
  EXPECT_EQ(u[256], 0);
  EXPECT_EQ(u[299], 43);
  const auto h = Values<bf16>(r.outputs[5]);
  EXPECT_EQ(static_cast<float>(h[259]), 258.0f);  // bf16 truncates
  EXPECT_EQ(static_cast<float>(h[255]), 255.0f);
  EXPECT_TRUE(r.outputs[6].bytes.empty());
}

TEST(ProgramOps, Constant) {
  Builder b;
  // A scalar fills the result.
  b.Output(b.Op("constant", {}, DType::kF32, {2, 2}, [](v1::Attributes& a) {
    a.mutable_value()->set_dtype(v1::DTYPE_F32);
    a.mutable_value()->mutable_literal()->add_floats(2.5);
  }));
  // The full tensor, from literal ints (wrapped to s8) and from raw bytes.
  b.Output(b.Op("constant", {}, DType::kS8, {3}, [](v1::Attributes& a) {
    auto* v = a.mutable_value();
    v->set_dtype(v1::DTYPE_S8);
    v->add_shape(3);
    for (int64_t x : {1, -2, 300}) v->mutable_literal()->add_ints(x);
  }));
  b.Output(b.Op("constant", {}, DType::kU16, {2}, [](v1::Attributes& a) {
    auto* v = a.mutable_value();
    v->set_dtype(v1::DTYPE_U16);
    v->add_shape(2);
    const uint16_t raw[2] = {7, 65535};
    v->set_data(raw, sizeof raw);
  }));
  // Literal floats follow as_type: 259 in bf16 is 258; NaN and complex pairs.
  b.Output(b.Op("constant", {}, DType::kBF16, {}, [](v1::Attributes& a) {
    a.mutable_value()->set_dtype(v1::DTYPE_BF16);
    a.mutable_value()->mutable_literal()->add_floats(259);
  }));
  b.Output(b.Op("constant", {}, DType::kC128, {3}, [](v1::Attributes& a) {
    auto* v = a.mutable_value();
    v->set_dtype(v1::DTYPE_C128);
    for (double x : {1.5, -2.0}) v->mutable_literal()->add_floats(x);
  }));
  // An all-zero scalar fill.
  b.Output(b.Op("constant", {}, DType::kF64, {4}, [](v1::Attributes& a) {
    a.mutable_value()->set_dtype(v1::DTYPE_F64);
    a.mutable_value()->mutable_literal()->add_floats(0.0);
  }));
  Ran r = ValidateAndRun(b, {});
  ASSERT_EQ(r.outputs.size(), 6u);
  EXPECT_EQ(Values<float>(r.outputs[0]), (std::vector<float>{2.5f, 2.5f, 2.5f, 2.5f}));
  EXPECT_EQ(Values<int8_t>(r.outputs[1]), (std::vector<int8_t>{1, -2, 44}));
  EXPECT_EQ(Values<uint16_t>(r.outputs[2]), (std::vector<uint16_t>{7, 65535}));
  EXPECT_EQ(Values<uint16_t>(r.outputs[3]), std::vector<uint16_t>{0x4381});
  EXPECT_EQ(Values<c128>(r.outputs[4]), (std::vector<c128>(3, c128(1.5, -2.0))));
  EXPECT_EQ(Values<double>(r.outputs[5]), (std::vector<double>(4, 0.0)));
}

// ---------------------------------------------------------------------------
// dot.

uint32_t Dot(Builder& b, uint32_t l, uint32_t r, DType dtype, Shape shape, std::vector<int64_t> lc,
             std::vector<int64_t> rc, std::vector<int64_t> lb = {}, std::vector<int64_t> rb = {}) {
  return b.Op("dot", {l, r}, dtype, std::move(shape), [&](v1::Attributes& a) {
    SetRepeated(a.mutable_lhs_contract(), lc);
    SetRepeated(a.mutable_rhs_contract(), rc);
    SetRepeated(a.mutable_lhs_batch(), lb);
    SetRepeated(a.mutable_rhs_batch(), rb);
  });
}

TEST(ProgramDot, MatrixTimesVector) {
  Builder b;
  const uint32_t m = b.Input(DType::kF64, {2, 3});
  const uint32_t v = b.Input(DType::kF64, {3});
  b.Output(Dot(b, m, v, DType::kF64, {2}, {1}, {0}));
  b.Output(Dot(b, v, m, DType::kF64, {2}, {0}, {1}));  // v . m^T
  b.Output(Dot(b, v, v, DType::kF64, {}, {0}, {0}));   // inner product: a scalar
  Ran r = ValidateAndRun(b, {MakeHost<double>({2, 3}, {1, 2, 3, 4, 5, 6}), MakeHost<double>({3}, {1, -1, 2})});
  ASSERT_EQ(r.outputs.size(), 3u);
  EXPECT_EQ(Values<double>(r.outputs[0]), (std::vector<double>{5, 11}));
  EXPECT_EQ(Values<double>(r.outputs[1]), (std::vector<double>{5, 11}));
  EXPECT_EQ(Values<double>(r.outputs[2]), std::vector<double>{6});
}

// A brute-force general contraction over s32 (exact), for comparison.
std::vector<int32_t> BruteDot(const Shape& ls, const std::vector<int32_t>& l, const Shape& rs,
                              const std::vector<int32_t>& r, const std::vector<int64_t>& lc,
                              const std::vector<int64_t>& rc, const std::vector<int64_t>& lb,
                              const std::vector<int64_t>& rb, Shape& out_shape) {
  auto free_axes = [](const Shape& s, const std::vector<int64_t>& c, const std::vector<int64_t>& bt) {
    std::vector<int64_t> f;
    for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i)
      if (std::find(c.begin(), c.end(), i) == c.end() && std::find(bt.begin(), bt.end(), i) == bt.end()) f.push_back(i);
    return f;
  };
  const auto lf = free_axes(ls, lc, lb), rf = free_axes(rs, rc, rb);
  out_shape.clear();
  for (int64_t a : lb) out_shape.push_back(ls[a]);
  for (int64_t a : lf) out_shape.push_back(ls[a]);
  for (int64_t a : rf) out_shape.push_back(rs[a]);
  Shape cshape;
  for (int64_t a : lc) cshape.push_back(ls[a]);
  auto count = [](const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
  };
  auto unflatten = [](int64_t flat, const Shape& s) {
    std::vector<int64_t> idx(s.size());
    for (int64_t d = static_cast<int64_t>(s.size()) - 1; d >= 0; --d) {
      idx[d] = s[d] == 0 ? 0 : flat % s[d];
      flat = s[d] == 0 ? 0 : flat / s[d];
    }
    return idx;
  };
  auto offset = [](const std::vector<int64_t>& idx, const Shape& s) {
    int64_t o = 0;
    for (size_t d = 0; d < s.size(); ++d) o = o * s[d] + idx[d];
    return o;
  };
  std::vector<int32_t> out(static_cast<size_t>(count(out_shape)));
  for (int64_t o = 0; o < count(out_shape); ++o) {
    const auto oi = unflatten(o, out_shape);
    std::vector<int64_t> li(ls.size()), ri(rs.size());
    size_t k = 0;
    for (size_t i = 0; i < lb.size(); ++i, ++k) li[lb[i]] = ri[rb[i]] = oi[k];
    for (int64_t a : lf) li[a] = oi[k++];
    for (int64_t a : rf) ri[a] = oi[k++];
    uint32_t acc = 0;
    for (int64_t c = 0; c < count(cshape); ++c) {
      const auto ci = unflatten(c, cshape);
      for (size_t i = 0; i < lc.size(); ++i) li[lc[i]] = ri[rc[i]] = ci[i];
      acc += static_cast<uint32_t>(l[offset(li, ls)]) * static_cast<uint32_t>(r[offset(ri, rs)]);
    }
    out[o] = static_cast<int32_t>(acc);
  }
  return out;
}

void CheckDot(const Shape& ls, const Shape& rs, std::vector<int64_t> lc, std::vector<int64_t> rc,
              std::vector<int64_t> lb = {}, std::vector<int64_t> rb = {}) {
  std::mt19937 rng(static_cast<uint32_t>(ls.size() * 10 + rs.size() + lc.size()));
  auto count = [](const Shape& s) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    return n;
  };
  std::vector<int32_t> l(count(ls)), r(count(rs));
  for (auto& x : l) x = static_cast<int32_t>(rng() % 21) - 10;
  for (auto& x : r) x = static_cast<int32_t>(rng() % 21) - 10;
  Shape out_shape;
  const auto want = BruteDot(ls, l, rs, r, lc, rc, lb, rb, out_shape);
  Builder b;
  const uint32_t li = b.Input(DType::kS32, ls), ri = b.Input(DType::kS32, rs);
  b.Output(Dot(b, li, ri, DType::kS32, out_shape, lc, rc, lb, rb));
  Ran run = ValidateAndRun(b, {MakeHost<int32_t>(ls, l), MakeHost<int32_t>(rs, r)});
  ASSERT_EQ(run.outputs.size(), 1u);
  EXPECT_EQ(run.outputs[0].shape, out_shape);
  EXPECT_EQ(Values<int32_t>(run.outputs[0]), want)
      << "lhs " << ShapeString(ls) << " rhs " << ShapeString(rs) << " contract " << ShapeString(lc) << "/"
      << ShapeString(rc) << " batch " << ShapeString(lb) << "/" << ShapeString(rb);
}

TEST(ProgramDot, GeneralContractions) {
  CheckDot({2, 2, 3}, {2, 3, 2}, {2}, {1}, {0}, {0});              // batched matmul
  CheckDot({2, 3, 4}, {3, 4, 5}, {1, 2}, {0, 1});                  // two contraction axes
  CheckDot({2, 3, 4}, {3, 4, 5}, {2, 1}, {1, 0});                  // the same, pairs in another order
  CheckDot({2, 3, 4}, {4, 2, 5}, {2}, {0}, {0}, {1});              // a batch axis not leading in rhs
  CheckDot({3, 2, 4, 5}, {2, 5, 3, 6}, {3}, {1}, {1, 0}, {0, 2});  // two batch axes, permuted
  CheckDot({4, 3}, {5, 3}, {1}, {1});                              // a . b^T
  CheckDot({3}, {4}, {}, {});                                      // outer product
  CheckDot({2, 0}, {0, 3}, {1}, {0});                              // contraction of size 0: zeros
  CheckDot({0, 3}, {3, 2}, {1}, {0});                              // empty result
}

TEST(ProgramDot, IntegerWrapAndEmptyContraction) {
  Builder b;
  const uint32_t x = b.Input(DType::kS8, {1, 2});
  const uint32_t y = b.Input(DType::kS8, {2});
  const uint32_t e = b.Input(DType::kF32, {2, 0});
  const uint32_t f = b.Input(DType::kF32, {0, 3});
  const uint32_t u = b.Input(DType::kU64, {2});
  b.Output(Dot(b, x, y, DType::kS8, {1}, {1}, {0}));  // 100*100 + 100*100 = 20000 -> 32
  b.Output(Dot(b, e, f, DType::kF32, {2, 3}, {1}, {0}));
  b.Output(Dot(b, u, u, DType::kU64, {}, {0}, {0}));
  Ran r = ValidateAndRun(
      b, {MakeHost<int8_t>({1, 2}, {100, 100}), MakeHost<int8_t>({2}, {100, 100}), MakeHost<float>({2, 0}, {}),
          MakeHost<float>({0, 3}, {}), MakeHost<uint64_t>({2}, {1ull << 32, 3})});
  ASSERT_EQ(r.outputs.size(), 3u);
  EXPECT_EQ(Values<int8_t>(r.outputs[0]), std::vector<int8_t>{32});
  EXPECT_EQ(Values<float>(r.outputs[1]), std::vector<float>(6, 0.0f));
  EXPECT_EQ(Values<uint64_t>(r.outputs[2]), std::vector<uint64_t>{9});  // 2^64 wraps to 0, + 9
}

// ---------------------------------------------------------------------------
// Reductions and argmax inside programs.

TEST(ProgramReduce, KeepAxesChangesTheShapeNotTheLayout) {
  Builder b;
  const uint32_t x = b.Input(DType::kS32, {2, 3, 4});
  b.Output(b.Op("sum", {x}, DType::kS32, {2, 4}, [](v1::Attributes& a) { a.add_axes(1); }));
  b.Output(b.Op("sum", {x}, DType::kS32, {2, 1, 4}, [](v1::Attributes& a) {
    a.add_axes(1);
    a.set_keep_axes(true);
  }));
  b.Output(b.Op("reduce_max", {x}, DType::kS32, {1, 3, 1}, [](v1::Attributes& a) {
    a.add_axes(2);
    a.add_axes(0);  // unsorted: the validator sorts
    a.set_keep_axes(true);
  }));
  b.Output(b.Op("product", {x}, DType::kS32, {}, [](v1::Attributes& a) {
    for (int i : {0, 1, 2}) a.add_axes(i);
  }));
  const auto v = Iota<int32_t>(24, 1);
  Ran r = ValidateAndRun(b, {MakeHost<int32_t>({2, 3, 4}, v)});
  ASSERT_EQ(r.outputs.size(), 4u);
  const std::vector<int32_t> sums = {15, 18, 21, 24, 51, 54, 57, 60};
  EXPECT_EQ(Values<int32_t>(r.outputs[0]), sums);
  EXPECT_EQ(r.outputs[1].shape, (Shape{2, 1, 4}));
  EXPECT_EQ(Values<int32_t>(r.outputs[1]), sums);
  EXPECT_EQ(Values<int32_t>(r.outputs[2]), (std::vector<int32_t>{16, 20, 24}));
  // 24! mod 2^32.
  uint32_t fact = 1;
  for (uint32_t i = 1; i <= 24; ++i) fact *= i;
  EXPECT_EQ(Values<int32_t>(r.outputs[3]), std::vector<int32_t>{static_cast<int32_t>(fact)});
}

TEST(ProgramReduce, ArgmaxAndArgmin) {
  Builder b;
  const uint32_t x = b.Input(DType::kF32, {2, 3});
  b.Output(b.Op("argmax", {x}, DType::kS64, {2}, [](v1::Attributes& a) { a.set_axis(1); }));
  b.Output(b.Op("argmax", {x}, DType::kU8, {2, 1}, [](v1::Attributes& a) {
    a.set_axis(1);
    a.set_keep_axes(true);
    a.set_tie_break(v1::TIE_BREAK_HIGH);
  }));
  b.Output(b.Op("argmin", {x}, DType::kS32, {}));  // flattened
  b.Output(b.Op("argmin", {x}, DType::kS32, {1, 1}, [](v1::Attributes& a) { a.set_keep_axes(true); }));
  b.Output(b.Op("argmax", {x}, DType::kS16, {3}, [](v1::Attributes& a) { a.set_axis(0); }));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Ran r = ValidateAndRun(b, {MakeHost<float>({2, 3}, {5, 1, 5, nan, 7, -2})});
  ASSERT_EQ(r.outputs.size(), 5u);
  EXPECT_EQ(Values<int64_t>(r.outputs[0]), (std::vector<int64_t>{0, 0}));  // row 1: NaN first wins
  EXPECT_EQ(Values<uint8_t>(r.outputs[1]), (std::vector<uint8_t>{2, 0}));
  EXPECT_EQ(Values<int32_t>(r.outputs[2]), std::vector<int32_t>{5});
  EXPECT_EQ(Values<int32_t>(r.outputs[3]), std::vector<int32_t>{5});
  EXPECT_EQ(Values<int16_t>(r.outputs[4]), (std::vector<int16_t>{0, 1, 0}));
}

// ---------------------------------------------------------------------------
// A two-layer MLP: relu(x W1 + b1) W2 + b2, then sigmoid, against the same
// math done here in double.

TEST(ProgramMlp, TwoLayersMatchHandComputedValues) {
  constexpr int64_t B = 4, I = 3, H = 5, O = 2;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1, 1);
  auto random = [&](size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = u(rng);
    return v;
  };
  const auto x = random(B * I), w1 = random(I * H), b1 = random(H), w2 = random(H * O), b2 = random(O);

  Builder b;
  const uint32_t vx = b.Input(DType::kF32, {B, I});
  const uint32_t vw1 = b.Input(DType::kF32, {I, H});
  const uint32_t vb1 = b.Input(DType::kF32, {H});
  const uint32_t vw2 = b.Input(DType::kF32, {H, O});
  const uint32_t vb2 = b.Input(DType::kF32, {O});
  const uint32_t h0 = Dot(b, vx, vw1, DType::kF32, {B, H}, {1}, {0});
  const uint32_t bb1 = b.Op("broadcast", {vb1}, DType::kF32, {B, H}, [](v1::Attributes& a) { a.add_axes(1); });
  const uint32_t h1 = b.Op("add", {h0, bb1}, DType::kF32, {B, H});
  const uint32_t zero = b.Op("constant", {}, DType::kF32, {B, H}, [](v1::Attributes& a) {
    a.mutable_value()->set_dtype(v1::DTYPE_F32);
    a.mutable_value()->mutable_literal()->add_floats(0.0);
  });
  const uint32_t h2 = b.Op("max", {h1, zero}, DType::kF32, {B, H});  // relu
  const uint32_t o0 = Dot(b, h2, vw2, DType::kF32, {B, O}, {1}, {0});
  const uint32_t bb2 = b.Op("broadcast", {vb2}, DType::kF32, {B, O}, [](v1::Attributes& a) { a.add_axes(1); });
  const uint32_t logits = b.Op("add", {o0, bb2}, DType::kF32, {B, O});
  const uint32_t probs = b.Op("sigmoid", {logits}, DType::kF32, {B, O});
  const uint32_t cls = b.Op("argmax", {logits}, DType::kS64, {B}, [](v1::Attributes& a) { a.set_axis(1); });
  b.Output(probs);
  b.Output(cls);
  b.Output(h2);

  std::vector<double> hidden(B * H), want_logits(B * O);
  for (int64_t i = 0; i < B; ++i) {
    for (int64_t j = 0; j < H; ++j) {
      double s = b1[j];
      for (int64_t k = 0; k < I; ++k) s += double(x[i * I + k]) * w1[k * H + j];
      hidden[i * H + j] = std::max(s, 0.0);
    }
    for (int64_t j = 0; j < O; ++j) {
      double s = b2[j];
      for (int64_t k = 0; k < H; ++k) s += hidden[i * H + k] * w2[k * O + j];
      want_logits[i * O + j] = s;
    }
  }
  ThreadPool pool(2);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    Ran r = ValidateAndRun(b,
                           {MakeHost<float>({B, I}, x), MakeHost<float>({I, H}, w1), MakeHost<float>({H}, b1),
                            MakeHost<float>({H, O}, w2), MakeHost<float>({O}, b2)},
                           p);
    ASSERT_EQ(r.outputs.size(), 3u);
    const auto got_probs = Values<float>(r.outputs[0]);
    const auto got_cls = Values<int64_t>(r.outputs[1]);
    const auto got_hidden = Values<float>(r.outputs[2]);
    for (int64_t i = 0; i < B * H; ++i) {
      EXPECT_NEAR(got_hidden[i], hidden[i], 1e-5) << "hidden " << i;
      EXPECT_GE(got_hidden[i], 0.0f);
    }
    for (int64_t i = 0; i < B; ++i) {
      for (int64_t j = 0; j < O; ++j)
        EXPECT_NEAR(got_probs[i * O + j], 1 / (1 + std::exp(-want_logits[i * O + j])), 1e-5)
            << "prob " << i << "," << j;
      const int64_t want_cls = want_logits[i * O + 1] > want_logits[i * O] ? 1 : 0;
      EXPECT_EQ(got_cls[i], want_cls) << "row " << i;
    }
  }
}

// ---------------------------------------------------------------------------
// Outputs that are inputs or listed twice.

TEST(ProgramOutputs, InputsAndDuplicates) {
  Builder b;
  const uint32_t x = b.Input(DType::kF32, {3});
  const uint32_t y = b.Op("negate", {x}, DType::kF32, {3});
  const uint32_t z = b.Op("add", {y, y}, DType::kF32, {3});  // y also read later
  b.Output(x);
  b.Output(y);
  b.Output(z);
  b.Output(y);
  b.Output(x);
  // The inputs must outlive the outputs that view them.
  const std::vector<Host> inputs = {MakeHost<float>({3}, {1, 2, 3})};
  const Host& in = inputs[0];
  const int64_t live_before = MemoryAccount::Global().live();
  {
    Ran r = ValidateAndRun(b, inputs);
    ASSERT_EQ(r.outputs.size(), 5u);
    // An input returned as is: a view of the caller's bytes, nothing owned.
    EXPECT_EQ(r.outputs[0].bytes.data(), in.bytes.data());
    EXPECT_EQ(r.outputs[4].bytes.data(), in.bytes.data());
    EXPECT_EQ(r.outputs[0].owned.size(), 0);
    EXPECT_EQ(Values<float>(r.outputs[0]), (std::vector<float>{1, 2, 3}));
    EXPECT_EQ(Values<float>(r.outputs[1]), (std::vector<float>{-1, -2, -3}));
    EXPECT_EQ(Values<float>(r.outputs[2]), (std::vector<float>{-2, -4, -6}));
    EXPECT_EQ(Values<float>(r.outputs[3]), (std::vector<float>{-1, -2, -3}));
    // The duplicate owns separate bytes.
    EXPECT_NE(r.outputs[1].bytes.data(), r.outputs[3].bytes.data());
    EXPECT_EQ(r.outputs[1].owned.bytes().data(), r.outputs[1].bytes.data());
    EXPECT_EQ(r.outputs[3].owned.bytes().data(), r.outputs[3].bytes.data());
    r.outputs[1].owned.bytes()[0] = std::byte{0};
    EXPECT_EQ(Values<float>(r.outputs[3])[0], -1.0f);
    EXPECT_EQ(MemoryAccount::Global().live() - live_before, 3 * 12);
  }
  EXPECT_EQ(MemoryAccount::Global().live(), live_before);
}

TEST(ProgramOutputs, RunErrorNamesTheInstructionAndLeaksNothing) {
  Builder b;
  const uint32_t x = b.Input(DType::kS32, {4});
  const uint32_t y = b.Input(DType::kS32, {4});
  const uint32_t s = b.Op("add", {x, y}, DType::kS32, {4});
  b.Output(b.Op("quotient", {s, y}, DType::kS32, {4}));
  auto checked = Validate(b.program(), Limits{});
  ASSERT_TRUE(checked.ok());
  const Host hx = MakeHost<int32_t>({4}, {1, 2, 3, 4}), hy = MakeHost<int32_t>({4}, {1, 0, 1, 1});
  const int64_t live_before = MemoryAccount::Global().live();
  auto out = pelemay::Run(*checked, {hx.view(), hy.view()}, RunContext{});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(out.status().instruction(), 1);
  EXPECT_EQ(MemoryAccount::Global().live(), live_before);
}

}  // namespace
}  // namespace pelemay
