// Per-target SIMD row reductions: the sum of one contiguous row of f32/f64,
// accumulated in f64.
// Four independent accumulators hide the add latency; the tail is masked by a
// zero-filled buffer so no read passes the end of the row.

#if defined(PELEMAY_KERNELS_REDUCE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef PELEMAY_KERNELS_REDUCE_INL_H_
#undef PELEMAY_KERNELS_REDUCE_INL_H_
#else
#define PELEMAY_KERNELS_REDUCE_INL_H_
#endif

#include <cstring>

#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace pelemay::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class T>
T SumRowImpl(const T* HWY_RESTRICT p, size_t n) {
  const hn::ScalableTag<T> d;
  const size_t lanes = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    s0 = hn::Add(s0, hn::LoadU(d, p + i));
    s1 = hn::Add(s1, hn::LoadU(d, p + i + lanes));
    s2 = hn::Add(s2, hn::LoadU(d, p + i + 2 * lanes));
    s3 = hn::Add(s3, hn::LoadU(d, p + i + 3 * lanes));
  }
  for (; i + lanes <= n; i += lanes) s0 = hn::Add(s0, hn::LoadU(d, p + i));
  if (i < n) {
    HWY_ALIGN T buf[HWY_MAX_BYTES / sizeof(T)] = {};
    std::memcpy(buf, p + i, (n - i) * sizeof(T));
    s1 = hn::Add(s1, hn::Load(d, buf));
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
}

// f32 rows accumulate in f64: each half-width f32 load is promoted.
double SumRowF32(const float* HWY_RESTRICT p, size_t n) {
  const hn::ScalableTag<double> d;
  const hn::Rebind<float, decltype(d)> df;
  const size_t lanes = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    s0 = hn::Add(s0, hn::PromoteTo(d, hn::LoadU(df, p + i)));
    s1 = hn::Add(s1, hn::PromoteTo(d, hn::LoadU(df, p + i + lanes)));
    s2 = hn::Add(s2, hn::PromoteTo(d, hn::LoadU(df, p + i + 2 * lanes)));
    s3 = hn::Add(s3, hn::PromoteTo(d, hn::LoadU(df, p + i + 3 * lanes)));
  }
  double tail = 0;
  for (; i < n; ++i) tail += p[i];
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3)))) + tail;
}
double SumRowF64(const double* p, size_t n) { return SumRowImpl(p, n); }

}  // namespace pelemay::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // include guard
