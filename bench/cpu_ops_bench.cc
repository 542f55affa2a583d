// cpu_ops_bench — throughput of the CPU kernels at Qwen2-VL vision-tower sizes
// (hidden 1280, MLP 5120, 16 heads of 80), on ThreadPool::global() (all cores).
//
//   [ERIC_THREADS=N] build/release/bench/cpu_ops_bench [--benchmark_filter=Attention]
//
// GFLOP/s counters: GEMM counts 2*M*N*K; attention counts 4*L^2*D per head
// (QK^T and PV). "GFLOP/s" is per wall-clock second; "GFLOP/cpu-s" per
// second of process CPU time (all threads), which stays meaningful on a
// machine shared with other jobs (it undercounts a little when OpenMP
// threads spin-wait). BM_AttentionMaterialised is the comparison point: the same
// attention with every score written out (one BLAS GEMM per head for QK^T,
// a full-row softmax, one GEMM for PV), i.e. what a naive implementation does.
#include <benchmark/benchmark.h>

#include <time.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "backend/cpu/ops.h"
#include "common/thread_pool.h"
#include "tensor/tensor.h"

namespace {

using eric::DType;
using eric::Tensor;
namespace cpu = eric::cpu;

Tensor random_tensor(eric::Shape shape, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  Tensor t = Tensor::empty(DType::kF32, std::move(shape)).value();
  float* p = t.mutable_data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Process CPU time spent inside the benchmark loop: construct before it,
// read after it.
struct CpuTimer {
  double start = process_cpu_seconds();
  double elapsed() const { return process_cpu_seconds() - start; }
};

void set_gflops(benchmark::State& state, double flops_per_iter, const CpuTimer& cpu) {
  const double gflop = flops_per_iter * 1e-9 * static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = benchmark::Counter(gflop, benchmark::Counter::kIsRate);
  state.counters["GFLOP/cpu-s"] = gflop / cpu.elapsed();
}

// C[M,N] = A[M,K] B[N,K]^T, the shape every Linear uses.
void BM_Sgemm(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  Tensor a = random_tensor({m, k}, 1), b = random_tensor({n, k}, 2);
  Tensor c = Tensor::empty(DType::kF32, {m, n}).value();
  CpuTimer cpu;
  for (auto _ : state) {
    cpu::sgemm(false, true, m, n, k, 1.0f, a.data<float>(), k, b.data<float>(), k, 0.0f, c.mutable_data<float>(), n);
    benchmark::DoNotOptimize(c.mutable_data<float>());
  }
  set_gflops(state, 2.0 * m * n * k, cpu);
}
BENCHMARK(BM_Sgemm)
    ->Args({4096, 1280, 1280})
    ->Args({4096, 1280, 3840})
    ->Args({4096, 1280, 5120})
    ->Args({4096, 5120, 1280})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// linear with bias; range(1) = 1 for bf16 weights (widened per call).
void BM_Linear(benchmark::State& state) {
  const int64_t m = state.range(0), k = 1280, n = 3840;
  Tensor x = random_tensor({m, k}, 3), w = random_tensor({n, k}, 4, 0.03f), b = random_tensor({n}, 5);
  if (state.range(1)) w = w.to(DType::kBF16).value();
  CpuTimer cpu;
  for (auto _ : state) benchmark::DoNotOptimize(cpu::linear(x, w, &b).value());
  set_gflops(state, 2.0 * m * n * k, cpu);
  state.SetLabel(state.range(1) ? "bf16 weight" : "f32 weight");
}
BENCHMARK(BM_Linear)->Args({4096, 0})->Args({4096, 1})->Args({64, 0})->Args({64, 1})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LayerNorm(benchmark::State& state) {
  const int64_t rows = state.range(0), n = 1280;
  Tensor x = random_tensor({rows, n}, 6), g = random_tensor({n}, 7), b = random_tensor({n}, 8);
  for (auto _ : state) benchmark::DoNotOptimize(cpu::layer_norm(x, g, &b, 1e-6f).value());
  state.SetBytesProcessed(state.iterations() * rows * n * 8);
}
BENCHMARK(BM_LayerNorm)->Arg(4096)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_QuickGelu(benchmark::State& state) {
  Tensor x = random_tensor({state.range(0), 5120}, 9, 3.0f);
  for (auto _ : state) benchmark::DoNotOptimize(cpu::quick_gelu_(x));
  state.SetItemsProcessed(state.iterations() * x.numel());
}
BENCHMARK(BM_QuickGelu)->Arg(4096)->Unit(benchmark::kMicrosecond)->UseRealTime();

constexpr int64_t kHeads = 16, kHeadDim = 80;

void BM_Attention(benchmark::State& state) {
  const int64_t len = state.range(0);
  Tensor q = random_tensor({len, kHeads, kHeadDim}, 10), k = random_tensor({len, kHeads, kHeadDim}, 11),
         v = random_tensor({len, kHeads, kHeadDim}, 12);
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  CpuTimer cpu;
  for (auto _ : state) benchmark::DoNotOptimize(cpu::varlen_attention(q, k, v, {0, len}, scale).value());
  set_gflops(state, 4.0 * len * len * kHeadDim * kHeads, cpu);
}
BENCHMARK(BM_Attention)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_AttentionMaterialised(benchmark::State& state) {
  const int64_t len = state.range(0), ld = kHeads * kHeadDim;
  Tensor q = random_tensor({len, kHeads, kHeadDim}, 10), k = random_tensor({len, kHeads, kHeadDim}, 11),
         v = random_tensor({len, kHeads, kHeadDim}, 12);
  Tensor out = Tensor::empty(DType::kF32, {len, kHeads, kHeadDim}).value();
  Tensor scores = Tensor::empty(DType::kF32, {len, len}).value();  // L^2 floats: 64 MiB at 4096
  const float scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  CpuTimer cpu;
  for (auto _ : state) {
    for (int64_t h = 0; h < kHeads; ++h) {
      cpu::sgemm(false, true, len, len, kHeadDim, scale, q.data<float>() + h * kHeadDim, ld,
                 k.data<float>() + h * kHeadDim, ld, 0.0f, scores.mutable_data<float>(), len);
      (void)cpu::softmax_(scores);
      cpu::sgemm(false, false, len, kHeadDim, len, 1.0f, scores.data<float>(), len, v.data<float>() + h * kHeadDim,
                 ld, 0.0f, out.mutable_data<float>() + h * kHeadDim, ld);
    }
    benchmark::DoNotOptimize(out.mutable_data<float>());
  }
  set_gflops(state, 4.0 * len * len * kHeadDim * kHeads, cpu);
}
BENCHMARK(BM_AttentionMaterialised)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

// ERIC_THREADS sizes the kernel pool (and with it OpenBLAS) before first use.
int main(int argc, char** argv) {
  if (const char* t = std::getenv("ERIC_THREADS")) eric::ThreadPool::set_global_threads(std::atoi(t));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
