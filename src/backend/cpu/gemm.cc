// gemm.cc — sgemm: the one place eric calls a BLAS, so another GEMM (oneDNN,
// a different BLAS) can replace OpenBLAS by changing this file only.
//
// Threading: OpenBLAS (the OpenMP build) runs its own thread team. It is
// sized once to ThreadPool::global().num_threads(), so the --threads option
// bounds GEMM as well as our kernels, and calls are serialised by a mutex:
// two concurrent OpenMP-parallel GEMMs would oversubscribe the cores, and
// OpenBLAS' shared buffers are not meant for unbounded concurrent callers.
// Kernels that need many small products (attention) use their own tiles
// instead of calling this from inside a parallel loop.
#include <cblas.h>

#include <climits>
#include <mutex>

#include "backend/cpu/ops.h"
#include "common/thread_pool.h"

namespace eric::cpu {

namespace {

std::mutex& gemm_mutex() {
  static std::mutex mu;
  return mu;
}

void init_openblas_threads() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(ThreadPool::global().num_threads()); });
}

// C = beta * C, for k == 0 (no product term); beta == 0 overwrites, as BLAS
// does, so uninitialised (even NaN) C is allowed.
void scale_c(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    scale_c(m, n, beta, c, ldc);
    return;
  }
  // OpenBLAS' default interface takes 32-bit ints.
  ERIC_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX,
             "sgemm dimensions exceed 32-bit BLAS: m={} n={} k={}", m, n, k);
  init_openblas_threads();
  std::lock_guard<std::mutex> lock(gemm_mutex());
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

}  // namespace eric::cpu
