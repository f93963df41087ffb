// The indexing ops: reverse, put_slice, take, take_along_axis, gather,
// indexed_add and indexed_put, run through Validate + Run.
//   * Known values (Nx's own doctest examples and values computed with
//     Nx.BinaryBackend), including repeated indices and non-leading axes.
//   * Every dtype, against a byte-level oracle written here, with index
//     tensors of every integer dtype.
//   * indexed_add's arithmetic per dtype: integer wraparound, f64 sums of
//     float updates (Nx.BinaryBackend's order), half floats, complex.
//   * Out-of-bounds indices (negative, = size, a u64 beyond s64) are
//     INVALID_ARGUMENT at run time naming the instruction, never an access.
//   * The validator's rejections for each malformed attribute and shape.
#include <gtest/gtest.h>

#include <complex>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "executor/core/dtype.h"
#include "executor/core/half.h"
#include "executor/core/shape.h"
#include "executor/interp/interpreter.h"
#include "executor/validate/validator.h"
#include "pelemay.pb.h"
#include "tests/test_values.h"

namespace pelemay {
namespace {

using testing::kAllDTypes;

constexpr DType kIndexDTypes[] = {DType::kS8, DType::kS16, DType::kS32, DType::kS64,
                                  DType::kU8, DType::kU16, DType::kU32, DType::kU64};

// A host tensor: dtype, shape and its bytes.
struct Host {
  DType dtype;
  Shape shape;
  std::vector<std::byte> bytes;
  ConstTensorView view() const { return {dtype, shape, bytes}; }
};

template <class T>
Host Make(Shape shape, const std::vector<T>& values) {
  Host h{DTypeOf<T>::value, std::move(shape), std::vector<std::byte>(values.size() * sizeof(T))};
  if (!values.empty()) std::memcpy(h.bytes.data(), values.data(), h.bytes.size());
  return h;
}

// Integer values converted to any integer dtype (indices).
Host MakeIndices(DType dtype, Shape shape, const std::vector<int64_t>& values) {
  Host h{dtype, std::move(shape), std::vector<std::byte>(values.size() * DTypeSize(dtype))};
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsInt<T>)
      for (size_t i = 0; i < values.size(); ++i) {
        const T v = static_cast<T>(values[i]);
        std::memcpy(h.bytes.data() + i * sizeof(T), &v, sizeof(T));
      }
  });
  return h;
}

// Random bytes: every dtype's data movement is checked bit for bit.
Host RandomBytes(DType dtype, Shape shape, std::mt19937& rng) {
  const int64_t n = *ElementCount(shape);
  Host h{dtype, std::move(shape), std::vector<std::byte>(static_cast<size_t>(n) * DTypeSize(dtype))};
  for (auto& b : h.bytes) b = static_cast<std::byte>(rng());
  return h;
}

