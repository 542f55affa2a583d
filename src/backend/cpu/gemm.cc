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
//
// Kernel choice: Debian's OpenBLAS 0.3.21 is a DYNAMIC_ARCH build that picks
// its kernels from the CPU model, and falls back to "Prescott" (SSE3, ~4x
// slower) for models newer than it knows, such as Sapphire/Emerald Rapids.
// Before the first GEMM we detect that fallback and re-run OpenBLAS' own
// core selection with OPENBLAS_CORETYPE set from the CPU's features, unless
// the user set OPENBLAS_CORETYPE themselves.
#include <cblas.h>
#include <spdlog/spdlog.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "backend/cpu/op_profile.h"
#include "backend/cpu/ops.h"
#include "common/thread_pool.h"

// OpenBLAS DYNAMIC_ARCH entry points (exported by the Debian build). Weak, so
// a BLAS without them still links and simply keeps its own choice.
extern "C" {
char* openblas_get_corename(void) __attribute__((weak));
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));
}

namespace eric::cpu {

namespace {

// The best OpenBLAS 0.3.21 core this CPU can run, or null.
const char* best_core_for_cpu() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return nullptr;
}

void fix_openblas_core_fallback() {
  if (!openblas_get_corename || !gotoblas_dynamic_init || !gotoblas_dynamic_quit) return;
  const char* core = openblas_get_corename();
  const char* best = best_core_for_cpu();
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr || core == nullptr || best == nullptr ||
      std::strcmp(core, "Prescott") != 0) {
    return;
  }
  setenv("OPENBLAS_CORETYPE", best, /*overwrite=*/0);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  spdlog::info("OpenBLAS did not recognise this CPU (fell back to Prescott kernels); now using {}",
               openblas_get_corename());
}

std::mutex& gemm_mutex() {
  static std::mutex mu;
  return mu;
}

void init_openblas_threads() {
  static std::once_flag once;
  std::call_once(once, [] {
    fix_openblas_core_fallback();
    openblas_set_num_threads(ThreadPool::global().num_threads());
  });
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
  profile::Scope timed(profile::OpKind::kGemm, 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k));
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

}  // namespace eric::cpu
