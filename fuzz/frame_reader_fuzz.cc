// Fuzz target 1: the frame reader on arbitrary byte streams.
//
// Input: byte 0 picks the frame limit (16..4111 bytes); byte 1 seeds the
// chunking; the rest is the stream. The stream is fed once whole and once in
// pseudo-random chunks (as reads from a pipe arrive), and both must give the
// same frames, oversize notices and end state as a straightforward reference
// parser. Besides the sanitizers' findings, any difference is a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "executor/server/frame_reader.h"

namespace {

struct Parsed {
  std::vector<pelemay::FrameEvent> events;
  bool mid_frame = false;
};

// The specification, written the obvious way.
Parsed Reference(std::span<const std::byte> s, uint64_t max) {
  Parsed p;
  size_t i = 0;
  while (i < s.size()) {
    if (s.size() - i < 4) {
      p.mid_frame = true;
      return p;
    }
    const uint64_t len = (uint64_t{static_cast<uint8_t>(s[i])} << 24) |
                         (uint64_t{static_cast<uint8_t>(s[i + 1])} << 16) |
                         (uint64_t{static_cast<uint8_t>(s[i + 2])} << 8) | uint64_t{static_cast<uint8_t>(s[i + 3])};
    i += 4;
    const bool oversize = len > max;
    if (s.size() - i < len) {
      if (oversize) p.events.push_back({pelemay::FrameEvent::Kind::kOversize, {}, len});
      p.mid_frame = true;
      return p;
    }
    if (oversize) {
      p.events.push_back({pelemay::FrameEvent::Kind::kOversize, {}, len});
    } else {
      p.events.push_back({pelemay::FrameEvent::Kind::kFrame,
                          std::string(reinterpret_cast<const char*>(s.data() + i), static_cast<size_t>(len)), len});
    }
    i += static_cast<size_t>(len);
  }
  return p;
}

bool Same(const std::vector<pelemay::FrameEvent>& a, const std::vector<pelemay::FrameEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].kind != b[i].kind || a[i].payload != b[i].payload) return false;
    if (a[i].kind == pelemay::FrameEvent::Kind::kOversize && a[i].length != b[i].length) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint64_t max = 16 + (uint64_t{data[0]} << 4);
  uint32_t chunk_seed = data[1] | 1u;
  const std::span<const std::byte> stream(reinterpret_cast<const std::byte*>(data + 2), size - 2);

  const Parsed want = Reference(stream, max);

  pelemay::FrameReader whole(max);
  std::vector<pelemay::FrameEvent> got_whole;
  whole.Feed(stream, got_whole);
  if (!Same(got_whole, want.events) || whole.mid_frame() != want.mid_frame) std::abort();

  pelemay::FrameReader chunked(max);
  std::vector<pelemay::FrameEvent> got_chunked;
  for (size_t off = 0; off < stream.size();) {
    chunk_seed = chunk_seed * 1103515245u + 12345u;
    const size_t n = std::min<size_t>(stream.size() - off, 1 + (chunk_seed >> 16) % 37);
    chunked.Feed(stream.subspan(off, n), got_chunked);
    off += n;
  }
  if (!Same(got_chunked, want.events) || chunked.mid_frame() != want.mid_frame) std::abort();
  for (const auto& e : got_whole) {
    if (e.kind == pelemay::FrameEvent::Kind::kFrame && e.payload.size() > max) std::abort();
    // A frame round-trips through EncodeFrame.
    if (e.kind == pelemay::FrameEvent::Kind::kFrame) {
      const std::string f = pelemay::EncodeFrame(e.payload);
      if (f.size() != e.payload.size() + 4 || f.compare(4, std::string::npos, e.payload) != 0) std::abort();
    }
  }
  return 0;
}
