// Shared by the CUDA benchmarks (cuda_gemm_attention_bench, cuda_encoder_check):
// CUDA-event timing on a context's stream, filled device buffers, and the
// card's bf16 GEMM rate through our cuBLASLt path (the denominator of MFU).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "backend/cuda/gemm.h"
#include "backend/cuda/ops.h"

namespace eric::cuda::bench {

// Mean milliseconds of fn() over reps runs on ctx's stream, after 2 warm-ups
// (a failing step ends the program: a benchmark has nothing to report then).
inline double time_ms(Context& ctx, int reps, const std::function<Status()>& fn) {
  for (int i = 0; i < 2; ++i) {
    Status st = fn();
    if (!st.ok()) {
      std::fprintf(stderr, "benchmark step failed: %s\n", st.message().c_str());
      std::exit(1);
    }
  }
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaEventRecord(a, ctx.stream());
  for (int i = 0; i < reps; ++i) (void)fn();
  cudaEventRecord(b, ctx.stream());
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms / reps;
}

// Median of per-run CUDA-event milliseconds (each run timed alone).
inline Result<double> median_ms(Context& ctx, int warmups, int reps, const std::function<Status()>& fn) {
  for (int i = 0; i < warmups; ++i) ERIC_RETURN_IF_ERROR(fn());
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  std::vector<double> runs;
  for (int i = 0; i < reps; ++i) {
    cudaEventRecord(a, ctx.stream());
    Status st = fn();
    cudaEventRecord(b, ctx.stream());
    cudaEventSynchronize(b);
    if (!st.ok()) {
      cudaEventDestroy(a);
      cudaEventDestroy(b);
      return st;
    }
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    runs.push_back(ms);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

inline DeviceTensor filled(Context& ctx, DType dt, Shape s) {
  DeviceTensor t = ctx.empty(dt, std::move(s)).value();
  // 0x3c bytes: small finite values; GEMM speed does not depend on the data much.
  cudaMemsetAsync(t.raw_data(), 0x3c, t.nbytes(), ctx.stream());
  return t;
}

// N(0, stddev) values on the device, for kernels whose speed depends on the
// data (the attention softmax's max moves with the scores; constant inputs
// would never move it). A block of 2^20 random values repeats along the
// tensor, so even the largest inputs take milliseconds to make.
inline DeviceTensor random_filled(Context& ctx, DType dt, Shape s, uint32_t seed, float stddev = 1.0f) {
  Tensor host = Tensor::empty(DType::kF32, std::move(s)).value();
  constexpr int64_t kBlock = int64_t{1} << 20;
  std::vector<float> block(static_cast<size_t>(kBlock));
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  for (float& x : block) x = dist(gen);
  float* p = host.mutable_data<float>();
  for (int64_t i = 0; i < host.numel(); i += kBlock) {
    std::copy_n(block.begin(), std::min(kBlock, host.numel() - i), p + i);
  }
  return upload(host, dt, ctx).value();
}

// TFLOP/s of a square bf16 GEMM (n^3, C = A B^T) through cuda::gemm.
inline double bf16_gemm_tflops(Context& ctx, int64_t n = 8192, int reps = 10) {
  DeviceTensor a = filled(ctx, DType::kBF16, Shape{n, n}), b = filled(ctx, DType::kBF16, Shape{n, n});
  DeviceTensor c = ctx.empty(DType::kBF16, Shape{n, n}).value();
  const double ms = time_ms(ctx, reps, [&] {
    return gemm(ctx, DType::kBF16, false, true, n, n, n, 1.0f, a.raw_data(), n, b.raw_data(), n, 0.0f, c.raw_data(), n);
  });
  return 2.0 * static_cast<double>(n) * n * n / ms / 1e9;
}

}  // namespace eric::cuda::bench
