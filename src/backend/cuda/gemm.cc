#include "backend/cuda/gemm.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace eric::cuda {

namespace {

Status lt_check(cublasStatus_t st, std::string_view what) {
  if (st == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  return Internal("cuBLASLt {}: status {}", what, static_cast<int>(st));
}

// Destroys cuBLASLt descriptors on every return path.
struct LtDescs {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~LtDescs() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

// The heuristic's first choice per problem; asked once per shape (the encoder
// repeats a handful of shapes every layer).
using AlgoKey = std::tuple<cublasLtHandle_t, int, bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                           bool, bool, uint32_t>;

// Largest power of two (<= 256) dividing the address: the heuristic assumes
// 256-byte aligned operands unless told, and row slices can be less aligned.
uint32_t alignment(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  return a == 0 ? 256u : static_cast<uint32_t>(std::min<uintptr_t>(256, a & (~a + 1)));
}
thread_local std::map<AlgoKey, cublasLtMatmulAlgo_t> algo_cache;

}  // namespace

Status gemm(Context& ctx, DType dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
            const void* a, int64_t lda, const void* b, int64_t ldb, float beta, void* c, int64_t ldc,
            const void* bias) {
  if (dtype != DType::kF32 && dtype != DType::kBF16) {
    return InvalidArgument("cuda gemm: dtype {} (want float32 or bfloat16)", dtype_name(dtype));
  }
  if (bias != nullptr && beta != 0.0f) return InvalidArgument("cuda gemm: a bias needs beta == 0");
  if (m == 0 || n == 0) return Status::Ok();
  const cudaDataType_t t = dtype == DType::kF32 ? CUDA_R_32F : CUDA_R_16BF;
  const bool tf32 = dtype == DType::kF32 && ctx.allow_tf32;
  const cublasComputeType_t compute = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;

  // cuBLASLt is column-major: row-major C = op(A) op(B) is column-major
  // C^T = op(B)^T op(A)^T, and a row-major matrix is its own transpose read
  // column-major. So B goes first, with the same transpose flag.
  const cublasOperation_t op_first = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_second = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  LtDescs d;
  ERIC_RETURN_IF_ERROR(lt_check(cublasLtMatmulDescCreate(&d.op, compute, CUDA_R_32F), "matmul desc"));
  ERIC_RETURN_IF_ERROR(lt_check(
      cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof(op_first)), "transa"));
  ERIC_RETURN_IF_ERROR(lt_check(
      cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof(op_second)), "transb"));
  if (bias != nullptr) {
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    ERIC_RETURN_IF_ERROR(
        lt_check(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)), "epilogue"));
    ERIC_RETURN_IF_ERROR(lt_check(
        cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)), "bias"));
  }
  // Stored shapes (rows x cols, column-major) of the first (B) and second (A) operands.
  const int64_t m_lt = n, n_lt = m;
  ERIC_RETURN_IF_ERROR(lt_check(cublasLtMatrixLayoutCreate(&d.a, t, trans_b ? k : m_lt, trans_b ? m_lt : k, ldb),
                                "layout B"));
  ERIC_RETURN_IF_ERROR(lt_check(cublasLtMatrixLayoutCreate(&d.b, t, trans_a ? n_lt : k, trans_a ? k : n_lt, lda),
                                "layout A"));
  ERIC_RETURN_IF_ERROR(lt_check(cublasLtMatrixLayoutCreate(&d.c, t, m_lt, n_lt, ldc), "layout C"));

  const uint32_t align[4] = {alignment(b), alignment(a), alignment(c), alignment(bias)};
  const uint32_t align_key = align[0] | align[1] << 9 | align[2] << 18 | (align[3] == 256 ? 0u : 1u) << 27;
  const AlgoKey key{ctx.lt(), static_cast<int>(t), trans_a, trans_b, m, n, k, lda, ldb, ldc, bias != nullptr, tf32,
                    align_key};
  auto it = algo_cache.find(key);
  if (it == algo_cache.end()) {
    ERIC_RETURN_IF_ERROR(lt_check(cublasLtMatmulPreferenceCreate(&d.pref), "preference"));
    const size_t ws = ctx.workspace_bytes();
    ERIC_RETURN_IF_ERROR(lt_check(cublasLtMatmulPreferenceSetAttribute(
                                      d.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)),
                                  "workspace preference"));
    const cublasLtMatmulPreferenceAttributes_t align_attr[3] = {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                                 CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                                 CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES};
    for (int i = 0; i < 3; ++i) {
      ERIC_RETURN_IF_ERROR(lt_check(
          cublasLtMatmulPreferenceSetAttribute(d.pref, align_attr[i], &align[i], sizeof(align[i])), "alignment"));
    }
    const uint32_t d_align = align[2];
    ERIC_RETURN_IF_ERROR(lt_check(cublasLtMatmulPreferenceSetAttribute(
                                      d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &d_align, sizeof(d_align)),
                                  "alignment D"));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    ERIC_RETURN_IF_ERROR(lt_check(
        cublasLtMatmulAlgoGetHeuristic(ctx.lt(), d.op, d.a, d.b, d.c, d.c, d.pref, 1, &result, &found), "heuristic"));
    if (found == 0) {
      return Unimplemented("cuBLASLt has no algorithm for {} GEMM m={} n={} k={} (lda={} ldb={} ldc={})",
                           dtype_name(dtype), m, n, k, lda, ldb, ldc);
    }
    it = algo_cache.emplace(key, result.algo).first;
  }
  ERIC_RETURN_IF_ERROR(lt_check(cublasLtMatmul(ctx.lt(), d.op, &alpha, b, d.a, a, d.b, &beta, c, d.c, c, d.c,
                                               &it->second, ctx.workspace(), ctx.workspace_bytes(), ctx.stream()),
                                fmt::format("matmul {}x{}x{} {}", m, n, k, dtype_name(dtype))));
  return Status::Ok();
}

}  // namespace eric::cuda
