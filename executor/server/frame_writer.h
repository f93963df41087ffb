// Writes whole frames to the executor's output, from any thread.
//
// Why blocking writes under one mutex rather than an Asio write queue on the
// I/O thread: the compute thread writes a run's reply itself, before it takes
// the next run. So when the executor dies inside a run, every earlier run's
// reply is already in the pipe, and the port layer's rule "the oldest
// unanswered run is the one that was computing" holds. A reply queued for
// another thread could be lost with the process and an innocent request
// blamed. It also saves a thread wake-up per reply.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string_view>

namespace pelemay {

class FrameWriter {
 public:
  // `fd` stays owned by the caller. O_NONBLOCK on it (Asio may set it on a
  // descriptor that shares the open file) is handled by polling.
  explicit FrameWriter(int fd) : fd_(fd) {}

  // Writes `bytes` (one or more whole frames, or on purpose a partial one)
  // entirely, or fails for good: after the first failure (reader gone) every
  // later call returns false at once.
  bool Write(std::string_view bytes);

  bool failed() const { return failed_.load(); }
  uint64_t bytes_written() const { return bytes_.load(); }

 private:
  const int fd_;
  std::mutex mu_;
  std::atomic<bool> failed_{false};
  std::atomic<uint64_t> bytes_{0};
};

}  // namespace pelemay
