#include "executor/kernels/conv.h"

#include <algorithm>
#include <complex>
#include <cstring>
#include <vector>

#include "executor/core/buffer.h"
#include "executor/core/thread_pool.h"
#include "executor/kernels/gemm.h"

namespace pelemay::kernels {
namespace {

// The im2col chunk and the GEMM output chunk each stay near this size, so
// memory use does not grow with the image (only a kernel larger than this
// makes a one-column chunk larger).
constexpr int64_t kChunkBytes = int64_t{8} << 20;

struct Plan {
  int64_t groups = 1;     // feature_groups * batch_groups (one of them is 1)
  int64_t per_group = 0;  // filters per group
  int64_t rows = 0;       // i * kernel spatial size: the GEMM's k
  int64_t positions = 0;  // output spatial size
  int64_t columns = 0;    // n' * positions: the GEMM's n over all chunks
  int64_t chunk = 0;      // columns per chunk
};

int64_t SpatialSize(const Shape& s) {
  int64_t p = 1;
  for (size_t d = 2; d < s.size(); ++d) p *= s[d];
  return p;
}

Plan MakePlan(int64_t elem_bytes, const Shape& kernel, const Shape& result, int64_t feature_groups,
              int64_t batch_groups) {
  Plan p;
  p.groups = feature_groups * batch_groups;
  p.per_group = p.groups == 0 ? 0 : kernel[0] / p.groups;
  p.rows = kernel[1] * SpatialSize(kernel);
  p.positions = SpatialSize(result);
  p.columns = result[0] * p.positions;
  const int64_t widest = std::max<int64_t>({p.rows, p.per_group, 1});
  p.chunk = std::clamp<int64_t>(kChunkBytes / (widest * elem_bytes), 1, std::max<int64_t>(p.columns, 1));
  return p;
}

// Fills rows [r0, r1) of the im2col chunk for columns [c0, c0 + cols).
template <class T>
void Im2Col(const ConvGeometry& g, const Plan& p, int64_t group, const T* in, int64_t c0, int64_t cols, int64_t r0,
            int64_t r1, T* b) {
  const size_t sp = g.input.size() - 2;  // spatial rank
  const int64_t i_channels = g.kernel[1];
  const int64_t channel0 = g.feature_groups > 1 ? group * i_channels : 0;
  const int64_t batch0 = g.batch_groups > 1 ? group * g.result[0] : 0;
  int64_t k_size = 1;
  for (size_t d = 0; d < sp; ++d) k_size *= g.kernel[2 + d];
  // Input strides (elements) of the batch, channel and spatial axes.
  std::vector<int64_t> in_stride(sp + 2);
  int64_t s = 1;
  for (size_t d = sp + 2; d-- > 0;) {
    in_stride[d] = s;
    s *= g.input[d];
  }
  std::vector<int64_t> k(sp), y(sp), off(sp);
  for (int64_t r = r0; r < r1; ++r) {
    T* row = b + r * cols;
    const int64_t ci = r / std::max<int64_t>(k_size, 1);
    int64_t rem = r % std::max<int64_t>(k_size, 1);
    for (size_t d = sp; d-- > 0;) {
      k[d] = rem % g.kernel[2 + d];
      rem /= g.kernel[2 + d];
    }
    // off[d]: the dilated-and-padded input coordinate of y = 0 on axis d.
    for (size_t d = 0; d < sp; ++d) off[d] = k[d] * g.kernel_dilation[d] - g.pad_lo[d];
    // Column c0 in (batch, y...) coordinates.
    int64_t col = c0;
    int64_t bi = col / std::max<int64_t>(p.positions, 1);
    int64_t yrem = col % std::max<int64_t>(p.positions, 1);
    for (size_t d = sp; d-- > 0;) {
      y[d] = yrem % g.result[2 + d];
      yrem /= g.result[2 + d];
    }
    if (sp == 0) {  // no spatial axes: one element per batch item
      for (int64_t j = 0; j < cols; ++j) row[j] = in[(batch0 + bi + j) * in_stride[0] + (channel0 + ci) * in_stride[1]];
      continue;
    }
    // Columns go by lines: a fixed (batch, y[0..last-1]) and a run of
    // y[last]. The outer axes are checked once per line; along the last axis
    // the valid run is computed, so the inner loop is a strided copy.
    const size_t last = sp - 1;
    const int64_t y_last_n = g.result[2 + last], stride_last = g.strides[last], dil_last = g.input_dilation[last];
    const int64_t size_last = g.input[2 + last];
    for (int64_t j = 0; j < cols;) {
      const int64_t n = std::min(cols - j, y_last_n - y[last]);
      int64_t at = (batch0 + bi) * in_stride[0] + (channel0 + ci) * in_stride[1];
      bool valid = true;
      for (size_t d = 0; d < last && valid; ++d) {
        int64_t pos = y[d] * g.strides[d] + off[d];
        const int64_t dil = g.input_dilation[d];
        if (dil != 1) {  // the holes between dilated elements are zeros
          if (pos % dil != 0) valid = false;
          pos /= dil;
        }
        if (pos < 0 || pos >= g.input[2 + d]) valid = false;
        else at += pos * in_stride[2 + d];
      }
      T* dst = row + j;
      if (!valid) {
        std::fill(dst, dst + n, T{});
      } else if (dil_last == 1) {
        // pos(t) = (y0 + t) * stride + off, valid for 0 <= pos < size.
        const int64_t p0 = y[last] * stride_last + off[last];
        const int64_t t0 = std::clamp<int64_t>(p0 >= 0 ? 0 : (-p0 + stride_last - 1) / stride_last, 0, n);
        const int64_t t1 =
            std::clamp<int64_t>(size_last - p0 <= 0 ? 0 : (size_last - p0 + stride_last - 1) / stride_last, t0, n);
        std::fill(dst, dst + t0, T{});
        for (int64_t t = t0; t < t1; ++t) dst[t] = in[at + p0 + t * stride_last];
        std::fill(dst + t1, dst + n, T{});
      } else {
        for (int64_t t = 0; t < n; ++t) {
          const int64_t pos = (y[last] + t) * stride_last + off[last];
          dst[t] = pos >= 0 && pos % dil_last == 0 && pos / dil_last < size_last ? in[at + pos / dil_last] : T{};
        }
      }
      j += n;
      // Next line: y[last] back to 0, the outer axes and batch advance.
      y[last] = 0;
      size_t d = last;
      while (d-- > 0) {
        if (++y[d] < g.result[2 + d]) break;
        y[d] = 0;
      }
      if (d == static_cast<size_t>(-1)) ++bi;
    }
  }
}

template <class T>
void ConvTyped(const ConvGeometry& g, const T* in, const T* ker, T* out, ThreadPool* pool) {
  const int64_t elem = static_cast<int64_t>(sizeof(T));
  const Plan p = MakePlan(elem, g.kernel, g.result, g.feature_groups, g.batch_groups);
  const int64_t total_out = *ElementCount(g.result);
  if (total_out == 0) return;
  if (p.rows == 0) {
    std::fill(out, out + total_out, T{});
    return;
  }
  const int64_t filters = g.kernel[0];
  Buffer b_chunk(p.rows * p.chunk * elem);
  Buffer c_chunk(p.per_group * p.chunk * elem);
  T* b = reinterpret_cast<T*>(b_chunk.bytes().data());
  T* c = reinterpret_cast<T*>(c_chunk.bytes().data());
  for (int64_t group = 0; group < p.groups; ++group) {
    const T* a = ker + group * p.per_group * p.rows;
    for (int64_t c0 = 0; c0 < p.columns; c0 += p.chunk) {
      const int64_t cols = std::min(p.chunk, p.columns - c0);
      auto fill = [&](int64_t r0, int64_t r1) { Im2Col(g, p, group, in, c0, cols, r0, r1, b); };
      if (pool != nullptr && p.rows * cols >= (1 << 16))
        pool->ParallelFor(p.rows, std::max<int64_t>(1, (1 << 14) / cols), fill);
      else fill(0, p.rows);
      const auto b_bytes =
          std::span<const std::byte>(b_chunk.bytes().data(), static_cast<size_t>(p.rows * cols * elem));
      const auto c_bytes = std::span<std::byte>(c_chunk.bytes().data(), static_cast<size_t>(p.per_group * cols * elem));
      const auto a_bytes = std::span<const std::byte>(reinterpret_cast<const std::byte*>(a),
                                                      static_cast<size_t>(p.per_group * p.rows * elem));
      Gemm(DTypeOf<T>::value, 1, p.per_group, cols, p.rows, a_bytes, b_bytes, c_bytes, pool);
      // C is [filters of the group, columns]; column j is (batch, position).
      for (int64_t f = 0; f < p.per_group; ++f) {
        const int64_t filter = group * p.per_group + f;
        int64_t j = 0;
        while (j < cols) {
          const int64_t col = c0 + j;
          const int64_t bi = col / p.positions, pos = col % p.positions;
          const int64_t run = std::min(cols - j, p.positions - pos);
          std::copy(c + f * cols + j, c + f * cols + j + run, out + (bi * filters + filter) * p.positions + pos);
          j += run;
        }
      }
    }
  }
}

template <class T>
void ConvReferenceTyped(const ConvGeometry& g, const T* in, const T* ker, T* out) {
  using A = WideType<T>;
  const size_t sp = g.input.size() - 2;
  const int64_t total = *ElementCount(g.result);
  const int64_t i_channels = g.kernel[1];
  const int64_t groups = g.feature_groups * g.batch_groups;
  const int64_t per_group = g.kernel[0] / groups;
  int64_t k_size = 1;
  for (size_t d = 0; d < sp; ++d) k_size *= g.kernel[2 + d];
  auto widen = [](T v) -> A {
    if constexpr (kIsHalf<T>) return static_cast<A>(static_cast<float>(v));
    else return static_cast<A>(v);
  };
  std::vector<int64_t> idx(g.result.size()), k(sp);
  for (int64_t o = 0; o < total; ++o) {
    int64_t rem = o;
    for (size_t d = g.result.size(); d-- > 0;) {
      idx[d] = rem % g.result[d];
      rem /= g.result[d];
    }
    const int64_t filter = idx[1], group = filter / per_group;
    const int64_t batch = idx[0] + (g.batch_groups > 1 ? group * g.result[0] : 0);
    const int64_t channel0 = g.feature_groups > 1 ? group * i_channels : 0;
    A acc{};
    for (int64_t ci = 0; ci < i_channels; ++ci) {
      for (int64_t kk = 0; kk < k_size; ++kk) {
        int64_t r = kk;
        for (size_t d = sp; d-- > 0;) {
          k[d] = r % g.kernel[2 + d];
          r /= g.kernel[2 + d];
        }
        int64_t at = batch * g.input[1] + channel0 + ci;
        bool valid = true;
        for (size_t d = 0; d < sp; ++d) {
          const int64_t pos = idx[2 + d] * g.strides[d] + k[d] * g.kernel_dilation[d] - g.pad_lo[d];
          const int64_t dil = g.input_dilation[d];
          if (pos < 0 || pos % dil != 0 || pos / dil >= g.input[2 + d]) valid = false;
          at = at * g.input[2 + d] + (valid ? pos / dil : 0);
        }
        if (!valid) continue;
        const A x = widen(in[at]);
        const A w = widen(ker[(filter * i_channels + ci) * k_size + kk]);
        if constexpr (kIsComplex<A>) {
          acc = {acc.real() + (x.real() * w.real() - x.imag() * w.imag()),
                 acc.imag() + (x.real() * w.imag() + x.imag() * w.real())};
        } else if constexpr (kIsInt<A>) {
          acc = static_cast<A>(static_cast<uint64_t>(acc) + static_cast<uint64_t>(x) * static_cast<uint64_t>(w));
        } else {
          acc += x * w;
        }
      }
    }
    if constexpr (kIsHalf<T>) out[o] = T(static_cast<float>(acc));
    else out[o] = static_cast<T>(acc);
  }
}

}  // namespace

int64_t ConvScratchBytes(DType dtype, const Shape& kernel, const Shape& result, int64_t feature_groups,
                         int64_t batch_groups) {
  const auto elem = static_cast<int64_t>(DTypeSize(dtype));
  const Plan p = MakePlan(elem, kernel, result, feature_groups, batch_groups);
  // The two chunks, plus what the GEMM allocates: its packing blocks (under
  // 2 MiB) and, for narrow or skinny products, f32 copies of B and C.
  const auto chunks = CheckedMul(p.rows + p.per_group, p.chunk);
  const auto bytes = chunks ? CheckedMul(*chunks, elem + 4) : std::nullopt;
  const auto total = bytes ? CheckedAdd(*bytes, int64_t{2} << 20) : std::nullopt;
  return total.value_or(INT64_MAX);
}

void Conv(DType dtype, const ConvGeometry& g, std::span<const std::byte> input, std::span<const std::byte> kernel,
          std::span<std::byte> result, ThreadPool* pool) {
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    ConvTyped<T>(g, reinterpret_cast<const T*>(input.data()), reinterpret_cast<const T*>(kernel.data()),
                 reinterpret_cast<T*>(result.data()), pool);
  });
}

void ConvReference(DType dtype, const ConvGeometry& g, std::span<const std::byte> input,
                   std::span<const std::byte> kernel, std::span<std::byte> result) {
  VisitDType(dtype, [&](auto tag) {
    using T = decltype(tag);
    ConvReferenceTyped<T>(g, reinterpret_cast<const T*>(input.data()), reinterpret_cast<const T*>(kernel.data()),
                          reinterpret_cast<T*>(result.data()));
  });
}

}  // namespace pelemay::kernels
