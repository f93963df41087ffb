// The executor's one error type. Every failure a caller can see is a Status
// whose code is the protocol's ErrorCode; kernels, the validator and the server
// all return it, and the server copies it into pelemay.v1.Error unchanged.
#pragma once

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

namespace pelemay {

// Same numbering as pelemay.v1.ErrorCode.
enum class ErrorCode : int {
  kOk = 0,
  kInvalidArgument = 1,
  kUnsupported = 2,
  kResourceExhausted = 3,
  kCancelled = 4,
  kDeadlineExceeded = 5,
  kInternal = 6,
  kNotFound = 7,
};

const char* ErrorCodeName(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string message, std::optional<int64_t> instruction = std::nullopt)
      : code_(code), message_(std::move(message)), instruction_(instruction) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::optional<int64_t> instruction() const { return instruction_; }

  // Attaches the index of the instruction being validated or run, unless one
  // is already set by a deeper layer.
  Status& AtInstruction(int64_t index) {
    if (!instruction_) instruction_ = index;
    return *this;
  }
  std::string ToString() const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
  std::optional<int64_t> instruction_;
};

// Builds a message with stream syntax: Err(kInvalidArgument) << "axis " << a.
class ErrorBuilder {
 public:
  explicit ErrorBuilder(ErrorCode code) : code_(code) {}
  template <class T>
  ErrorBuilder& operator<<(const T& v) {
    os_ << v;
    return *this;
  }
  operator Status() const { return Status(code_, os_.str()); }  // NOLINT(google-explicit-constructor)

 private:
  ErrorCode code_;
  std::ostringstream os_;
};

inline ErrorBuilder InvalidArgument() { return ErrorBuilder(ErrorCode::kInvalidArgument); }
inline ErrorBuilder Unsupported() { return ErrorBuilder(ErrorCode::kUnsupported); }
inline ErrorBuilder ResourceExhausted() { return ErrorBuilder(ErrorCode::kResourceExhausted); }
inline ErrorBuilder Internal() { return ErrorBuilder(ErrorCode::kInternal); }

// A value or the Status explaining why there is none.
template <class T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  StatusOr(Status status) : status_(std::move(status)) {}  // NOLINT(google-explicit-constructor)
  StatusOr(const ErrorBuilder& b) : status_(b) {}          // NOLINT(google-explicit-constructor)
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  T* operator->() { return &*value_; }
  T& operator*() { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

#define PELEMAY_RETURN_IF_ERROR(expr) \
  do {                                \
    ::pelemay::Status _st = (expr);   \
    if (!_st.ok()) return _st;        \
  } while (0)

}  // namespace pelemay
