#include "executor/server/frame_writer.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace pelemay {

bool FrameWriter::Write(std::string_view bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failed_) return false;
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + off, bytes.size() - off);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, -1) >= 0 || errno == EINTR) continue;
    }
    std::fprintf(stderr, "pelemay_executor: write failed: %s\n", n < 0 ? std::strerror(errno) : "wrote nothing");
    failed_ = true;
    return false;
  }
  bytes_ += bytes.size();
  return true;
}

}  // namespace pelemay
