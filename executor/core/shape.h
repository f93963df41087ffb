// Shapes and the overflow-checked arithmetic on them. Every size the executor
// derives from input (element counts, byte sizes, offsets) goes through the
// checked helpers here, so a hostile shape is an error, never a wraparound.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "executor/core/dtype.h"
#include "executor/core/status.h"

namespace pelemay {

using Shape = std::vector<int64_t>;

// The largest rank the executor accepts; Nx tensors rarely pass 8.
inline constexpr size_t kMaxRank = 32;
// The most a zero-size tensor's non-zero dimensions may multiply to (see
// CheckShape).
inline constexpr int64_t kMaxEmptyExtent = int64_t{1} << 24;

std::optional<int64_t> CheckedMul(int64_t a, int64_t b);
std::optional<int64_t> CheckedAdd(int64_t a, int64_t b);

// Element count, or nullopt if a dimension is negative or the product
// overflows int64.
std::optional<int64_t> ElementCount(std::span<const int64_t> shape);
// Element count * dtype size, or nullopt on a bad shape or overflow.
std::optional<int64_t> ByteSize(DType dtype, std::span<const int64_t> shape);

// Checks rank, non-negative dimensions and that the byte size is finite.
Status CheckShape(DType dtype, std::span<const int64_t> shape);

// Row-major strides in elements.
std::vector<int64_t> Strides(std::span<const int64_t> shape);

// "[2, 3]" for messages.
std::string ShapeString(std::span<const int64_t> shape);
std::string TypeString(DType dtype, std::span<const int64_t> shape);

}  // namespace pelemay
