// reference.h — what the CPU op tests compare against: naive float64
// re-statements of the torch definitions, random inputs from fixed seeds, and
// the error measures.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "tensor/tensor.h"

namespace eric::cpu::testing {

// Normal(mean, stddev) float32 tensor; same seed, same values.
inline Tensor random_tensor(Shape shape, uint32_t seed, float stddev = 1.0f, float mean = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(mean, stddev);
  Tensor t = Tensor::empty(DType::kF32, std::move(shape)).value();
  float* p = t.mutable_data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

inline std::vector<double> to_f64(const Tensor& t) {
  Tensor c = t.contiguous().value();
  const float* p = c.data<float>();
  return std::vector<double>(p, p + c.numel());
}

// ||out - ref|| / ||ref|| over all elements.
inline double rel_l2(const Tensor& out, const std::vector<double>& ref) {
  std::vector<double> o = to_f64(out);
  EXPECT_EQ(o.size(), ref.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < o.size() && i < ref.size(); ++i) {
    num += (o[i] - ref[i]) * (o[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1.0));
}

// max_i |out - ref| / (|ref| + floor): per-element relative error, with an
// absolute floor for elements near zero.
inline double max_rel(const Tensor& out, const std::vector<double>& ref, double floor) {
  std::vector<double> o = to_f64(out);
  double worst = 0;
  for (size_t i = 0; i < o.size() && i < ref.size(); ++i)
    worst = std::max(worst, std::abs(o[i] - ref[i]) / (std::abs(ref[i]) + floor));
  return worst;
}

// Softmax attention of one packed batch, every score materialised, in double.
inline std::vector<double> reference_attention(const std::vector<double>& q, const std::vector<double>& k,
                                               const std::vector<double>& v, int64_t heads, int64_t d,
                                               const std::vector<int64_t>& cu, double scale) {
  std::vector<double> out(q.size(), 0.0);
  for (size_t s = 0; s + 1 < cu.size(); ++s) {
    const int64_t b = cu[s], e = cu[s + 1];
    std::vector<double> p(static_cast<size_t>(e - b));
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = b; i < e; ++i) {
        double mx = -INFINITY;
        for (int64_t j = b; j < e; ++j) {
          double dot = 0;
          for (int64_t x = 0; x < d; ++x) dot += q[(i * heads + h) * d + x] * k[(j * heads + h) * d + x];
          p[j - b] = dot * scale;
          mx = std::max(mx, p[j - b]);
        }
        double sum = 0;
        for (auto& pj : p) sum += (pj = std::exp(pj - mx));
        for (int64_t j = b; j < e; ++j)
          for (int64_t x = 0; x < d; ++x) out[(i * heads + h) * d + x] += p[j - b] / sum * v[(j * heads + h) * d + x];
      }
    }
  }
  return out;
}

}  // namespace eric::cpu::testing
