#include "executor/core/buffer.h"

#include <cstdlib>
#include <new>

namespace pelemay {

void MemoryAccount::Add(int64_t bytes) {
  const int64_t now = live_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  int64_t peak = peak_.load(std::memory_order_relaxed);
  while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {}
}
void MemoryAccount::Sub(int64_t bytes) { live_.fetch_sub(bytes, std::memory_order_relaxed); }

MemoryAccount& MemoryAccount::Global() {
  static MemoryAccount account;
  return account;
}

namespace {
constexpr size_t kAlign = 64;
}

Buffer::Buffer(int64_t bytes) : size_(bytes) {
  // aligned_alloc wants a multiple of the alignment; at least one line so
  // empty tensors still have a valid, unique pointer.
  const size_t rounded = (static_cast<size_t>(bytes) + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, rounded == 0 ? kAlign : rounded);
  if (p == nullptr) throw std::bad_alloc();
  data_.reset(static_cast<std::byte*>(p));
  MemoryAccount::Global().Add(size_);
}

Buffer::Buffer(Buffer&& o) noexcept : data_(std::move(o.data_)), size_(o.size_) { o.size_ = 0; }

Buffer& Buffer::operator=(Buffer&& o) noexcept {
  if (this != &o) {
    if (data_) MemoryAccount::Global().Sub(size_);
    data_ = std::move(o.data_);
    size_ = o.size_;
    o.size_ = 0;
  }
  return *this;
}

Buffer::~Buffer() {
  if (data_) MemoryAccount::Global().Sub(size_);
}

void Buffer::Free::operator()(std::byte* p) const { std::free(p); }

}  // namespace pelemay
