// Work on the lines of a tensor along one axis, for kernels that gather each
// line into a buffer of their own (sort, scans, FFTs).
#pragma once

#include <algorithm>
#include <cstdint>

#include "executor/core/shape.h"
#include "executor/core/thread_pool.h"

namespace pelemay::kernels {

// At most this many lines are worked on at once, so a kernel's temporary
// memory is this many lines' buffers whatever the machine's core count; the
// validator charges that much scratch to the memory budget.
inline constexpr int64_t kMaxLineWorkers = 16;

// [outer, n, inner] view of a shape around `axis`: line l (outer-major) has
// its element j at base(l) + j * inner.
struct Lines {
  int64_t outer = 1, n = 1, inner = 1;
  Lines(const Shape& shape, int64_t axis) {
    for (int64_t i = 0; i < axis; ++i) outer *= shape[i];
    n = shape[axis];
    for (size_t i = axis + 1; i < shape.size(); ++i) inner *= shape[i];
  }
  int64_t count() const { return outer * inner; }
  int64_t base(int64_t l) const { return (l / inner) * n * inner + l % inner; }
};

// Calls fn(begin, end) on consecutive ranges of lines covering [0, lines):
// at most kMaxLineWorkers ranges, run on the pool when there is enough work
// (`work_per_line` is a rough operation count). fn allocates its buffers
// once per range.
template <class Fn>
void ForEachLineRange(int64_t lines, int64_t work_per_line, ThreadPool* pool, Fn&& fn) {
  if (lines <= 0) return;
  constexpr int64_t kMinWork = int64_t{1} << 15;
  const int64_t total = lines * std::max<int64_t>(1, work_per_line);
  const int64_t ranges = std::min({lines, kMaxLineWorkers, std::max<int64_t>(1, total / kMinWork)});
  if (pool == nullptr || ranges <= 1) {
    fn(int64_t{0}, lines);
    return;
  }
  pool->ParallelFor(ranges, 1, [&](int64_t r_begin, int64_t r_end) {
    for (int64_t r = r_begin; r < r_end; ++r) fn(r * lines / ranges, (r + 1) * lines / ranges);
  });
}

}  // namespace pelemay::kernels
