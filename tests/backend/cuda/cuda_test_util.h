// Shared by the GPU tests: skip without a device, random inputs, bf16
// rounding on the host and the relative L2 error.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "../cpu/reference.h"
#include "backend/cuda/context.h"
#include "tensor/tensor.h"

namespace eric::cuda::testing {

// Empty when a device is usable; otherwise why not (for GTEST_SKIP).
inline std::string no_gpu_reason() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("no usable CUDA device (cudaGetDeviceCount: ") + cudaGetErrorString(err) + ")";
  }
  if (count == 0) return "no CUDA device visible (cudaGetDeviceCount returned 0)";
  return "";
}

// Tests derive from this: SetUp skips without a GPU, else makes a Context on device 0.
class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = no_gpu_reason();
    if (!why.empty()) GTEST_SKIP() << "GPU test skipped: " << why;
    auto c = Context::create(0);
    ASSERT_TRUE(c.ok()) << c.status().message();
    ctx = std::move(c).value();
  }
  std::unique_ptr<Context> ctx;
};

// Inputs and the float64 error measure are the CPU op tests' (same seeds, same values).
using cpu::testing::random_tensor;
using cpu::testing::rel_l2;
using cpu::testing::to_f64;

// The float32 tensor a bf16 upload of `t` holds (so CPU references see the same inputs).
inline Tensor round_bf16(const Tensor& t) {
  Tensor out = t.clone().value();
  float* p = out.mutable_data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) p[i] = bf16_to_f32(f32_to_bf16(p[i]));
  return out;
}

inline double rel_l2(const Tensor& out, const Tensor& ref) {
  EXPECT_EQ(out.shape(), ref.shape());
  const float* o = out.data<float>();
  const float* r = ref.data<float>();
  double num = 0, den = 0;
  for (int64_t i = 0; i < std::min(out.numel(), ref.numel()); ++i) {
    num += (double{o[i]} - r[i]) * (double{o[i]} - r[i]);
    den += double{r[i]} * r[i];
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

constexpr double kF32Tol = 1e-5;
constexpr double kBF16Tol = 2e-2;

// The tolerance and input rounding of one dtype under test.
struct DTypeCase {
  DType dtype;
  double tol;
  Tensor prepare(const Tensor& t) const { return dtype == DType::kBF16 ? round_bf16(t) : t; }
};
inline std::vector<DTypeCase> dtype_cases() { return {{DType::kF32, kF32Tol}, {DType::kBF16, kBF16Tol}}; }

}  // namespace eric::cuda::testing
