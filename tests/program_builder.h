// Small helpers for building pelemay.v1 programs in tests.
#pragma once

#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "executor/core/dtype.h"
#include "pelemay.pb.h"

namespace pelemay::testing {

inline v1::TensorType Type(DType dtype, std::vector<int64_t> shape) {
  v1::TensorType t;
  t.set_dtype(static_cast<v1::DType>(dtype));
  for (int64_t d : shape) t.add_shape(d);
  return t;
}

// Builds a program instruction by instruction; Add returns the new value id.
class ProgramBuilder {
 public:
  uint32_t Input(DType dtype, std::vector<int64_t> shape) {
    *program_.add_inputs() = Type(dtype, std::move(shape));
    return next_++;
  }
  v1::Instruction& Add(const std::string& op, std::vector<uint32_t> operands, DType dtype, std::vector<int64_t> shape) {
    auto* in = program_.add_instructions();
    in->set_op(op);
    for (uint32_t o : operands) in->add_operands(o);
    *in->mutable_result() = Type(dtype, std::move(shape));
    last_ = next_++;
    return *in;
  }
  uint32_t last() const { return last_; }
  void Output(uint32_t v) { program_.add_outputs(v); }
  v1::Program& program() { return program_; }

 private:
  v1::Program program_;
  uint32_t next_ = 0;
  uint32_t last_ = 0;
};

template <class T>
v1::Tensor Tensor(DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  v1::Tensor t;
  t.set_dtype(static_cast<v1::DType>(dtype));
  for (int64_t d : shape) t.add_shape(d);
  t.set_data(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
  return t;
}

template <class T>
std::vector<T> Values(const v1::Tensor& t) {
  std::vector<T> v(t.data().size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), t.data().data(), v.size() * sizeof(T));
  return v;
}

// A run request that takes a while: `steps` chained 256 x 256 f32 dots
// (about 16 M multiply-adds each). Cancels and deadlines act at instruction
// boundaries, so one step must stay short even on the slowest configuration
// the suites run in (ASan + the emulated 128-bit target on a loaded 2-core
// machine: a 512 x 512 step took over 5 s there).
inline v1::Request ChainedDotsRun(uint64_t id, int steps) {
  ProgramBuilder b;
  const int64_t n = 256;
  const uint32_t x = b.Input(DType::kF32, {n, n});
  uint32_t v = x;
  for (int i = 0; i < steps; ++i) {
    auto& d = b.Add("dot", {v, x}, DType::kF32, {n, n});
    d.mutable_attrs()->add_lhs_contract(1);
    d.mutable_attrs()->add_rhs_contract(0);
    v = b.last();
  }
  b.Output(v);
  v1::Request r;
  r.set_id(id);
  *r.mutable_run()->mutable_program() = b.program();
  *r.mutable_run()->add_inputs() = Tensor<float>(DType::kF32, {n, n}, std::vector<float>(n * n, 0.001f));
  return r;
}

}  // namespace pelemay::testing
