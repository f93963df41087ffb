// Convolution as im2col + GEMM. For each group, the kernel's filters are
// already an [o/groups, c/feature_groups * kernel_size] row-major matrix;
// the input windows are unrolled, a bounded chunk of output positions at a
// time, into a [c/feature_groups * kernel_size, positions] matrix, and the
// product (kernels::Gemm: Highway-vectorised, threaded) is the output block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "executor/core/dtype.h"
#include "executor/core/shape.h"

namespace pelemay {
class ThreadPool;
}

namespace pelemay::kernels {

// A validated convolution: input [n, c, s...], kernel [o, i, k...], result
// [n / batch_groups, o, y...]; the vectors have one entry per spatial axis.
// feature_groups > 1: i = c / feature_groups and filter block g reads input
// channels [g * i, (g + 1) * i). batch_groups > 1: i = c and filter block g
// reads input batch items [g * n', (g + 1) * n'), n' = n / batch_groups.
struct ConvGeometry {
  Shape input, kernel, result;
  std::span<const int64_t> strides, pad_lo, input_dilation, kernel_dilation;
  int64_t feature_groups = 1, batch_groups = 1;
};

// Temporary memory Conv needs for this geometry and element type: the im2col
// chunk, the GEMM's output chunk and the GEMM's own packing.
int64_t ConvScratchBytes(DType dtype, const Shape& kernel, const Shape& result, int64_t feature_groups,
                         int64_t batch_groups);

// result[b, f, y...] = sum over channels ci < i and kernel positions k of
//   kernel[f, ci, k] * input[batch(b, f), channel(f, ci), (y * stride + k * kernel_dilation - lo) / input_dilation]
// where the input index is taken only when it is a whole multiple of the
// input dilation inside the input (else the term is 0). Accumulation as
// kernels::Gemm.
void Conv(DType dtype, const ConvGeometry& g, std::span<const std::byte> input, std::span<const std::byte> kernel,
          std::span<std::byte> result, ThreadPool* pool);

// The oracle for tests: the formula above as a direct loop, accumulating in
// f64 for floats (c128 for complex), in the type for integers.
void ConvReference(DType dtype, const ConvGeometry& g, std::span<const std::byte> input,
                   std::span<const std::byte> kernel, std::span<std::byte> result);

}  // namespace pelemay::kernels
