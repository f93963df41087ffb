// Splits a byte stream into frames: a 4-byte big-endian length, then that
// many payload bytes (Erlang's {:packet, 4}). A pure state machine with no
// I/O, so the port loop, the tests and the fuzzer drive the same code.
//
// A length over the limit is reported once and its payload skipped without
// being stored, so the stream stays in sync and memory stays bounded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace pelemay {

struct FrameEvent {
  enum class Kind { kFrame, kOversize };
  Kind kind;
  std::string payload;  // kFrame
  uint64_t length = 0;  // kOversize: the announced length
};

class FrameReader {
 public:
  explicit FrameReader(uint64_t max_frame_bytes) : max_(max_frame_bytes) {}

  // Consumes bytes, appending complete frames and oversize notices to events.
  void Feed(std::span<const std::byte> bytes, std::vector<FrameEvent>& events);

  // True when the stream ended inside a frame (a truncated frame).
  bool mid_frame() const { return header_have_ > 0 || body_left_ > 0 || skip_left_ > 0; }
  uint64_t max_frame_bytes() const { return max_; }

 private:
  uint64_t max_;
  uint8_t header_[4] = {};
  size_t header_have_ = 0;
  std::string body_;
  uint64_t body_left_ = 0;
  uint64_t skip_left_ = 0;
  bool in_body_ = false;
};

// Prepends the 4-byte big-endian length.
std::string EncodeFrame(const std::string& payload);

}  // namespace pelemay
