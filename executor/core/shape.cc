#include "executor/core/shape.h"

#include <algorithm>
#include <sstream>

namespace pelemay {

std::optional<int64_t> CheckedMul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

std::optional<int64_t> CheckedAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

std::optional<int64_t> ElementCount(std::span<const int64_t> shape) {
  int64_t n = 1;
  bool has_zero = false;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d == 0) has_zero = true;
  }
  if (has_zero) return 0;
  for (int64_t d : shape) {
    auto m = CheckedMul(n, d);
    if (!m) return std::nullopt;
    n = *m;
  }
  return n;
}

std::optional<int64_t> ByteSize(DType dtype, std::span<const int64_t> shape) {
  auto n = ElementCount(shape);
  if (!n) return std::nullopt;
  return CheckedMul(*n, static_cast<int64_t>(DTypeSize(dtype)));
}

Status CheckShape(DType dtype, std::span<const int64_t> shape) {
  if (shape.size() > kMaxRank)
    return InvalidArgument() << "rank " << shape.size() << " exceeds the maximum " << kMaxRank;
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] < 0) return InvalidArgument() << "negative dimension " << shape[i] << " at axis " << i;
  if (!ByteSize(dtype, shape)) return InvalidArgument() << "byte size of " << TypeString(dtype, shape) << " overflows";
  // A tensor with a zero dimension holds nothing, but kernels still walk its
  // other axes (batch loops, strides, index rows): bound their product, so
  // that f32[2^62, 0] cannot make a loop spin 2^62 times or a stride
  // overflow.
  const bool empty = std::find(shape.begin(), shape.end(), 0) != shape.end();
  int64_t extent = 1;
  for (const int64_t d : shape) {
    if (d == 0) continue;
    const auto m = CheckedMul(extent, d);
    if (!m || *m > kMaxEmptyExtent) {
      extent = kMaxEmptyExtent + 1;
      break;
    }
    extent = *m;
  }
  if (empty && extent > kMaxEmptyExtent)
    return InvalidArgument() << TypeString(dtype, shape)
                             << " is empty, but its non-zero dimensions multiply to more than " << kMaxEmptyExtent;
  return Status::Ok();
}

std::vector<int64_t> Strides(std::span<const int64_t> shape) {
  std::vector<int64_t> s(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

std::string ShapeString(std::span<const int64_t> shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

std::string TypeString(DType dtype, std::span<const int64_t> shape) {
  return std::string(DTypeName(dtype)) + ShapeString(shape);
}

}  // namespace pelemay
