// Helpers shared by the gather and scatter ops: index tensors read as s64
// with their range check, and the element offsets of a block inside a
// tensor. Index values are data from the caller, so every one is checked
// before it is used to address memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "executor/core/buffer.h"
#include "executor/core/dtype.h"
#include "executor/core/shape.h"
#include "executor/core/status.h"

namespace pelemay::kernels {

// A Buffer of n s64 values (counted memory, the validator's scratch_bytes).
class Int64Scratch {
 public:
  explicit Int64Scratch(int64_t n) : buffer_(n * static_cast<int64_t>(sizeof(int64_t))) {}
  std::span<int64_t> values() {
    return {reinterpret_cast<int64_t*>(buffer_.bytes().data()), buffer_.bytes().size() / sizeof(int64_t)};
  }

 private:
  Buffer buffer_;
};

// Converts every index of `indices` (any integer dtype) to s64. A u64 value
// above the s64 range becomes -1, which every range check rejects.
inline void ReadIndices(const ConstTensorView& indices, std::span<int64_t> out) {
  VisitDType(indices.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kIsInt<T>) {
      const auto in = indices.as<T>();
      for (size_t i = 0; i < in.size(); ++i) {
        if constexpr (std::is_same_v<T, uint64_t>)
          out[i] =
              in[i] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? -1 : static_cast<int64_t>(in[i]);
        else out[i] = static_cast<int64_t>(in[i]);
      }
    }
  });
}

// INVALID_ARGUMENT unless 0 <= index < dim, with Nx.BinaryBackend's wording.
inline Status CheckIndex(std::string_view op, int64_t index, int64_t axis, int64_t dim) {
  if (index < 0 || index >= dim)
    return InvalidArgument() << op << ": index " << index << " is out of bounds for axis " << axis << " of size "
                             << dim;
  return Status::Ok();
}

// The offsets, in elements of a tensor with `strides`, of the elements of a
// `block`-shaped block whose axis j runs along tensor axis block_axes[j],
// in row-major block order.
inline void BlockOffsets(std::span<const int64_t> strides, std::span<const int64_t> block_axes,
                         std::span<const int64_t> block, std::span<int64_t> out) {
  if (out.empty()) return;
  const size_t rank = block.size();
  std::vector<int64_t> idx(rank, 0);
  int64_t off = 0;
  for (int64_t& o : out) {
    o = off;
    for (size_t j = rank; j-- > 0;) {
      const int64_t stride = strides[block_axes[j]];
      if (++idx[j] < block[j]) {
        off += stride;
        break;
      }
      off -= stride * (block[j] - 1);
      idx[j] = 0;
    }
  }
}

}  // namespace pelemay::kernels
