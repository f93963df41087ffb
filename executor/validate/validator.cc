#include "executor/validate/validator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <string>

#include "executor/kernels/conv.h"
#include "executor/kernels/linalg.h"
#include "executor/kernels/lines.h"
#include "executor/kernels/window.h"
#include "executor/validate/tensor_payload.h"

namespace pelemay {
namespace {

StatusOr<ValueType> MakeType(DType dtype, Shape shape) {
  PELEMAY_RETURN_IF_ERROR(CheckShape(dtype, shape));
  ValueType t;
  t.dtype = dtype;
  t.elements = *ElementCount(shape);
  t.bytes = *ByteSize(dtype, shape);
  t.shape = std::move(shape);
  return t;
}

StatusOr<ValueType> FromProto(const v1::TensorType& tt) {
  const auto dtype = DTypeFromWire(tt.dtype());
  if (!dtype) return InvalidArgument() << "unknown dtype " << tt.dtype();
  return MakeType(*dtype, Shape(tt.shape().begin(), tt.shape().end()));
}

std::string Str(const ValueType& t) { return TypeString(t.dtype, t.shape); }

// Axis lists: each in [0, rank), no repeats.
Status CheckAxes(std::span<const int64_t> axes, size_t rank, const char* what) {
  std::set<int64_t> seen;
  for (int64_t a : axes) {
    if (a < 0 || a >= static_cast<int64_t>(rank))
      return InvalidArgument() << what << " axis " << a << " is out of range for rank " << rank;
    if (!seen.insert(a).second) return InvalidArgument() << what << " axis " << a << " is repeated";
  }
  return Status::Ok();
}

class Checker {
 public:
  Checker(const CheckedProgram& prog, const v1::Instruction& in, CheckedInstruction& out)
      : prog_(prog), in_(in), out_(out), info_(GetOpInfo(out.op)) {}

  Status Run();

 private:
  const ValueType& Operand(size_t i) const { return prog_.type_of(out_.operands[i]); }
  Status CheckOperandDTypes();
  Status Expect(DType dtype, Shape shape);
  Status CheckUnusedAttributes();

  Status Elementwise();
  Status Reduce();
  Status ArgReduce();
  Status Reshape();
  Status Transpose();
  Status Broadcast();
  Status Slice();
  Status Concatenate();
  Status Pad();
  Status Select();
  Status Iota();
  Status Constant();
  Status Dot();
  Status Reverse();
  Status PutSlice();
  Status Take();
  Status TakeAlongAxis();
  Status Gather();
  Status Scatter();
  Status CheckIndexOperand(size_t i) const;
  Status AxisAttribute(size_t rank);
  Status LinAlg();
  Status WindowReduce();
  Status WindowScatter();
  Status Conv();
  Status WindowGridOf(const ValueType& a, Shape& counts);
  Status PerAxis(const google::protobuf::RepeatedField<int64_t>& field, const char* name, size_t n, int64_t fill,
                 std::vector<int64_t>& out);
  Status LoHi(size_t n);
  Status Sort();
  Status Scan();
  Status ComplexPart();
  Status Fft();

