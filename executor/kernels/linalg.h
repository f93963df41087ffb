// Linear algebra over batches of matrices (the Nx.LinAlg callbacks).
//
// Every op reads its operands into f64, computes there and rounds once into
// the result dtype. The algorithms follow the ones Nx itself uses, step for
// step, so that results agree with Nx.BinaryBackend (triangular_solve, lu and
// eigh repeat its f64 arithmetic in the same order: equal bits for f64) and
// with Nx's default implementations (cholesky, qr, determinant: same
// algorithm and sign conventions, computed in f64 instead of the input type).
#pragma once

#include <cstdint>
#include <span>

#include "executor/core/buffer.h"
#include "executor/core/status.h"
#include "executor/ops/op_catalogue.h"

namespace pelemay::kernels {

struct LinAlgAttrs {
  bool left_side = true;     // triangular_solve: a x = b (else x a = b)
  bool lower = true;         // triangular_solve: a is lower triangular
  bool transpose_a = false;  // triangular_solve: solve with transpose(a)
  double eps = 1e-10;        // lu, cholesky, qr: |x| below it counts as 0; eigh: 1e-4 in Nx
  int64_t max_iter = 1000;   // eigh: QR iterations at most
};

// op is one of the LinAlg family (see op_catalogue.inc). The operands and the
// result have been validated (shapes, dtypes). Data-dependent failures (a
// zero on the diagonal of triangular_solve's a, an eigh input that is not
// symmetric) are INVALID_ARGUMENT with Nx.BinaryBackend's message.
Status LinAlg(OpCode op, const LinAlgAttrs& attrs, std::span<const ConstTensorView> args, const TensorView& out);

// Temporary memory LinAlg needs for one matrix of an n x n (or m x n) op
// (the validator adds it to the program's peak).
int64_t LinAlgScratchBytes(OpCode op, int64_t rows, int64_t cols, int64_t b_elements);

}  // namespace pelemay::kernels