template <class T>
std::vector<T> Values(const std::vector<std::byte>& bytes) {
  std::vector<T> v(bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

using AttrFn = std::function<void(v1::Attributes&)>;

// A one-instruction program over `inputs`.
v1::Program OneOp(const std::string& op, const std::vector<Host>& inputs, DType dtype, const Shape& shape,
                  const AttrFn& attrs) {
  v1::Program p;
  auto set = [](v1::TensorType* t, DType d, const Shape& s) {
    t->set_dtype(static_cast<v1::DType>(d));
    for (int64_t x : s) t->add_shape(x);
  };
  v1::Instruction* in = p.add_instructions();
  for (size_t i = 0; i < inputs.size(); ++i) {
    set(p.add_inputs(), inputs[i].dtype, inputs[i].shape);
    in->add_operands(static_cast<uint32_t>(i));
  }
  in->set_op(op);
  set(in->mutable_result(), dtype, shape);
  if (attrs) attrs(*in->mutable_attrs());
  p.add_outputs(static_cast<uint32_t>(inputs.size()));
  return p;
}

// Validates and runs; the result's bytes, or the error.
StatusOr<std::vector<std::byte>> Run1(const std::string& op, const std::vector<Host>& inputs, DType dtype,
                                      const Shape& shape, const AttrFn& attrs = {}) {
  auto checked = Validate(OneOp(op, inputs, dtype, shape, attrs), Limits{});
  if (!checked.ok()) return checked.status();
  std::vector<ConstTensorView> views;
  for (const Host& h : inputs) views.push_back(h.view());
  PELEMAY_RETURN_IF_ERROR(ValidateInputs(*checked, views));
  auto out = Run(*checked, views, RunContext{});
  if (!out.ok()) return out.status();
  const auto& o = (*out)[0];
  return std::vector<std::byte>(o.bytes.begin(), o.bytes.end());
}

std::vector<std::byte> MustRun(const std::string& op, const std::vector<Host>& inputs, DType dtype, const Shape& shape,
                               const AttrFn& attrs = {}) {
  auto r = Run1(op, inputs, dtype, shape, attrs);
  EXPECT_TRUE(r.ok()) << op << ": " << r.status().ToString();
  return r.ok() ? *r : std::vector<std::byte>{};
}

AttrFn Axes(std::vector<int64_t> axes) {
  return [axes](v1::Attributes& a) {
    for (int64_t x : axes) a.add_axes(x);
  };
}
AttrFn Axis(int64_t axis) {
  return [axis](v1::Attributes& a) { a.set_axis(axis); };
}
AttrFn Start(std::vector<int64_t> start) {
  return [start](v1::Attributes& a) {
    for (int64_t x : start) a.add_start(x);
  };
}

// Row-major position <-> multi-index.
std::vector<int64_t> Unflatten(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    idx[i] = shape[i] == 0 ? 0 : flat % shape[i];
    flat = shape[i] == 0 ? 0 : flat / shape[i];
  }
  return idx;
}
int64_t Flatten(const std::vector<int64_t>& idx, const Shape& shape) {
  int64_t f = 0;
  for (size_t i = 0; i < shape.size(); ++i) f = f * shape[i] + idx[i];
  return f;
}

// Copies element `from` of src into element `to` of dst (elem bytes each).
void CopyElem(const std::vector<std::byte>& src, int64_t from, std::vector<std::byte>& dst, int64_t to, size_t elem) {
  std::memcpy(dst.data() + to * static_cast<int64_t>(elem), src.data() + from * static_cast<int64_t>(elem), elem);
}

// ---------------------------------------------------------------------------
// Known values.

TEST(Indexing, ReverseKnownValues) {
  const Host x = Make<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(Values<int32_t>(MustRun("reverse", {x}, DType::kS32, {2, 3}, Axes({0}))),
            (std::vector<int32_t>{4, 5, 6, 1, 2, 3}));
  EXPECT_EQ(Values<int32_t>(MustRun("reverse", {x}, DType::kS32, {2, 3}, Axes({1}))),
            (std::vector<int32_t>{3, 2, 1, 6, 5, 4}));
  EXPECT_EQ(Values<int32_t>(MustRun("reverse", {x}, DType::kS32, {2, 3}, Axes({0, 1}))),
            (std::vector<int32_t>{6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(Values<int32_t>(MustRun("reverse", {x}, DType::kS32, {2, 3}, Axes({}))),
            (std::vector<int32_t>{1, 2, 3, 4, 5, 6}));
  const Host s = Make<double>({}, {2.5});
  EXPECT_EQ(Values<double>(MustRun("reverse", {s}, DType::kF64, {})), (std::vector<double>{2.5}));
  const Host empty = Make<float>({0, 3}, {});
  EXPECT_TRUE(MustRun("reverse", {empty}, DType::kF32, {0, 3}, Axes({0, 1})).empty());
}

TEST(Indexing, PutSliceKnownValues) {
  // Nx.put_slice(Nx.tensor([[1, 2, 3], [4, 5, 6]]), [1, 1], [[7, 8], [9, 10]])
  // after Nx's clamping of the start to [0, 1].
  const Host t = Make<int64_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  const Host u = Make<int64_t>({2, 2}, {7, 8, 9, 10});
  EXPECT_EQ(Values<int64_t>(MustRun("put_slice", {t, u}, DType::kS64, {2, 3}, Start({0, 1}))),
            (std::vector<int64_t>{1, 7, 8, 4, 9, 10}));
  const Host row = Make<int64_t>({1, 3}, {-1, -2, -3});
  EXPECT_EQ(Values<int64_t>(MustRun("put_slice", {t, row}, DType::kS64, {2, 3}, Start({1, 0}))),
            (std::vector<int64_t>{1, 2, 3, -1, -2, -3}));
  // A scalar into a scalar, and an empty update.
  EXPECT_EQ(Values<float>(MustRun("put_slice", {Make<float>({}, {1}), Make<float>({}, {2})}, DType::kF32, {})),
            (std::vector<float>{2}));
  EXPECT_EQ(Values<int64_t>(MustRun("put_slice", {t, Make<int64_t>({0, 2}, {})}, DType::kS64, {2, 3}, Start({2, 1}))),
            (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
}

TEST(Indexing, TakeKnownValues) {
  // Nx.take(Nx.tensor([[1, 2], [3, 4]]), Nx.tensor([1, 0, 1]), axis: 1)
  const Host t = Make<int64_t>({2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(Values<int64_t>(MustRun("take", {t, Make<int64_t>({3}, {1, 0, 1})}, DType::kS64, {2, 3}, Axis(1))),
            (std::vector<int64_t>{2, 1, 2, 4, 3, 4}));
  // Nx.take(t, Nx.tensor([[1, 0], [1, 1]]), axis: 0): shape {2, 2, 2}.
  EXPECT_EQ(Values<int64_t>(MustRun("take", {t, Make<int8_t>({2, 2}, {1, 0, 1, 1})}, DType::kS64, {2, 2, 2}, Axis(0))),
            (std::vector<int64_t>{3, 4, 1, 2, 3, 4, 3, 4}));
  // A scalar index drops the axis.
  EXPECT_EQ(Values<int64_t>(MustRun("take", {t, Make<uint8_t>({}, {1})}, DType::kS64, {2}, Axis(1))),
            (std::vector<int64_t>{2, 4}));
}

TEST(Indexing, TakeAlongAxisKnownValues) {
  // Nx.take_along_axis(Nx.tensor([[1, 2, 3], [4, 5, 6]]), Nx.tensor([[0, 0, 2, 2, 1, 1], [2, 2, 1, 1, 0, 0]]), axis: 1)
  const Host t = Make<int64_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  const Host i = Make<int64_t>({2, 6}, {0, 0, 2, 2, 1, 1, 2, 2, 1, 1, 0, 0});
  EXPECT_EQ(Values<int64_t>(MustRun("take_along_axis", {t, i}, DType::kS64, {2, 6}, Axis(1))),
            (std::vector<int64_t>{1, 1, 3, 3, 2, 2, 6, 6, 5, 5, 4, 4}));
  // axis 0: Nx.tensor([[0, 1, 1], [1, 0, 0], [0, 1, 0]])
  const Host j = Make<int64_t>({3, 3}, {0, 1, 1, 1, 0, 0, 0, 1, 0});
  EXPECT_EQ(Values<int64_t>(MustRun("take_along_axis", {t, j}, DType::kS64, {3, 3}, Axis(0))),
            (std::vector<int64_t>{1, 5, 6, 4, 2, 3, 1, 5, 3}));
}

TEST(Indexing, GatherKnownValues) {
  const Host t = Make<int64_t>({2, 2}, {1, 2, 3, 4});
  // Nx.gather(t, Nx.tensor([[1, 1], [0, 1], [1, 0]])) == [4, 2, 3]
  EXPECT_EQ(Values<int64_t>(
                MustRun("gather", {t, Make<int64_t>({3, 2}, {1, 1, 0, 1, 1, 0})}, DType::kS64, {3}, Axes({0, 1}))),
            (std::vector<int64_t>{4, 2, 3}));
  // Whole rows: Nx.gather(t, Nx.tensor([[1], [0]])) == [[3, 4], [1, 2]]
  EXPECT_EQ(Values<int64_t>(MustRun("gather", {t, Make<int64_t>({2, 1}, {1, 0})}, DType::kS64, {2, 2}, Axes({0}))),
            (std::vector<int64_t>{3, 4, 1, 2}));
  // Columns (a non-leading axis): Nx.gather(t, Nx.tensor([[1], [0], [1]]), axes: [1]) == [[2, 4], [1, 3], [2, 4]]
  EXPECT_EQ(Values<int64_t>(MustRun("gather", {t, Make<int64_t>({3, 1}, {1, 0, 1})}, DType::kS64, {3, 2}, Axes({1}))),
            (std::vector<int64_t>{2, 4, 1, 3, 2, 4}));
  // Indices {3}: one row naming a scalar of a rank-3 tensor.
  const Host t3 = Make<int32_t>({2, 2, 2}, {1, 2, 11, 12, 101, 102, 111, 112});
  EXPECT_EQ(Values<int32_t>(MustRun("gather", {t3, Make<int64_t>({3}, {1, 0, 1})}, DType::kS32, {}, Axes({0, 1, 2}))),
            (std::vector<int32_t>{102}));
}

TEST(Indexing, IndexedPutAndAddKnownValues) {
  // Nx.indexed_put(Nx.iota({1, 2, 3}), [[0, 0], [0, 2]], [[0, 30], [20, 50]], axes: [0, 2])
  const Host t = Make<int64_t>({1, 2, 3}, {0, 1, 2, 3, 4, 5});
  const Host i = Make<int64_t>({2, 2}, {0, 0, 0, 2});
  const Host u = Make<int64_t>({2, 2}, {0, 30, 20, 50});
  EXPECT_EQ(Values<int64_t>(MustRun("indexed_put", {t, i, u}, DType::kS64, {1, 2, 3}, Axes({0, 2}))),
            (std::vector<int64_t>{0, 1, 20, 30, 4, 50}));
  // Nx.indexed_add(Nx.iota({1, 2, 3}), [[0, 0, 0], [0, 1, 1], [0, 0, 0], [0, 0, 2], [0, 1, 2]], [1, 3, 1, -2, 5])
  const Host ia = Make<int64_t>({5, 3}, {0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 2, 0, 1, 2});
  const Host ua = Make<int64_t>({5}, {1, 3, 1, -2, 5});
  EXPECT_EQ(Values<int64_t>(MustRun("indexed_add", {t, ia, ua}, DType::kS64, {1, 2, 3}, Axes({0, 1, 2}))),
            (std::vector<int64_t>{2, 1, 0, 3, 7, 10}));
  // Repeated indices: put keeps the last row, add sums them all.
  const Host v = Make<float>({3}, {1, 2, 3});
  const Host rep = Make<uint8_t>({3, 1}, {1, 1, 1});
  const Host ur = Make<float>({3}, {10, 20, 30});
  EXPECT_EQ(Values<float>(MustRun("indexed_put", {v, rep, ur}, DType::kF32, {3}, Axes({0}))),
            (std::vector<float>{1, 30, 3}));
  EXPECT_EQ(Values<float>(MustRun("indexed_add", {v, rep, ur}, DType::kF32, {3}, Axes({0}))),
            (std::vector<float>{1, 62, 3}));
  // An updates row smaller than the target's other axis fills a block at its origin.
  const Host m = Make<int32_t>({2, 3}, {0, 0, 0, 0, 0, 0});
  EXPECT_EQ(Values<int32_t>(MustRun("indexed_put", {m, Make<int32_t>({1, 1}, {1}), Make<int32_t>({1, 2}, {7, 8})},
                                    DType::kS32, {2, 3}, Axes({0}))),
            (std::vector<int32_t>{0, 0, 0, 7, 8, 0}));
}

// ---------------------------------------------------------------------------
// Every dtype against byte-level oracles, index tensors of every integer type.

TEST(Indexing, EveryDTypeMovesBitsExactly) {
  std::mt19937 rng(42);
  for (DType dt : kAllDTypes) {
    SCOPED_TRACE(std::string(DTypeName(dt)));
    const size_t elem = DTypeSize(dt);
    const Shape shape = {3, 4, 2};
    const Host x = RandomBytes(dt, shape, rng);
    const int64_t n = 24;

    // reverse axes 0 and 2.
    {
      std::vector<std::byte> want(x.bytes.size());
      for (int64_t f = 0; f < n; ++f) {
        auto idx = Unflatten(f, shape);
        idx[0] = shape[0] - 1 - idx[0];
        idx[2] = shape[2] - 1 - idx[2];
        CopyElem(x.bytes, Flatten(idx, shape), want, f, elem);
      }
      EXPECT_EQ(MustRun("reverse", {x}, dt, shape, Axes({2, 0})), want);
    }
    // put_slice of a {2, 2, 1} block at {1, 1, 1}.
    {
      const Host u = RandomBytes(dt, {2, 2, 1}, rng);
      std::vector<std::byte> want = x.bytes;
      for (int64_t f = 0; f < 4; ++f) {
        auto idx = Unflatten(f, u.shape);
        CopyElem(u.bytes, f, want, Flatten({idx[0] + 1, idx[1] + 1, idx[2] + 1}, shape), elem);
      }
      EXPECT_EQ(MustRun("put_slice", {x, u}, dt, shape, Start({1, 1, 1})), want);
    }
    for (DType it : kIndexDTypes) {
      SCOPED_TRACE(std::string(DTypeName(it)));
      // take along axis 1 with {2, 3} indices: result {3, 2, 3, 2}.
      {
        const std::vector<int64_t> iv = {3, 0, 1, 1, 2, 3};
        const Shape out_shape = {3, 2, 3, 2};
        std::vector<std::byte> want(36 * elem);
        for (int64_t f = 0; f < 36; ++f) {
          const auto o = Unflatten(f, out_shape);
          CopyElem(x.bytes, Flatten({o[0], iv[o[1] * 3 + o[2]], o[3]}, shape), want, f, elem);
        }
        EXPECT_EQ(MustRun("take", {x, MakeIndices(it, {2, 3}, iv)}, dt, out_shape, Axis(1)), want);
      }
      // take_along_axis on axis 2 with {3, 4, 3} indices.
      {
        std::vector<int64_t> iv(36);
        for (auto& v : iv) v = static_cast<int64_t>(rng() % 2);
        const Shape out_shape = {3, 4, 3};
        std::vector<std::byte> want(36 * elem);
        for (int64_t f = 0; f < 36; ++f) {
          const auto o = Unflatten(f, out_shape);
          CopyElem(x.bytes, Flatten({o[0], o[1], iv[f]}, shape), want, f, elem);
        }
        EXPECT_EQ(MustRun("take_along_axis", {x, MakeIndices(it, out_shape, iv)}, dt, out_shape, Axis(2)), want);
      }
      // gather on axes {0, 2} (a strided window) and on {0, 1} (contiguous).
      for (const std::vector<int64_t>& axes : {std::vector<int64_t>{0, 2}, std::vector<int64_t>{0, 1}}) {
        const std::vector<int64_t> iv = {2, 1, 0, 0, 1, 1, 2, 0};  // 4 rows
        const int64_t other = axes[1] == 2 ? 1 : 2;                // the window axis
        const Shape out_shape = {2, 2, shape[other]};
        std::vector<std::byte> want(static_cast<size_t>(4 * shape[other]) * elem);
        for (int64_t r = 0; r < 4; ++r)
          for (int64_t w = 0; w < shape[other]; ++w) {
            std::vector<int64_t> idx(3);
            idx[axes[0]] = iv[r * 2];
            idx[axes[1]] = iv[r * 2 + 1];
            idx[other] = w;
            CopyElem(x.bytes, Flatten(idx, shape), want, r * shape[other] + w, elem);
          }
        EXPECT_EQ(MustRun("gather", {x, MakeIndices(it, {2, 2, 2}, iv)}, dt, out_shape, Axes(axes)), want);
      }
      // indexed_put on axis 1 with a repeated row: the last one wins.
      {
        const std::vector<int64_t> iv = {1, 3, 1};
        const Host u = RandomBytes(dt, {3, 3, 2}, rng);
        std::vector<std::byte> want = x.bytes;
        for (int64_t r = 0; r < 3; ++r)
          for (int64_t a = 0; a < 3; ++a)
            for (int64_t c = 0; c < 2; ++c)
              CopyElem(u.bytes, (r * 3 + a) * 2 + c, want, Flatten({a, iv[r], c}, shape), elem);
        EXPECT_EQ(MustRun("indexed_put", {x, MakeIndices(it, {3, 1}, iv), u}, dt, shape, Axes({1})), want);
      }
    }
  }
}

// indexed_add per dtype: each element gets target + the f64 (integers:
// wrapping) sum of its updates.
template <class T>
void CheckIndexedAdd() {
  SCOPED_TRACE(std::string(DTypeName(DTypeOf<T>::value)));
  auto v = [](double d) {
    if constexpr (kIsComplex<T>)
      return T(static_cast<typename T::value_type>(d), static_cast<typename T::value_type>(-d));
    else if constexpr (kIsHalf<T>) return T(static_cast<float>(d));
    else return static_cast<T>(d);
  };
  const Host t = Make<T>({4}, {v(1), v(2), v(3), v(4)});
  const Host i = Make<int64_t>({3, 1}, {2, 0, 2});
  const Host u = Make<T>({3}, {v(10), v(20), v(30)});
  // Compared as bytes: the exact bits, without memcmp on float objects.
  const auto got = MustRun("indexed_add", {t, i, u}, DTypeOf<T>::value, {4}, Axes({0}));
  EXPECT_EQ(got, Make<T>({4}, {v(21), v(2), v(43), v(4)}).bytes);
}

TEST(Indexing, IndexedAddEveryDType) {
  CheckIndexedAdd<int8_t>();
  CheckIndexedAdd<int16_t>();
  CheckIndexedAdd<int32_t>();
  CheckIndexedAdd<int64_t>();
  CheckIndexedAdd<uint8_t>();
  CheckIndexedAdd<uint16_t>();
  CheckIndexedAdd<uint32_t>();
  CheckIndexedAdd<uint64_t>();
  CheckIndexedAdd<f16>();
  CheckIndexedAdd<bf16>();
  CheckIndexedAdd<float>();
  CheckIndexedAdd<double>();
  CheckIndexedAdd<c64>();
  CheckIndexedAdd<c128>();
}

TEST(Indexing, IndexedAddArithmetic) {
  const Host rows = Make<int32_t>({2, 1}, {0, 0});
  // Integers wrap, as Nx writes the exact sum back into the type.
  EXPECT_EQ(Values<int8_t>(MustRun("indexed_add", {Make<int8_t>({1}, {120}), rows, Make<int8_t>({2}, {5, 10})},
                                   DType::kS8, {1}, Axes({0}))),
            (std::vector<int8_t>{-121}));
  EXPECT_EQ(
      Values<uint64_t>(MustRun("indexed_add", {Make<uint64_t>({1}, {~uint64_t{0}}), rows, Make<uint64_t>({2}, {1, 2})},
                               DType::kU64, {1}, Axes({0}))),
      (std::vector<uint64_t>{2}));
  // f32: the updates are summed in f64 first (1 + 2^-24 + 2^-24 is exact
  // there), then added and rounded once; adding one at a time in f32 would
  // give 1.0.
  const float tiny = 5.9604645e-08f;  // 2^-24
  EXPECT_EQ(Values<float>(MustRun("indexed_add", {Make<float>({1}, {1.0f}), rows, Make<float>({2}, {tiny, tiny})},
                                  DType::kF32, {1}, Axes({0}))),
            (std::vector<float>{1.0000001f}));
  // -0.0 stays -0.0 where no update lands; a touched -0.0 plus -0.0 is +0.0
  // (Nx.BinaryBackend sums from 0).
  const auto z = Values<double>(
      MustRun("indexed_add", {Make<double>({2}, {-0.0, -0.0}), Make<int32_t>({1, 1}, {0}), Make<double>({1}, {-0.0})},
              DType::kF64, {2}, Axes({0})));
  EXPECT_FALSE(std::signbit(z[0]));
  EXPECT_TRUE(std::signbit(z[1]));
  // bf16 truncates the f32 result as Nx does: 1 + 1/256 + 1/256 = 1.0078125.
  const auto b = Values<bf16>(MustRun(
      "indexed_add", {Make<bf16>({1}, {bf16(1.0f)}), rows, Make<bf16>({2}, {bf16(0.00390625f), bf16(0.00390625f)})},
      DType::kBF16, {1}, Axes({0})));
  EXPECT_EQ(static_cast<float>(b[0]), 1.0078125f);
}

// ---------------------------------------------------------------------------
// Index values are data: out of bounds is a typed error, never an access.

TEST(Indexing, OutOfBoundsIndicesAreInvalidArgument) {
  const Host t = Make<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto expect_oob = [](const StatusOr<std::vector<std::byte>>& r, const std::string& words) {
    ASSERT_FALSE(r.ok()) << words;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().ToString();
    EXPECT_EQ(r.status().instruction(), 0) << r.status().ToString();
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().ToString();
  };
  for (int64_t bad : {int64_t{-1}, int64_t{3}, int64_t{1} << 40}) {
    expect_oob(Run1("take", {t, Make<int64_t>({2}, {0, bad})}, DType::kF32, {2, 2}, Axis(1)),
               "take: index " + std::to_string(bad) + " is out of bounds for axis 1 of size 3");
    expect_oob(Run1("take_along_axis", {t, Make<int64_t>({2, 1}, {0, bad})}, DType::kF32, {2, 1}, Axis(1)),
               "out of bounds for axis 1");
    expect_oob(Run1("gather", {t, Make<int64_t>({2, 2}, {1, 1, 0, bad})}, DType::kF32, {2}, Axes({0, 1})),
               "gather: index " + std::to_string(bad) + " is out of bounds for axis 1");
    for (const char* op : {"indexed_add", "indexed_put"})
      expect_oob(Run1(op, {t, Make<int64_t>({2, 2}, {1, 1, 0, bad}), Make<float>({2}, {7, 8})}, DType::kF32, {2, 3},
                      Axes({0, 1})),
                 std::string(op) + ": index " + std::to_string(bad) + " is out of bounds");
  }
  // A u64 index beyond the s64 range, and an s8 -128.
  expect_oob(Run1("take", {t, Make<uint64_t>({1}, {~uint64_t{0}})}, DType::kF32, {1, 3}, Axis(0)), "out of bounds");
  expect_oob(Run1("take", {t, Make<int8_t>({1}, {-128})}, DType::kF32, {1, 3}, Axis(0)), "index -128");
  // Checked even when the result is empty, as Nx.BinaryBackend does.
  expect_oob(Run1("take", {Make<float>({0, 3}, {}), Make<int32_t>({1}, {3})}, DType::kF32, {0, 1}, Axis(1)),
             "out of bounds for axis 1");
  expect_oob(Run1("take", {Make<float>({3, 0}, {}), Make<int32_t>({1}, {0})}, DType::kF32, {3, 1}, Axis(1)), "size 0");
}

// ---------------------------------------------------------------------------
// Validator rejections.

void ExpectRejected(const std::string& op, const std::vector<Host>& inputs, DType dtype, const Shape& shape,
                    const AttrFn& attrs, const std::string& words) {
  auto r = Validate(OneOp(op, inputs, dtype, shape, attrs), Limits{});
  ASSERT_FALSE(r.ok()) << op << " accepted; expected: " << words;
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().ToString();
  EXPECT_EQ(r.status().instruction(), 0);
  EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().ToString();
}

TEST(Indexing, ValidatorRejectsBadAttributesAndShapes) {
  const Host t = Make<float>({2, 3}, std::vector<float>(6));
  const Host i2 = Make<int32_t>({2}, {0, 1});
  // reverse
  ExpectRejected("reverse", {t}, DType::kF32, {2, 3}, Axes({2}), "reverse axis 2 is out of range");
  ExpectRejected("reverse", {t}, DType::kF32, {2, 3}, Axes({1, 1}), "repeated");
  ExpectRejected("reverse", {t}, DType::kF32, {2, 3}, Axis(0), "does not take the attribute 'axis'");
  // put_slice
  ExpectRejected("put_slice", {t, Make<float>({1, 2}, {0, 0})}, DType::kF32, {2, 3}, Start({1, 2}),
                 "does not fit axis 1");
  ExpectRejected("put_slice", {t, Make<float>({1, 2}, {0, 0})}, DType::kF32, {2, 3}, Start({-1, 0}),
                 "does not fit axis 0");
  ExpectRejected("put_slice", {t, Make<float>({1, 2}, {0, 0})}, DType::kF32, {2, 3}, Start({0}), "start indices");
  ExpectRejected("put_slice", {t, Make<float>({3, 1}, {0, 0, 0})}, DType::kF32, {2, 3}, Start({0, 0}), "does not fit");
  ExpectRejected("put_slice", {t, Make<double>({1, 1}, {0})}, DType::kF32, {2, 3}, Start({0, 0}), "insert as_type");
  ExpectRejected("put_slice", {t, Make<float>({2}, {0, 0})}, DType::kF32, {2, 3}, Start({0, 0}), "rank");
  ExpectRejected("put_slice", {t, Make<float>({1, 1}, {0})}, DType::kF32, {2, 3},
                 Start({0, std::numeric_limits<int64_t>::max()}), "does not fit");
  // take
  ExpectRejected("take", {t, i2}, DType::kF32, {2, 2}, {}, "take needs an axis");
  ExpectRejected("take", {t, i2}, DType::kF32, {2, 2}, Axis(2), "take axis 2 is out of range");
  ExpectRejected("take", {t, Make<float>({2}, {0, 1})}, DType::kF32, {2, 2}, Axis(1), "must be an integer type");
  ExpectRejected("take", {t, i2}, DType::kF32, {2, 3}, Axis(1), "take produces f32[2, 2]");
  // take_along_axis
  ExpectRejected("take_along_axis", {t, i2}, DType::kF32, {2}, Axis(0), "indices have rank 1");
  ExpectRejected("take_along_axis", {t, Make<int32_t>({2, 2}, {0, 0, 0, 0})}, DType::kF32, {2, 2}, Axis(0),
                 "at axis 1");
  ExpectRejected("take_along_axis", {t, Make<int32_t>({1, 3}, {0, 0, 0})}, DType::kF32, {1, 3}, Axis(-1),
                 "axis -1 is out of range");
  // gather
  ExpectRejected("gather", {t, Make<int32_t>({2, 2}, {0, 0, 0, 0})}, DType::kF32, {2}, Axes({0}),
                 "1 axes for indices whose last dimension is 2");
  ExpectRejected("gather", {t, Make<int32_t>({}, {0})}, DType::kF32, {}, Axes({}), "rank >= 1");
  ExpectRejected("gather", {t, Make<int32_t>({1, 2}, {0, 0})}, DType::kF32, {1}, Axes({1, 1}), "repeated");
  ExpectRejected("gather", {t, Make<int32_t>({1, 1}, {0})}, DType::kF32, {1, 2}, Axes({0}),
                 "gather produces f32[1, 3]");
  ExpectRejected("gather", {t, Make<double>({1, 1}, {0})}, DType::kF32, {1, 3}, Axes({0}), "integer type");
  // indexed_add / indexed_put
  for (const char* op : {"indexed_add", "indexed_put"}) {
    SCOPED_TRACE(op);
    const Host rows = Make<int32_t>({2, 1}, {0, 1});
    ExpectRejected(op, {t, rows, Make<double>({2, 3}, std::vector<double>(6))}, DType::kF32, {2, 3}, Axes({0}),
                   "insert as_type");
    ExpectRejected(op, {t, i2, Make<float>({2, 3}, std::vector<float>(6))}, DType::kF32, {2, 3}, Axes({0}),
                   "indices must have rank 2");
    ExpectRejected(op, {t, rows, Make<float>({2}, {0, 0})}, DType::kF32, {2, 3}, Axes({0}), "updates [2] must be");
    ExpectRejected(op, {t, rows, Make<float>({3, 3}, std::vector<float>(9))}, DType::kF32, {2, 3}, Axes({0}),
                   "must be {2}");
    ExpectRejected(op, {t, rows, Make<float>({2, 4}, std::vector<float>(8))}, DType::kF32, {2, 3}, Axes({0}),
                   "larger than target axis 1");
    ExpectRejected(op, {t, rows, Make<float>({2, 3}, std::vector<float>(6))}, DType::kF32, {2, 3}, Axes({0, 1}),
                   "2 axes for indices whose last dimension is 1");
    ExpectRejected(op, {t, rows, Make<float>({2, 2}, std::vector<float>(4))}, DType::kF32, {2, 3}, Axes({2}),
                   "axis 2 is out of range");
    ExpectRejected(op, {t, Make<float>({2, 1}, {0, 1}), Make<float>({2, 3}, std::vector<float>(6))}, DType::kF32,
                   {2, 3}, Axes({0}), "integer type");
    ExpectRejected(op, {t, rows, Make<float>({2, 3}, std::vector<float>(6))}, DType::kF32, {3, 2}, Axes({0}),
                   "produces f32[2, 3]");
  }
}

}  // namespace
}  // namespace pelemay
