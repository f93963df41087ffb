// Complex parts (real, imag, conjugate, phase) and discrete Fourier
// transforms (fft, ifft).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "executor/core/dtype.h"
#include "executor/core/shape.h"
#include "executor/ops/op_catalogue.h"

namespace pelemay {
class ThreadPool;
}

namespace pelemay::kernels {

// op is real, imag, conjugate or phase; `dtype` is c64 or c128. phase is
// atan2(im, re) evaluated in f64 and rounded once, as Nx.BinaryBackend.
void ComplexPart(OpCode op, DType dtype, std::span<const std::byte> in, std::span<std::byte> out);

// op is fft or ifft along `axis` of an operand of any dtype, into `out` of
// complex dtype `out_dtype` whose axis has `length` elements (the operand is
// cropped or padded with zeros). Computed in f64 with Nx.BinaryBackend's
// algorithm and operation order: radix-2 splits while the length is even, a
// direct O(n^2) DFT for the odd part, and Bluestein's algorithm (over a power
// of two) for lengths of 1024 and more that are not powers of two. ifft is
// conj(fft(conj(x))) / length. Result components with |x| <= eps become +0.0.
void Fft(OpCode op, DType dtype, DType out_dtype, const Shape& shape, int64_t axis, int64_t length, double eps,
         std::span<const std::byte> in, std::span<std::byte> out, ThreadPool* pool);

}  // namespace pelemay::kernels
