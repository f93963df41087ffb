#include "executor/server/frame_reader.h"

#include <algorithm>

namespace pelemay {

void FrameReader::Feed(std::span<const std::byte> bytes, std::vector<FrameEvent>& events) {
  size_t i = 0;
  while (i < bytes.size()) {
    if (skip_left_ > 0) {
      const uint64_t n = std::min<uint64_t>(skip_left_, bytes.size() - i);
      skip_left_ -= n;
      i += n;
      continue;
    }
    if (!in_body_) {
      header_[header_have_++] = static_cast<uint8_t>(bytes[i++]);
      if (header_have_ < 4) continue;
      header_have_ = 0;
      const uint64_t len = (uint64_t{header_[0]} << 24) | (uint64_t{header_[1]} << 16) | (uint64_t{header_[2]} << 8) |
                           uint64_t{header_[3]};
      if (len > max_) {
        events.push_back({FrameEvent::Kind::kOversize, {}, len});
        skip_left_ = len;
        continue;
      }
      if (len == 0) {
        events.push_back({FrameEvent::Kind::kFrame, {}, 0});
        continue;
      }
      in_body_ = true;
      body_left_ = len;
      body_.clear();
      body_.reserve(len);
      continue;
    }
    const uint64_t n = std::min<uint64_t>(body_left_, bytes.size() - i);
    body_.append(reinterpret_cast<const char*>(bytes.data() + i), n);
    body_left_ -= n;
    i += n;
    if (body_left_ == 0) {
      in_body_ = false;
      events.push_back({FrameEvent::Kind::kFrame, std::move(body_), 0});
      body_ = std::string();
    }
  }
}

std::string EncodeFrame(const std::string& payload) {
  const auto n = static_cast<uint32_t>(payload.size());
  std::string out;
  out.reserve(payload.size() + 4);
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out += payload;
  return out;
}

}  // namespace pelemay
