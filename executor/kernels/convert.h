// as_type: conversion between any two dtypes with Nx.BinaryBackend's rules.
//   float -> int   truncate toward zero, then wrap to the width (300.7 -> s8
//                  is 44); NaN -> 0, +Inf -> max, -Inf -> min of the type
//   int -> int     wrap (two's complement)
//   -> f16         round to nearest even; -> bf16: f32 bits truncated
//   complex -> real  the real part, then as above; real -> complex: (x, 0)
#pragma once

#include <cstddef>
#include <span>

#include "executor/core/dtype.h"

namespace pelemay {
class ThreadPool;
}

namespace pelemay::kernels {

void Convert(DType from, DType to, std::span<const std::byte> in, std::span<std::byte> out, ThreadPool* pool);

// One element (for constants and tests).
template <class To, class From>
To ConvertValue(From v);

}  // namespace pelemay::kernels
