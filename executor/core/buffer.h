// Tensor memory owned by the executor, and typed views over any tensor bytes
// (owned, inside a request frame, or in a mapped arena).
//
// Every Buffer is counted by a MemoryAccount so the executor can report live
// and peak bytes (Stats) and so the validator's budget has a runtime twin.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "executor/core/dtype.h"
#include "executor/core/shape.h"

namespace pelemay {

class MemoryAccount {
 public:
  void Add(int64_t bytes);
  void Sub(int64_t bytes);
  int64_t live() const { return live_.load(std::memory_order_relaxed); }
  int64_t peak() const { return peak_.load(std::memory_order_relaxed); }
  static MemoryAccount& Global();

 private:
  std::atomic<int64_t> live_{0};
  std::atomic<int64_t> peak_{0};
};

// 64-byte aligned, uninitialised, counted bytes. Move-only.
class Buffer {
 public:
  Buffer() = default;
  // Allocates; throws std::bad_alloc if the system has no memory (the
  // validator's budget keeps this from happening on accepted programs).
  explicit Buffer(int64_t bytes);
  Buffer(Buffer&&) noexcept;
  Buffer& operator=(Buffer&&) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();

  std::span<std::byte> bytes() { return {data_.get(), static_cast<size_t>(size_)}; }
  std::span<const std::byte> bytes() const { return {data_.get(), static_cast<size_t>(size_)}; }
  int64_t size() const { return size_; }

 private:
  struct Free {
    void operator()(std::byte* p) const;
  };
  std::unique_ptr<std::byte, Free> data_;
  int64_t size_ = 0;
};

// A tensor's type and bytes without ownership.
struct ConstTensorView {
  DType dtype = DType::kInvalid;
  Shape shape;
  std::span<const std::byte> bytes;

  int64_t size() const { return static_cast<int64_t>(bytes.size() / DTypeSize(dtype)); }
  template <class T>
  std::span<const T> as() const {
    return {reinterpret_cast<const T*>(bytes.data()), bytes.size() / sizeof(T)};
  }
};

struct TensorView {
  DType dtype = DType::kInvalid;
  Shape shape;
  std::span<std::byte> bytes;

  int64_t size() const { return static_cast<int64_t>(bytes.size() / DTypeSize(dtype)); }
  template <class T>
  std::span<T> as() const {
    return {reinterpret_cast<T*>(bytes.data()), bytes.size() / sizeof(T)};
  }
  operator ConstTensorView() const { return {dtype, shape, bytes}; }  // NOLINT
};

}  // namespace pelemay
