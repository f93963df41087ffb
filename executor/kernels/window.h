// Window reductions (window_sum/product/max/min) and window scatters
// (window_scatter_max/min): plain templated loops over every dtype. A window
// position that falls outside the operand (in the padding, or past its end
// when Nx's truncated output size asks for one more window) is skipped: it
// holds the identity of the reduction, and a scatter never selects it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "executor/core/dtype.h"
#include "executor/core/shape.h"
#include "executor/ops/op_catalogue.h"

namespace pelemay {
class ThreadPool;
}

namespace pelemay::kernels {

// The grid of windows over one operand: all vectors have the operand's rank,
// already validated (window >= 0, strides and dilations >= 1).
struct WindowGrid {
  Shape operand;                    // the operand's shape
  Shape result;                     // windows per axis (the result's shape)
  std::span<const int64_t> window;  // window size per axis
  std::span<const int64_t> strides;
  std::span<const int64_t> pad_lo;     // padding before each axis (may be negative)
  std::span<const int64_t> pad_hi;     // padding after each axis (may be negative)
  std::span<const int64_t> dilations;  // distance between window elements per axis
};

// The number of windows along an axis, as Nx.Shape.pool computes it:
// (dim + lo + hi - ((window - 1) * dilation + 1)) div stride + 1, the
// division truncated toward zero. nullopt on overflow.
std::optional<int64_t> WindowCount(int64_t dim, int64_t lo, int64_t hi, int64_t window, int64_t stride,
                                   int64_t dilation);

// op is window_sum, window_product, window_max or window_min; `in` and `out`
// have dtype `dtype`. Windows are combined in row-major order, floats in f64
// (complex in c128) and rounded once, integers wrapping in their own width.
void WindowReduce(OpCode op, DType dtype, const WindowGrid& grid, std::span<const std::byte> in,
                  std::span<std::byte> out, ThreadPool* pool);

// op is window_scatter_max or window_scatter_min. `tensor` (dtype
// tensor_dtype, shape grid.operand) chooses one element per window: the last
// one, in row-major window order, that is >= (max) or <= (min) the running
// choice, which starts at the window's first element (so a NaN is chosen
// only as the first element, as in Nx.BinaryBackend). `out` (dtype
// out_dtype, shape grid.operand) is *init everywhere plus, at each chosen
// element, the source values of the windows that chose it (source has shape
// grid.result and dtype out_dtype). Windows entirely in the padding drop
// their source value.
void WindowScatter(OpCode op, DType tensor_dtype, DType out_dtype, const WindowGrid& grid,
                   std::span<const std::byte> tensor, std::span<const std::byte> source,
                   std::span<const std::byte> init, std::span<std::byte> out);

}  // namespace pelemay::kernels