  const CheckedProgram& prog_;
  const v1::Instruction& in_;
  CheckedInstruction& out_;
  const OpInfo& info_;
};

Status Checker::CheckOperandDTypes() {
  for (size_t i = 0; i < out_.operands.size(); ++i) {
    // pad's value and select's predicate are checked by their own rules.
    if (out_.op == OpCode::select && i == 0) continue;
    const DType t = Operand(i).dtype;
    if (!Accepts(info_.dtypes, t))
      return Unsupported() << info_.name << " does not accept " << DTypeName(t) << " (accepts "
                           << DTypeClassName(info_.dtypes) << " types)";
  }
  return Status::Ok();
}

// The declared result must equal what the op produces.
Status Checker::Expect(DType dtype, Shape shape) {
  if (out_.result.dtype != dtype || out_.result.shape != shape)
    return InvalidArgument() << info_.name << " produces " << TypeString(dtype, shape)
                             << " but the instruction declares " << Str(out_.result);
  return Status::Ok();
}

// An attribute the op does not read must not be set: a typo in a builder
// should fail loudly, not be ignored.
Status Checker::CheckUnusedAttributes() {
  const auto& a = in_.attrs();
  auto uses = [&](std::string_view name) {
    const auto& list = info_.attributes;
    size_t pos = 0;
    while ((pos = list.find(name, pos)) != std::string_view::npos) {
      const bool start_ok = pos == 0 || list[pos - 1] == ' ';
      const bool end_ok = pos + name.size() == list.size() || list[pos + name.size()] == ' ';
      if (start_ok && end_ok) return true;
      pos += name.size();
    }
    return false;
  };
  struct Field {
    const char* name;
    bool set;
  };
  const Field fields[] = {
      {"axes", a.axes_size() > 0},
      {"permutation", a.permutation_size() > 0},
      {"start", a.start_size() > 0},
      {"strides", a.strides_size() > 0},
      {"padding", a.padding_size() > 0},
      {"axis", a.has_axis()},
      {"keep_axes", a.has_keep_axes()},
      {"tie_break", a.tie_break() != v1::TIE_BREAK_LOW},
      {"value", a.has_value()},
      {"lhs_contract", a.lhs_contract_size() > 0},
      {"rhs_contract", a.rhs_contract_size() > 0},
      {"lhs_batch", a.lhs_batch_size() > 0},
      {"rhs_batch", a.rhs_batch_size() > 0},
      {"left_side", a.has_left_side()},
      {"lower", a.has_lower()},
      {"transpose_a", a.has_transpose_a()},
      {"max_iter", a.has_max_iter()},
      {"descending", a.has_descending()},
      {"reverse", a.has_reverse()},
      {"length", a.has_length()},
      {"eps", a.has_eps()},
      {"window_dimensions", a.window_dimensions_size() > 0},
      {"window_dilations", a.window_dilations_size() > 0},
      {"input_dilation", a.input_dilation_size() > 0},
      {"kernel_dilation", a.kernel_dilation_size() > 0},
      {"feature_group_size", a.has_feature_group_size()},
      {"batch_group_size", a.has_batch_group_size()},
  };
  for (const auto& f : fields)
    if (f.set && !uses(f.name))
      return InvalidArgument() << info_.name << " does not take the attribute '" << f.name << "'";
  return Status::Ok();
}

Status Checker::Run() {
  const int64_t arity = static_cast<int64_t>(out_.operands.size());
  if (info_.arity >= 0 && arity != info_.arity)
    return InvalidArgument() << info_.name << " takes " << info_.arity << " operand(s), got " << arity;
  if (info_.arity < 0 && arity == 0) return InvalidArgument() << info_.name << " takes at least one operand";
  PELEMAY_RETURN_IF_ERROR(CheckUnusedAttributes());
  PELEMAY_RETURN_IF_ERROR(CheckOperandDTypes());
  switch (info_.family) {
    case OpFamily::kBinary:
    case OpFamily::kCompare:
    case OpFamily::kUnary:
    case OpFamily::kConvert: return Elementwise();
    case OpFamily::kReduce: return Reduce();
    case OpFamily::kArgReduce: return ArgReduce();
    case OpFamily::kReshape: return Reshape();
    case OpFamily::kTranspose: return Transpose();
    case OpFamily::kBroadcast: return Broadcast();
    case OpFamily::kSlice: return Slice();
    case OpFamily::kConcatenate: return Concatenate();
    case OpFamily::kPad: return Pad();
    case OpFamily::kSelect: return Select();
    case OpFamily::kIota: return Iota();
    case OpFamily::kConstant: return Constant();
    case OpFamily::kDot: return Dot();
    case OpFamily::kReverse: return Reverse();
    case OpFamily::kPutSlice: return PutSlice();
    case OpFamily::kTake: return Take();
    case OpFamily::kTakeAlongAxis: return TakeAlongAxis();
    case OpFamily::kGather: return Gather();
    case OpFamily::kScatter: return Scatter();
    case OpFamily::kLinAlg: return LinAlg();
    case OpFamily::kWindowReduce: return WindowReduce();
    case OpFamily::kWindowScatter: return WindowScatter();
    case OpFamily::kConv: return Conv();
    case OpFamily::kSort: return Sort();
    case OpFamily::kScan: return Scan();
    case OpFamily::kComplexPart: return ComplexPart();
    case OpFamily::kFft: return Fft();
  }
  return Internal() << "no rule for " << info_.name;
}

Status Checker::Elementwise() {
  const ValueType& a = Operand(0);
  for (size_t i = 1; i < out_.operands.size(); ++i) {
    const ValueType& b = Operand(i);
    if (b.dtype != a.dtype)
      return InvalidArgument() << info_.name << " operands differ in dtype (" << DTypeName(a.dtype) << " vs "
                               << DTypeName(b.dtype) << "); insert as_type";
    if (b.shape != a.shape)
      return InvalidArgument() << info_.name << " operands differ in shape (" << ShapeString(a.shape) << " vs "
                               << ShapeString(b.shape) << "); insert broadcast";
  }
  switch (info_.family) {
    case OpFamily::kCompare: return Expect(DType::kU8, a.shape);
    case OpFamily::kConvert: return Expect(out_.result.dtype, a.shape);
    case OpFamily::kUnary: return Expect(out_.op == OpCode::abs ? RealPart(a.dtype) : a.dtype, a.shape);
    default: return Expect(a.dtype, a.shape);
  }
}

Status Checker::Reduce() {
  const ValueType& a = Operand(0);
  out_.axes.assign(in_.attrs().axes().begin(), in_.attrs().axes().end());
  PELEMAY_RETURN_IF_ERROR(CheckAxes(out_.axes, a.shape.size(), info_.name.data()));
  std::sort(out_.axes.begin(), out_.axes.end());
  out_.keep_axes = in_.attrs().keep_axes();
  Shape shape;
  for (size_t i = 0; i < a.shape.size(); ++i) {
    const bool reduced = std::binary_search(out_.axes.begin(), out_.axes.end(), static_cast<int64_t>(i));
    if (!reduced) shape.push_back(a.shape[i]);
    else if (out_.keep_axes) shape.push_back(1);
  }
  // Half floats are reduced in f32; allow for one widened copy plus a step.
  out_.scratch_bytes = CheckedMul(a.elements, 2 * sizeof(double)).value_or(INT64_MAX);
  return Expect(a.dtype, shape);
}

Status Checker::ArgReduce() {
  const ValueType& a = Operand(0);
  const auto& attrs = in_.attrs();
  out_.keep_axes = attrs.keep_axes();
  out_.tie_break_high = attrs.tie_break() == v1::TIE_BREAK_HIGH;
  if (attrs.tie_break() != v1::TIE_BREAK_LOW && attrs.tie_break() != v1::TIE_BREAK_HIGH)
    return InvalidArgument() << "unknown tie_break " << attrs.tie_break();
  Shape shape;
  if (attrs.has_axis()) {
    const int64_t axis = attrs.axis();
    if (axis < 0 || axis >= static_cast<int64_t>(a.shape.size()))
      return InvalidArgument() << info_.name << " axis " << axis << " is out of range for rank " << a.shape.size();
    if (a.shape[axis] == 0) return InvalidArgument() << info_.name << " over an empty axis " << axis;
    out_.axis = axis;
    for (size_t i = 0; i < a.shape.size(); ++i) {
      if (static_cast<int64_t>(i) != axis) shape.push_back(a.shape[i]);
      else if (out_.keep_axes) shape.push_back(1);
    }
  } else {
    if (a.elements == 0) return InvalidArgument() << info_.name << " of an empty tensor";
    if (out_.keep_axes) shape.assign(a.shape.size(), 1);
  }
  if (!IsInteger(out_.result.dtype))
    return InvalidArgument() << info_.name << " must produce an integer type, not " << DTypeName(out_.result.dtype);
  out_.scratch_bytes = static_cast<int64_t>(*ElementCount(shape)) * 8;
  return Expect(out_.result.dtype, shape);
}

Status Checker::Reshape() {
  const ValueType& a = Operand(0);
  if (a.elements != out_.result.elements)
    return InvalidArgument() << "reshape from " << Str(a) << " to " << Str(out_.result) << " changes the element count";
  return Expect(a.dtype, out_.result.shape);
}

Status Checker::Transpose() {
  const ValueType& a = Operand(0);
  out_.permutation.assign(in_.attrs().permutation().begin(), in_.attrs().permutation().end());
  if (out_.permutation.size() != a.shape.size())
    return InvalidArgument() << "transpose permutation has " << out_.permutation.size() << " entries for rank "
                             << a.shape.size();
  PELEMAY_RETURN_IF_ERROR(CheckAxes(out_.permutation, a.shape.size(), "transpose"));
  Shape shape;
  for (int64_t p : out_.permutation) shape.push_back(a.shape[p]);
  return Expect(a.dtype, shape);
}

Status Checker::Broadcast() {
  const ValueType& a = Operand(0);
  const Shape& r = out_.result.shape;
  out_.axes.assign(in_.attrs().axes().begin(), in_.attrs().axes().end());
  if (out_.axes.size() != a.shape.size())
    return InvalidArgument() << "broadcast needs one axis per operand dimension: " << out_.axes.size()
                             << " axes for rank " << a.shape.size();
  PELEMAY_RETURN_IF_ERROR(CheckAxes(out_.axes, r.size(), "broadcast"));
  for (size_t i = 0; i < out_.axes.size(); ++i) {
    if (i > 0 && out_.axes[i] <= out_.axes[i - 1]) return InvalidArgument() << "broadcast axes must be increasing";
    const int64_t d = a.shape[i], rd = r[out_.axes[i]];
    if (d != 1 && d != rd)
      return InvalidArgument() << "cannot broadcast dimension " << i << " of size " << d << " to size " << rd
                               << " (axis " << out_.axes[i] << ")";
  }
  return Expect(a.dtype, r);
}

Status Checker::Slice() {
  const ValueType& a = Operand(0);
  const Shape& len = out_.result.shape;
  const size_t rank = a.shape.size();
  out_.start.assign(in_.attrs().start().begin(), in_.attrs().start().end());
  out_.strides.assign(in_.attrs().strides().begin(), in_.attrs().strides().end());
  if (out_.strides.empty()) out_.strides.assign(rank, 1);
  if (out_.start.size() != rank || out_.strides.size() != rank || len.size() != rank)
    return InvalidArgument() << "slice of rank " << rank << " needs " << rank
                             << " start indices, strides and result dimensions";
  for (size_t i = 0; i < rank; ++i) {
    if (out_.strides[i] < 1)
      return InvalidArgument() << "slice stride " << out_.strides[i] << " at axis " << i << " must be >= 1";
    if (out_.start[i] < 0 || out_.start[i] > a.shape[i])
      return InvalidArgument() << "slice start " << out_.start[i] << " is out of bounds for axis " << i << " of size "
                               << a.shape[i];
    if (len[i] == 0) continue;
    const auto span = CheckedMul(len[i] - 1, out_.strides[i]);
    const auto last = span ? CheckedAdd(out_.start[i], *span) : std::nullopt;
    if (!last || *last >= a.shape[i])
      return InvalidArgument() << "slice of " << len[i] << " elements from " << out_.start[i] << " with stride "
                               << out_.strides[i] << " runs past axis " << i << " of size " << a.shape[i];
  }
  return Expect(a.dtype, len);
}

Status Checker::Concatenate() {
  const ValueType& a = Operand(0);
  if (!in_.attrs().has_axis()) return InvalidArgument() << "concatenate needs an axis";
  const int64_t axis = in_.attrs().axis();
  if (axis < 0 || axis >= static_cast<int64_t>(a.shape.size()))
    return InvalidArgument() << "concatenate axis " << axis << " is out of range for rank " << a.shape.size();
  out_.axis = axis;
  Shape shape = a.shape;
  shape[axis] = 0;
  for (size_t i = 0; i < out_.operands.size(); ++i) {
    const ValueType& b = Operand(i);
    if (b.dtype != a.dtype)
      return InvalidArgument() << "concatenate operand " << i << " has dtype " << DTypeName(b.dtype) << ", expected "
                               << DTypeName(a.dtype);
    if (b.shape.size() != a.shape.size())
      return InvalidArgument() << "concatenate operand " << i << " has rank " << b.shape.size() << ", expected "
                               << a.shape.size();
    for (size_t d = 0; d < a.shape.size(); ++d)
      if (static_cast<int64_t>(d) != axis && b.shape[d] != a.shape[d])
        return InvalidArgument() << "concatenate operand " << i << " has shape " << ShapeString(b.shape)
                                 << ", incompatible with " << ShapeString(a.shape) << " off axis " << axis;
    const auto sum = CheckedAdd(shape[axis], b.shape[axis]);
    if (!sum) return InvalidArgument() << "concatenate result dimension overflows";
    shape[axis] = *sum;
  }
  return Expect(a.dtype, shape);
}

Status Checker::Pad() {
  const ValueType& a = Operand(0);
  const ValueType& v = Operand(1);
  if (v.dtype != a.dtype || !v.shape.empty())
    return InvalidArgument() << "pad value must be a scalar " << DTypeName(a.dtype) << ", got " << Str(v);
  const auto& pads = in_.attrs().padding();
  if (static_cast<size_t>(pads.size()) != a.shape.size())
    return InvalidArgument() << "pad needs one padding entry per axis: " << pads.size() << " for rank "
                             << a.shape.size();
  Shape shape;
  for (size_t i = 0; i < a.shape.size(); ++i) {
    const auto& p = pads[static_cast<int>(i)];
    if (p.interior() < 0)
      return InvalidArgument() << "pad interior " << p.interior() << " at axis " << i << " is negative";
    // Keeps every position the kernel computes (lo + i * (interior + 1)) far
    // from overflow; no real padding comes near 2^61.
    constexpr int64_t kPadLimit = int64_t{1} << 61;
    if (p.interior() >= kPadLimit || p.lo() <= -kPadLimit || p.lo() >= kPadLimit || p.hi() <= -kPadLimit ||
        p.hi() >= kPadLimit)
      return InvalidArgument() << "pad at axis " << i << " is out of range (|lo|, |hi|, interior < 2^61)";
    out_.padding.push_back({p.lo(), p.hi(), p.interior()});
    const int64_t d = a.shape[i];
    const auto inner = d == 0 ? std::optional<int64_t>(0) : CheckedMul(d - 1, p.interior());
    auto dim = inner ? CheckedAdd(*inner, d) : std::nullopt;
    if (dim) dim = CheckedAdd(*dim, p.lo());
    if (dim) dim = CheckedAdd(*dim, p.hi());
    if (!dim) return InvalidArgument() << "pad size at axis " << i << " overflows";
    if (*dim < 0) return InvalidArgument() << "pad at axis " << i << " crops more than the dimension (" << d << ")";
    shape.push_back(*dim);
  }
  return Expect(a.dtype, shape);
}

Status Checker::Select() {
  const ValueType& p = Operand(0);
  const ValueType& t = Operand(1);
  const ValueType& f = Operand(2);
  if (p.dtype != DType::kU8) return InvalidArgument() << "select predicate must be u8, got " << DTypeName(p.dtype);
  if (t.dtype != f.dtype)
    return InvalidArgument() << "select branches differ in dtype (" << DTypeName(t.dtype) << " vs "
                             << DTypeName(f.dtype) << ")";
  if (p.shape != t.shape || t.shape != f.shape)
    return InvalidArgument() << "select operands differ in shape (" << ShapeString(p.shape) << ", "
                             << ShapeString(t.shape) << ", " << ShapeString(f.shape) << "); insert broadcast";
  return Expect(t.dtype, t.shape);
}

Status Checker::Iota() {
  const ValueType& r = out_.result;
  if (!Accepts(info_.dtypes, r.dtype)) return Unsupported() << "iota does not produce " << DTypeName(r.dtype);
  if (in_.attrs().has_axis()) {
    const int64_t axis = in_.attrs().axis();
    if (axis < 0 || axis >= static_cast<int64_t>(r.shape.size()))
      return InvalidArgument() << "iota axis " << axis << " is out of range for rank " << r.shape.size();
    out_.axis = axis;
  }
  return Status::Ok();
}

Status Checker::Constant() {
  const ValueType& r = out_.result;
  if (!in_.attrs().has_value()) return InvalidArgument() << "constant needs a value";
  Buffer literal;
  auto value = TensorPayload(in_.attrs().value(), literal);
  if (!value.ok()) return InvalidArgument() << "constant value: " << value.status().message();
  if (value->dtype != r.dtype)
    return InvalidArgument() << "constant value is " << DTypeName(value->dtype) << ", the result "
                             << DTypeName(r.dtype);
  out_.constant_is_scalar = value->shape.empty();
  if (!out_.constant_is_scalar && value->shape != r.shape)
    return InvalidArgument() << "constant value shape " << ShapeString(value->shape)
                             << " is neither scalar nor the result shape " << ShapeString(r.shape);
  out_.constant = Buffer(static_cast<int64_t>(value->bytes.size()));
  std::copy(value->bytes.begin(), value->bytes.end(), out_.constant.bytes().begin());
  return Status::Ok();
}

Status Checker::Dot() {
  const ValueType& l = Operand(0);
  const ValueType& r = Operand(1);
  const auto& at = in_.attrs();
  out_.lhs_contract.assign(at.lhs_contract().begin(), at.lhs_contract().end());
  out_.rhs_contract.assign(at.rhs_contract().begin(), at.rhs_contract().end());
  out_.lhs_batch.assign(at.lhs_batch().begin(), at.lhs_batch().end());
  out_.rhs_batch.assign(at.rhs_batch().begin(), at.rhs_batch().end());
  if (l.dtype != r.dtype)
    return InvalidArgument() << "dot operands differ in dtype (" << DTypeName(l.dtype) << " vs " << DTypeName(r.dtype)
                             << "); insert as_type";
  if (out_.lhs_contract.size() != out_.rhs_contract.size())
    return InvalidArgument() << "dot has " << out_.lhs_contract.size() << " lhs and " << out_.rhs_contract.size()
                             << " rhs contraction axes";
  if (out_.lhs_batch.size() != out_.rhs_batch.size())
    return InvalidArgument() << "dot has " << out_.lhs_batch.size() << " lhs and " << out_.rhs_batch.size()
                             << " rhs batch axes";
  auto both = [](const std::vector<int64_t>& x, const std::vector<int64_t>& y) {
    std::vector<int64_t> z = x;
    z.insert(z.end(), y.begin(), y.end());
    return z;
  };
  PELEMAY_RETURN_IF_ERROR(CheckAxes(both(out_.lhs_batch, out_.lhs_contract), l.shape.size(), "dot lhs"));
  PELEMAY_RETURN_IF_ERROR(CheckAxes(both(out_.rhs_batch, out_.rhs_contract), r.shape.size(), "dot rhs"));
  for (size_t i = 0; i < out_.lhs_contract.size(); ++i)
    if (l.shape[out_.lhs_contract[i]] != r.shape[out_.rhs_contract[i]])
      return InvalidArgument() << "dot contracts lhs axis " << out_.lhs_contract[i] << " (size "
                               << l.shape[out_.lhs_contract[i]] << ") with rhs axis " << out_.rhs_contract[i]
                               << " (size " << r.shape[out_.rhs_contract[i]] << ")";
  Shape shape;
  for (size_t i = 0; i < out_.lhs_batch.size(); ++i) {
    if (l.shape[out_.lhs_batch[i]] != r.shape[out_.rhs_batch[i]])
      return InvalidArgument() << "dot batch axes differ in size: lhs axis " << out_.lhs_batch[i] << " vs rhs axis "
                               << out_.rhs_batch[i];
    shape.push_back(l.shape[out_.lhs_batch[i]]);
  }
  auto free_axes = [](const ValueType& t, const std::vector<int64_t>& batch, const std::vector<int64_t>& contract,
                      Shape& s) {
    for (int64_t i = 0; i < static_cast<int64_t>(t.shape.size()); ++i)
      if (std::find(batch.begin(), batch.end(), i) == batch.end() &&
          std::find(contract.begin(), contract.end(), i) == contract.end())
        s.push_back(t.shape[i]);
  };
  free_axes(l, out_.lhs_batch, out_.lhs_contract, shape);
  free_axes(r, out_.rhs_batch, out_.rhs_contract, shape);
  // Packed copies of both operands in the canonical [batch, m, k] x [batch, k, n]
  // form, the GEMM's own panel packing (bounded by its cache blocks, under
  // 2 MiB), and for f16/bf16 an f32 accumulator up to twice the output.
  int64_t scratch = l.bytes + r.bytes + (int64_t{2} << 20);
  if (l.dtype == DType::kF16 || l.dtype == DType::kBF16)
    scratch = CheckedAdd(scratch, CheckedMul(out_.result.elements, 8).value_or(INT64_MAX)).value_or(INT64_MAX);
  out_.scratch_bytes = scratch;
  return Expect(l.dtype, shape);
}

Status Checker::Reverse() {
  const ValueType& a = Operand(0);
  out_.axes.assign(in_.attrs().axes().begin(), in_.attrs().axes().end());
  PELEMAY_RETURN_IF_ERROR(CheckAxes(out_.axes, a.shape.size(), "reverse"));
  return Expect(a.dtype, a.shape);
}

Status Checker::PutSlice() {
  const ValueType& a = Operand(0);
  const ValueType& u = Operand(1);
  const size_t rank = a.shape.size();
  if (u.dtype != a.dtype)
    return InvalidArgument() << "put_slice update is " << DTypeName(u.dtype) << ", the operand " << DTypeName(a.dtype)
                             << "; insert as_type";
  out_.start.assign(in_.attrs().start().begin(), in_.attrs().start().end());
  if (u.shape.size() != rank || out_.start.size() != rank)
    return InvalidArgument() << "put_slice into rank " << rank << " needs an update of rank " << rank << " and " << rank
                             << " start indices, got rank " << u.shape.size() << " and " << out_.start.size();
  for (size_t i = 0; i < rank; ++i) {
    // start <= dim - len, written so that nothing overflows (dims and
    // lengths are non-negative, start is checked first).
    if (out_.start[i] < 0 || u.shape[i] > a.shape[i] || out_.start[i] > a.shape[i] - u.shape[i])
      return InvalidArgument() << "put_slice of " << u.shape[i] << " elements at " << out_.start[i]
                               << " does not fit axis " << i << " of size " << a.shape[i];
  }
  return Expect(a.dtype, a.shape);
}

// Operand i holds indices: any integer dtype.
Status Checker::CheckIndexOperand(size_t i) const {
  const DType t = Operand(i).dtype;
  if (!IsInteger(t)) return InvalidArgument() << info_.name << " indices must be an integer type, got " << DTypeName(t);
  return Status::Ok();
}

// The required `axis` attribute, in [0, rank).
Status Checker::AxisAttribute(size_t rank) {
  if (!in_.attrs().has_axis()) return InvalidArgument() << info_.name << " needs an axis";
  const int64_t axis = in_.attrs().axis();
  if (axis < 0 || axis >= static_cast<int64_t>(rank))
    return InvalidArgument() << info_.name << " axis " << axis << " is out of range for rank " << rank;
  out_.axis = axis;
  return Status::Ok();
}

// Every index is converted to s64 once before the kernel runs.
int64_t IndexScratch(const ValueType& indices) { return CheckedMul(indices.elements, 8).value_or(INT64_MAX); }

Status Checker::Take() {
  const ValueType& a = Operand(0);
  const ValueType& idx = Operand(1);
  PELEMAY_RETURN_IF_ERROR(CheckIndexOperand(1));
  PELEMAY_RETURN_IF_ERROR(AxisAttribute(a.shape.size()));
  Shape shape(a.shape.begin(), a.shape.begin() + *out_.axis);
  shape.insert(shape.end(), idx.shape.begin(), idx.shape.end());
  shape.insert(shape.end(), a.shape.begin() + *out_.axis + 1, a.shape.end());
  out_.scratch_bytes = IndexScratch(idx);
  return Expect(a.dtype, shape);
}

Status Checker::TakeAlongAxis() {
  const ValueType& a = Operand(0);
  const ValueType& idx = Operand(1);
  PELEMAY_RETURN_IF_ERROR(CheckIndexOperand(1));
  PELEMAY_RETURN_IF_ERROR(AxisAttribute(a.shape.size()));
  if (idx.shape.size() != a.shape.size())
    return InvalidArgument() << "take_along_axis indices have rank " << idx.shape.size() << ", the operand "
                             << a.shape.size();
  for (size_t i = 0; i < a.shape.size(); ++i)
    if (static_cast<int64_t>(i) != *out_.axis && idx.shape[i] != a.shape[i])
      return InvalidArgument() << "take_along_axis indices " << ShapeString(idx.shape) << " differ from the operand "
                               << ShapeString(a.shape) << " at axis " << i << " (only axis " << *out_.axis << " may)";
  out_.scratch_bytes = IndexScratch(idx);
  return Expect(a.dtype, idx.shape);
}

// The axes the last indices dimension addresses: as many as that dimension,
// unique and in range (any order: index m of a row goes to axes[m]).
Status IndexedAxes(std::string_view op, const std::vector<int64_t>& axes, const ValueType& target,
                   const ValueType& indices) {
  if (indices.shape.empty()) return InvalidArgument() << op << " indices must have rank >= 1";
  const int64_t depth = indices.shape.back();
  if (static_cast<int64_t>(axes.size()) != depth)
    return InvalidArgument() << op << " has " << axes.size() << " axes for indices whose last dimension is " << depth;
  return CheckAxes(axes, target.shape.size(), std::string(op).c_str());
}

// The target's axes not listed in `axes`, in order.
std::vector<int64_t> WindowAxes(size_t rank, const std::vector<int64_t>& axes) {
  std::vector<int64_t> window;
  for (int64_t i = 0; i < static_cast<int64_t>(rank); ++i)
    if (std::find(axes.begin(), axes.end(), i) == axes.end()) window.push_back(i);
  return window;
}

Status Checker::Gather() {
  const ValueType& a = Operand(0);
  const ValueType& idx = Operand(1);
  PELEMAY_RETURN_IF_ERROR(CheckIndexOperand(1));
  out_.axes.assign(in_.attrs().axes().begin(), in_.attrs().axes().end());
  PELEMAY_RETURN_IF_ERROR(IndexedAxes(info_.name, out_.axes, a, idx));
  Shape shape(idx.shape.begin(), idx.shape.end() - 1);
  for (int64_t w : WindowAxes(a.shape.size(), out_.axes)) shape.push_back(a.shape[w]);
  // The indices as s64 and one operand offset per window element.
  const int64_t window = *ElementCount(shape) == 0 ? 0 : a.elements;
  out_.scratch_bytes = CheckedAdd(IndexScratch(idx), CheckedMul(window, 8).value_or(INT64_MAX)).value_or(INT64_MAX);
  return Expect(a.dtype, shape);
}

Status Checker::Scatter() {
  const ValueType& t = Operand(0);
  const ValueType& idx = Operand(1);
  const ValueType& u = Operand(2);
  PELEMAY_RETURN_IF_ERROR(CheckIndexOperand(1));
  if (u.dtype != t.dtype)
    return InvalidArgument() << info_.name << " updates are " << DTypeName(u.dtype) << ", the target "
                             << DTypeName(t.dtype) << "; insert as_type";
  if (idx.shape.size() != 2)
    return InvalidArgument() << info_.name << " indices must have rank 2 ({rows, axes}), got "
                             << ShapeString(idx.shape);
  out_.axes.assign(in_.attrs().axes().begin(), in_.attrs().axes().end());
  PELEMAY_RETURN_IF_ERROR(IndexedAxes(info_.name, out_.axes, t, idx));
  const auto window_axes = WindowAxes(t.shape.size(), out_.axes);
  if (u.shape.size() != 1 + window_axes.size() || u.shape[0] != idx.shape[0])
    return InvalidArgument() << info_.name << " updates " << ShapeString(u.shape) << " must be {" << idx.shape[0]
                             << "} followed by one dimension per target axis not indexed (" << window_axes.size()
                             << ")";
  // Each updates row is a block placed at the origin of the target's other
  // axes: it may be smaller than the target there, never larger.
  for (size_t j = 0; j < window_axes.size(); ++j)
    if (u.shape[j + 1] > t.shape[window_axes[j]])
      return InvalidArgument() << info_.name << " updates dimension " << j + 1 << " (" << u.shape[j + 1]
                               << ") is larger than target axis " << window_axes[j] << " (" << t.shape[window_axes[j]]
                               << ")";
  // The indices as s64, one target offset per window element and one per
  // indices row, and for
  // indexed_add of floats an f64 (complex: c128) accumulator and a touched
  // flag per target element.
  const auto offsets = CheckedAdd(t.elements, idx.shape[0]);
  int64_t scratch =
      CheckedAdd(IndexScratch(idx), CheckedMul(offsets.value_or(INT64_MAX), 8).value_or(INT64_MAX)).value_or(INT64_MAX);
  if (out_.op == OpCode::indexed_add && !IsInteger(t.dtype))
    scratch = CheckedAdd(scratch, CheckedMul(t.elements, 17).value_or(INT64_MAX)).value_or(INT64_MAX);
  out_.scratch_bytes = scratch;
  return Expect(t.dtype, t.shape);
}

// Linear algebra: operand 0 is a batch of matrices [..., m, n] (square but
// for qr); the result shape follows Nx.Shape's rules for the op.
Status Checker::LinAlg() {
  const ValueType& a = Operand(0);
  const auto& at = in_.attrs();
  const OpCode op = out_.op;
  const bool is_eigh = op == OpCode::eigh;
  out_.left_side = !at.has_left_side() || at.left_side();
  out_.lower = !at.has_lower() || at.lower();
  out_.transpose_a = at.has_transpose_a() && at.transpose_a();
  out_.eps = at.has_eps() ? at.eps() : (is_eigh ? 1e-4 : 1e-10);
  if (std::isnan(out_.eps)) return InvalidArgument() << info_.name << " eps must not be NaN";
  if (at.has_max_iter()) {
    // Nx would iterate as often as asked; a bound keeps one instruction from
    // running for days (unshifted QR never converges on some inputs).
    constexpr int64_t kMaxIter = 1'000'000;
    if (at.max_iter() < 1 || at.max_iter() > kMaxIter)
      return InvalidArgument() << info_.name << " max_iter must be in 1.." << kMaxIter << ", got " << at.max_iter();
    out_.max_iter = at.max_iter();
  }
  const size_t rank = a.shape.size();
  if (rank < 2) return InvalidArgument() << info_.name << " needs a batch of matrices (rank >= 2), got " << Str(a);
  const int64_t m = a.shape[rank - 2], n = a.shape[rank - 1];
  const Shape batch(a.shape.begin(), a.shape.end() - 2);
  if (op != OpCode::qr_q && op != OpCode::qr_r && m != n)
    return InvalidArgument() << info_.name << " needs square matrices, got " << Str(a);
  const DType rt = out_.result.dtype;
  // Complex results exactly when an operand is complex (Nx's type merge),
  // never dropping a part: triangular_solve (either operand), lu,
  // determinant and eigh (their one operand). cholesky and qr are real only.
  const bool one_operand_complex =
      op == OpCode::lu_p || op == OpCode::lu_l || op == OpCode::lu_u || op == OpCode::determinant || op == OpCode::eigh;
  const bool complex_op = (op == OpCode::triangular_solve && (IsComplex(a.dtype) || IsComplex(Operand(1).dtype))) ||
                          (one_operand_complex && IsComplex(a.dtype));
  if (complex_op != IsComplex(rt) || (!complex_op && (op == OpCode::lu_p ? !IsReal(rt) : !IsFloat(rt))))
    return InvalidArgument() << info_.name << " cannot produce " << DTypeName(rt);
  auto with = [&](std::initializer_list<int64_t> dims) {
    Shape s = batch;
    s.insert(s.end(), dims);
    return s;
  };
  int64_t b_elements = 0;
  switch (op) {
    case OpCode::triangular_solve: {
      const ValueType& b = Operand(1);
      const bool vector =
          b.shape.size() + 1 == rank && std::equal(batch.begin(), batch.end(), b.shape.begin()) && b.shape.back() == n;
      const bool matrix = b.shape.size() == rank && std::equal(batch.begin(), batch.end(), b.shape.begin()) &&
                          b.shape[rank - (out_.left_side ? 2 : 1)] == n;
      if (!vector && !matrix)
        return InvalidArgument() << "triangular_solve: b " << Str(b) << " does not fit a " << Str(a)
                                 << (out_.left_side ? " (a x = b)" : " (x a = b)");
      b_elements = b.elements;
      PELEMAY_RETURN_IF_ERROR(Expect(rt, b.shape));
      break;
    }
    case OpCode::determinant: PELEMAY_RETURN_IF_ERROR(Expect(rt, batch)); break;
    case OpCode::eigh: PELEMAY_RETURN_IF_ERROR(Expect(rt, with({n + 1, n}))); break;
    case OpCode::qr_q:
    case OpCode::qr_r: {
      const int64_t k = std::min(m, n);
      const Shape reduced = op == OpCode::qr_q ? with({m, k}) : with({k, n});
      const Shape complete = op == OpCode::qr_q ? with({m, m}) : with({m, n});
      if (out_.result.shape != reduced && out_.result.shape != complete)
        return InvalidArgument() << info_.name << " of " << Str(a) << " produces " << ShapeString(reduced) << " or "
                                 << ShapeString(complete) << ", not " << Str(out_.result);
      break;
    }
    default: PELEMAY_RETURN_IF_ERROR(Expect(rt, a.shape)); break;
  }
  out_.scratch_bytes = kernels::LinAlgScratchBytes(op, m, n, b_elements);
  // Complex temporaries are twice as wide.
  if (complex_op) out_.scratch_bytes = CheckedMul(out_.scratch_bytes, 2).value_or(INT64_MAX);
  return Status::Ok();
}

// Window sizes, strides and dilations stay below 2^31 and padding below
// 2^40 in magnitude: every index the kernels compute (o * stride + k *
// dilation - lo) then stays far from int64 overflow. No real model comes near.
constexpr int64_t kMaxWindowParam = int64_t{1} << 31;
constexpr int64_t kMaxWindowPad = int64_t{1} << 40;

// A per-axis attribute: n entries each in [1, 2^31], or empty for all `fill`.
Status Checker::PerAxis(const google::protobuf::RepeatedField<int64_t>& field, const char* name, size_t n, int64_t fill,
                        std::vector<int64_t>& out) {
  out.assign(field.begin(), field.end());
  if (out.empty()) out.assign(n, fill);
  if (out.size() != n)
    return InvalidArgument() << info_.name << " needs " << n << " " << name << " entries, got " << out.size();
  for (size_t i = 0; i < n; ++i)
    if (out[i] < 1 || out[i] > kMaxWindowParam)
      return InvalidArgument() << info_.name << " " << name << " " << out[i] << " at axis " << i
                               << " is out of range [1, 2^31]";
  return Status::Ok();
}

// padding: n entries of lo/hi with interior 0 (or empty for none).
Status Checker::LoHi(size_t n) {
  const auto& pads = in_.attrs().padding();
  if (pads.empty()) out_.padding.assign(n, PadSpec{});
  else if (static_cast<size_t>(pads.size()) != n)
    return InvalidArgument() << info_.name << " needs " << n << " padding entries, got " << pads.size();
  for (int i = 0; i < pads.size(); ++i) {
    const auto& p = pads[i];
    if (p.interior() != 0)
      return InvalidArgument() << info_.name << " padding at axis " << i << " has interior " << p.interior()
                               << "; only lo/hi are allowed";
    if (p.lo() < -kMaxWindowPad || p.lo() > kMaxWindowPad || p.hi() < -kMaxWindowPad || p.hi() > kMaxWindowPad)
      return InvalidArgument() << info_.name << " padding at axis " << i << " is out of range (|lo|, |hi| <= 2^40)";
    out_.padding.push_back({p.lo(), p.hi(), 0});
  }
  return Status::Ok();
}

// window_dimensions, strides, padding (and dilations for reductions) over
// operand `a`; `counts` gets the number of windows per axis.
Status Checker::WindowGridOf(const ValueType& a, Shape& counts) {
  const size_t rank = a.shape.size();
  const auto& at = in_.attrs();
  out_.window_dimensions.assign(at.window_dimensions().begin(), at.window_dimensions().end());
  if (out_.window_dimensions.size() != rank)
    return InvalidArgument() << info_.name << " needs one window dimension per axis: " << out_.window_dimensions.size()
                             << " for rank " << rank;
  std::vector<int64_t> ignored;
  PELEMAY_RETURN_IF_ERROR(PerAxis(at.window_dimensions(), "window dimension", rank, 1, ignored));
  PELEMAY_RETURN_IF_ERROR(PerAxis(at.strides(), "stride", rank, 1, out_.strides));
  PELEMAY_RETURN_IF_ERROR(PerAxis(at.window_dilations(), "window dilation", rank, 1, out_.window_dilations));
  PELEMAY_RETURN_IF_ERROR(LoHi(rank));
  for (size_t i = 0; i < rank; ++i) {
    const auto n = kernels::WindowCount(a.shape[i], out_.padding[i].lo, out_.padding[i].hi, out_.window_dimensions[i],
                                        out_.strides[i], out_.window_dilations[i]);
    if (!n || *n < 0)
      return InvalidArgument() << info_.name << " has no window position along axis " << i << " (size " << a.shape[i]
                               << " padded by " << out_.padding[i].lo << "/" << out_.padding[i].hi << ", window "
                               << out_.window_dimensions[i] << " dilated by " << out_.window_dilations[i] << ")";
    counts.push_back(*n);
  }
  return Status::Ok();
}

Status Checker::WindowReduce() {
  const ValueType& a = Operand(0);
  Shape counts;
  PELEMAY_RETURN_IF_ERROR(WindowGridOf(a, counts));
  return Expect(a.dtype, counts);
}

Status Checker::WindowScatter() {
  const ValueType& t = Operand(0);
  const ValueType& src = Operand(1);
  const ValueType& init = Operand(2);
  Shape counts;
  PELEMAY_RETURN_IF_ERROR(WindowGridOf(t, counts));
  if (src.shape != counts)
    return InvalidArgument() << info_.name << " source has shape " << ShapeString(src.shape) << ", the windows "
                             << ShapeString(counts);
  if (init.dtype != src.dtype || !init.shape.empty())
    return InvalidArgument() << info_.name << " init value must be a scalar " << DTypeName(src.dtype) << ", got "
                             << Str(init);
  return Expect(src.dtype, t.shape);
}

Status Checker::Conv() {
  const ValueType& x = Operand(0);
  const ValueType& k = Operand(1);
  const auto& at = in_.attrs();
  if (x.dtype != k.dtype)
    return InvalidArgument() << "conv operands differ in dtype (" << DTypeName(x.dtype) << " vs " << DTypeName(k.dtype)
                             << "); insert as_type";
  if (x.shape.size() < 2 || k.shape.size() != x.shape.size())
    return InvalidArgument() << "conv needs input and kernel of one rank >= 2, got " << ShapeString(x.shape) << " and "
                             << ShapeString(k.shape);
  const size_t sp = x.shape.size() - 2;
  PELEMAY_RETURN_IF_ERROR(PerAxis(at.strides(), "stride", sp, 1, out_.strides));
  PELEMAY_RETURN_IF_ERROR(PerAxis(at.input_dilation(), "input dilation", sp, 1, out_.input_dilation));
  PELEMAY_RETURN_IF_ERROR(PerAxis(at.kernel_dilation(), "kernel dilation", sp, 1, out_.kernel_dilation));
  PELEMAY_RETURN_IF_ERROR(LoHi(sp));
  const int64_t fg = at.has_feature_group_size() ? at.feature_group_size() : 1;
  const int64_t bg = at.has_batch_group_size() ? at.batch_group_size() : 1;
  if (fg < 1 || bg < 1 || fg > kMaxWindowParam || bg > kMaxWindowParam)
    return InvalidArgument() << "conv group sizes must be in [1, 2^31], got feature " << fg << ", batch " << bg;
  if (fg > 1 && bg > 1)
    return InvalidArgument() << "conv takes feature groups or batch groups, not both (" << fg << ", " << bg << ")";
  out_.feature_groups = fg;
  out_.batch_groups = bg;
  const int64_t n = x.shape[0], c = x.shape[1], o = k.shape[0], i = k.shape[1];
  if (c != i * fg)
    return InvalidArgument() << "conv input has " << c << " channels, the kernel " << i << " x " << fg
                             << " feature groups";
  if (o % (fg * bg) != 0)
    return InvalidArgument() << "conv kernel's " << o << " output channels do not split into " << fg * bg << " groups";
  if (n % bg != 0)
    return InvalidArgument() << "conv batch of " << n << " does not split into " << bg << " batch groups";
  Shape shape = {n / bg, o};
  for (size_t d = 0; d < sp; ++d) {
    // The input as Nx dilates and pads it, the kernel as it dilates it.
    const int64_t s = x.shape[2 + d], kd = k.shape[2 + d];
    const auto dilated = s == 0 ? std::optional<int64_t>(0) : CheckedMul(s - 1, out_.input_dilation[d]);
    const auto kspan = kd == 0 ? std::optional<int64_t>(0) : CheckedMul(kd - 1, out_.kernel_dilation[d]);
    if (!dilated || !kspan || *dilated > kMaxWindowPad || *kspan > kMaxWindowPad)
      return InvalidArgument() << "conv spatial axis " << d << " is out of range";
    // In range of int64: each term is at most 2^40 in magnitude.
    const int64_t padded = *dilated + (s == 0 ? 0 : 1) + out_.padding[d].lo + out_.padding[d].hi;
    const int64_t diff = padded - (kd == 0 ? 0 : *kspan + 1);
    // floor division, as Nx.Shape.conv; no position left is an empty axis.
    const int64_t q = diff >= 0 ? diff / out_.strides[d] : -((-diff + out_.strides[d] - 1) / out_.strides[d]);
    shape.push_back(std::max<int64_t>(q + 1, 0));
  }
  PELEMAY_RETURN_IF_ERROR(Expect(x.dtype, shape));
  out_.scratch_bytes = kernels::ConvScratchBytes(x.dtype, k.shape, shape, fg, bg);
  return Status::Ok();
}

// Temporary memory of a kernel that buffers whole lines along `axis`
// (executor/kernels/lines.h): `bytes_per_element` for each of `line_length`
// elements, for as many lines as run at once.
int64_t LineScratch(const ValueType& a, int64_t axis, int64_t line_length, int64_t bytes_per_element) {
  int64_t lines = 1;
  for (size_t i = 0; i < a.shape.size(); ++i)
    if (static_cast<int64_t>(i) != axis) lines *= a.shape[i];  // bounded by CheckShape
  const auto per_line = CheckedMul(line_length, bytes_per_element);
  const auto all = per_line ? CheckedMul(*per_line, std::min(lines, kernels::kMaxLineWorkers)) : std::nullopt;
  return all.value_or(INT64_MAX);
}

// Sort, scan and FFT ops work along one axis, required and in range (so they
// need rank >= 1; the builder reshapes a scalar to [1]).
Status Checker::Sort() {
  const ValueType& a = Operand(0);
  PELEMAY_RETURN_IF_ERROR(AxisAttribute(a.shape.size()));
  out_.descending = in_.attrs().descending();
  // A line of (key, 64-bit index) pairs.
  out_.scratch_bytes = LineScratch(a, *out_.axis, a.shape[*out_.axis], 16);
  if (out_.op == OpCode::argsort) {
    if (!IsInteger(out_.result.dtype))
      return InvalidArgument() << "argsort must produce an integer type, not " << DTypeName(out_.result.dtype);
    return Expect(out_.result.dtype, a.shape);
  }
  return Expect(a.dtype, a.shape);
}

Status Checker::Scan() {
  const ValueType& a = Operand(0);
  PELEMAY_RETURN_IF_ERROR(AxisAttribute(a.shape.size()));
  out_.reverse = in_.attrs().reverse();
  // A line and the halving levels of the pairwise scan (under one line),
  // each element at most 16 bytes.
  out_.scratch_bytes = LineScratch(a, *out_.axis, a.shape[*out_.axis], 32);
  return Expect(a.dtype, a.shape);
}

Status Checker::ComplexPart() {
  const ValueType& a = Operand(0);
  return Expect(out_.op == OpCode::conjugate ? a.dtype : RealPart(a.dtype), a.shape);
}

Status Checker::Fft() {
  const ValueType& a = Operand(0);
  const auto& at = in_.attrs();
  PELEMAY_RETURN_IF_ERROR(AxisAttribute(a.shape.size()));
  if (!at.has_length()) return InvalidArgument() << info_.name << " needs a length";
  if (at.length() < 1) return InvalidArgument() << info_.name << " length " << at.length() << " must be >= 1";
  out_.length = at.length();
  out_.eps = at.has_eps() ? at.eps() : 1e-10;  // Nx's default
  if (!(out_.eps >= 0) || std::isinf(out_.eps))
    return InvalidArgument() << info_.name << " eps " << out_.eps << " must be finite and >= 0";
  if (!IsComplex(out_.result.dtype))
    return InvalidArgument() << info_.name << " must produce a complex type, not " << DTypeName(out_.result.dtype);
  Shape shape = a.shape;
  shape[*out_.axis] = out_.length;
  // 16-byte complex f64 buffers per line: the padded line and two radix-2
  // work areas; Bluestein (lengths >= 1024 that are not powers of two) works
  // over m < 4 * length, line + 3m (under 13 per element). 384 bytes per
  // element bounds both. Shared by all lines: the twiddle tables, odd^2 for
  // the direct DFT of the odd factor (odd <= 1023) and under 17 * length
  // for the radix-2 levels and Bluestein's chirp and its transform.
  const int64_t line = std::max(out_.length, a.shape[*out_.axis]);
  const bool bluestein = out_.length >= 1024 && (out_.length & (out_.length - 1)) != 0;
  int64_t odd = bluestein ? 1 : out_.length;
  while (odd % 2 == 0) odd /= 2;
  const auto shared = CheckedMul(out_.length, 17 * 16);
  const auto lines = LineScratch(a, *out_.axis, line, 384);
  out_.scratch_bytes = shared ? CheckedAdd(lines, *shared + odd * odd * 16).value_or(INT64_MAX) : INT64_MAX;
  return Expect(out_.result.dtype, shape);
}

}  // namespace

StatusOr<CheckedProgram> Validate(const v1::Program& program, const Limits& limits) {
  CheckedProgram prog;
  if (program.instructions_size() > limits.max_instructions)
    return ResourceExhausted() << "program has " << program.instructions_size() << " instructions; the limit is "
                               << limits.max_instructions;
  for (int i = 0; i < program.inputs_size(); ++i) {
    auto t = FromProto(program.inputs(i));
    if (!t.ok()) return InvalidArgument() << "program input " << i << ": " << t.status().message();
    prog.inputs.push_back(std::move(*t));
  }
  const size_t num_values = prog.inputs.size() + program.instructions_size();
  prog.last_use.assign(num_values, -1);

  for (int i = 0; i < program.instructions_size(); ++i) {
    const v1::Instruction& in = program.instructions(i);
    CheckedInstruction ci;
    auto fail = [&](Status s) { return s.AtInstruction(i); };
    const auto op = OpFromName(in.op());
    if (!op) return fail(Unsupported() << "unknown op '" << in.op() << "'");
    ci.op = *op;
    const uint32_t defined = static_cast<uint32_t>(prog.inputs.size() + i);
    for (uint32_t v : in.operands()) {
      if (v >= defined)
        return fail(InvalidArgument() << "operand %" << v << " is not defined before instruction " << i
                                      << " (values 0.." << defined << " exclusive are)");
      ci.operands.push_back(v);
      prog.last_use[v] = i;
    }
    auto result = FromProto(in.result());
    if (!result.ok()) return fail(InvalidArgument() << "result type: " << result.status().message());
    ci.result = std::move(*result);
    Checker checker(prog, in, ci);
    Status st = checker.Run();
    if (!st.ok()) return fail(std::move(st));
    prog.instructions.push_back(std::move(ci));
  }

  if (program.outputs_size() == 0) return InvalidArgument() << "program has no outputs";
  for (uint32_t v : program.outputs()) {
    if (v >= num_values) return InvalidArgument() << "output %" << v << " is not a value of the program";
    prog.outputs.push_back(v);
  }

  // Peak memory, simulating the interpreter: each instruction allocates its
  // result and scratch, then frees operands past their last use. Outputs and
  // inputs stay live (inputs live in the request, counted by the frame limit).
  std::vector<bool> is_output(num_values, false);
  for (uint32_t v : prog.outputs) is_output[v] = true;
  int64_t live = 0, peak = 0;
  for (size_t i = 0; i < prog.instructions.size(); ++i) {
    const auto& ci = prog.instructions[i];
    const auto with_result = CheckedAdd(live, ci.result.bytes);
    const auto at_peak = with_result ? CheckedAdd(*with_result, ci.scratch_bytes) : std::nullopt;
    if (!at_peak || *at_peak > limits.memory_budget_bytes)
      return Status(ErrorCode::kResourceExhausted,
                    "program needs more than the memory budget of " + std::to_string(limits.memory_budget_bytes) +
                        " bytes at this instruction",
                    static_cast<int64_t>(i));
    peak = std::max(peak, *at_peak);
    live = *with_result;
    for (uint32_t v : ci.operands) {
      if (v >= prog.inputs.size() && prog.last_use[v] == static_cast<int64_t>(i) && !is_output[v])
        live -= prog.type_of(v).bytes;
    }
    const uint32_t self = static_cast<uint32_t>(prog.inputs.size() + i);
    if (prog.last_use[self] < 0 && !is_output[self]) live -= ci.result.bytes;  // dead value
  }
  prog.peak_bytes = peak;
  return prog;
}

Status ValidateInputs(const CheckedProgram& program, const std::vector<ConstTensorView>& inputs) {
  if (inputs.size() != program.inputs.size())
    return InvalidArgument() << "program takes " << program.inputs.size() << " input(s), got " << inputs.size();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& want = program.inputs[i];
    const auto& got = inputs[i];
    if (got.dtype != want.dtype || got.shape != want.shape)
      return InvalidArgument() << "input " << i << " is " << TypeString(got.dtype, got.shape)
                               << ", the program declares " << Str(want);
    if (static_cast<int64_t>(got.bytes.size()) != want.bytes)
      return InvalidArgument() << "input " << i << " carries " << got.bytes.size() << " bytes, " << Str(want)
                               << " needs " << want.bytes;
  }
  return Status::Ok();
}

}  // namespace pelemay
