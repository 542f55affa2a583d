// GEMM through cuBLASLt: bf16 in / float32 accumulate / bf16 out, or float32
// (optionally TF32 tensor cores, Context::allow_tf32), with the bias add
// fused into the epilogue. Row-major, like cpu::sgemm.
#pragma once

#include "backend/cuda/context.h"

namespace eric::cuda {

// C[M,N] = alpha * op(A) * op(B) + beta * C, row-major with leading dims;
// A, B, C all `dtype` (kF32 or kBF16); bias (nullable, length N, `dtype`) is
// added to every row of C (requires beta == 0). Device pointers on ctx's device.
Status gemm(Context& ctx, DType dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
            const void* a, int64_t lda, const void* b, int64_t ldb, float beta, void* c, int64_t ldc,
            const void* bias = nullptr);

}  // namespace eric::cuda
