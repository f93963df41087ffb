#include "executor/server/tensor_printer.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace pelemay {
namespace {

std::string FormatFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Inf" : "-Inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  std::string s = buf;
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

template <class T>
std::string FormatElement(T v) {
  if constexpr (kIsComplex<T>) {
    const double im = static_cast<double>(v.imag());
    return FormatFloat(static_cast<double>(v.real())) + (im < 0 || std::signbit(im) ? "-" : "+") +
           FormatFloat(std::fabs(im)) + "i";
  } else if constexpr (kIsHalf<T>) {
    return FormatFloat(static_cast<double>(static_cast<float>(v)));
  } else if constexpr (std::is_floating_point_v<T>) {
    return FormatFloat(static_cast<double>(v));
  } else {
    return std::to_string(static_cast<std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>(v));
  }
}

}  // namespace

std::string FormatTensor(const ConstTensorView& t, int64_t limit) {
  std::ostringstream os;
  os << DTypeName(t.dtype);
  for (int64_t d : t.shape) os << '[' << d << ']';
  os << "\n";
  VisitDType(t.dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto data = t.as<T>();
    const int64_t n = static_cast<int64_t>(data.size());
    if (t.shape.empty()) {
      os << FormatElement(data[0]);
      return;
    }
    const auto strides = Strides(t.shape);
    int64_t printed = 0;
    // Recursive bracket printing by axis.
    auto rec = [&](auto&& self, size_t axis, int64_t offset) -> void {
      os << '[';
      for (int64_t i = 0; i < t.shape[axis]; ++i) {
        if (printed >= limit) {
          os << "...";
          break;
        }
        if (i > 0) os << (axis + 1 == t.shape.size() ? ", " : ",\n" + std::string(axis + 1, ' '));
        if (axis + 1 == t.shape.size()) {
          os << FormatElement(data[offset + i]);
          ++printed;
        } else {
          self(self, axis + 1, offset + i * strides[axis]);
        }
      }
      os << ']';
    };
    if (n == 0 && t.shape.size() == 1) {
      os << "[]";
      return;
    }
    rec(rec, 0, 0);
  });
  return os.str();
}

}  // namespace pelemay
