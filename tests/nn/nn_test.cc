// Layers against naive double-precision re-statements of the PyTorch modules.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "nn/norm.h"

namespace eric::nn {
namespace {

using Vec = std::vector<double>;

Tensor random_tensor(Shape shape, uint32_t seed, float scale = 1.0f, float mean = 0.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Tensor t = Tensor::empty(DType::kF32, shape).value();
  for (int64_t i = 0; i < t.numel(); ++i) t.mutable_data<float>()[i] = mean + scale * dist(gen);
  return t;
}

Vec to_vec(const Tensor& t) {
  Tensor c = t.contiguous().value();
  return Vec(c.data<float>(), c.data<float>() + c.numel());
}

double rel_error(const Tensor& out, const Vec& ref) {
  Vec o = to_vec(out);
  EXPECT_EQ(o.size(), ref.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (o[i] - ref[i]) * (o[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / den);
}

// y = x W^T + b, x [n, in], W [out, in].
Vec naive_linear(const Vec& x, const Vec& w, const Vec* b, int64_t n, int64_t in, int64_t out) {
  Vec y(static_cast<size_t>(n * out));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = b ? (*b)[o] : 0.0;
      for (int64_t i = 0; i < in; ++i) s += x[r * in + i] * w[o * in + i];
      y[r * out + o] = s;
    }
  return y;
}

WeightMap linear_weights(const std::string& p, int64_t in, int64_t out, uint32_t seed) {
  WeightMap w;
  w[p + ".weight"] = random_tensor({out, in}, seed, 0.3f);
  w[p + ".bias"] = random_tensor({out}, seed + 1, 0.1f);
  return w;
}

TEST(Linear, MatchesNaive) {
  WeightMap w = linear_weights("fc", 24, 10, 1);
  WeightLoader loader(w);
  Linear l = Linear::load(loader, "fc", 24, 10, true);
  ASSERT_TRUE(loader.finish().ok());
  Tensor x = random_tensor({7, 24}, 3);
  Vec b = to_vec(w["fc.bias"]);
  Vec ref = naive_linear(to_vec(x), to_vec(w["fc.weight"]), &b, 7, 24, 10);
  EXPECT_LT(rel_error(l.forward(x).value(), ref), 1e-6);
}

TEST(Linear, ColumnAndRowShardsRecomposeTheFullLayer) {
  const int64_t in = 8, out = 12, world = 2;
  WeightMap w = linear_weights("fc", in, out, 5);
  Tensor x = random_tensor({3, in}, 6);
  WeightLoader full_loader(w);
  Vec full = to_vec(Linear::load(full_loader, "fc", in, out, true).forward(x).value());

  // Column-parallel over a fused [a | b | c] projection: each rank keeps its
  // slice of every part; concatenating rank outputs part by part restores it.
  Vec column(full.size());
  for (int r = 0; r < world; ++r) {
    WeightLoader loader(w);
    Linear l = Linear::load(loader, "fc", in, out, true, {ParallelKind::kColumn, r, 2, 3});
    ASSERT_EQ(l.out_features(), out / world);
    Vec y = to_vec(l.forward(x).value());
    const int64_t part = out / 3, chunk = part / world;
    for (int64_t row = 0; row < 3; ++row)
      for (int64_t p = 0; p < 3; ++p)
        for (int64_t c = 0; c < chunk; ++c)
          column[row * out + p * part + r * chunk + c] = y[row * (out / world) + p * chunk + c];
  }
  for (size_t i = 0; i < full.size(); ++i) EXPECT_NEAR(column[i], full[i], 1e-5);

  // Row-parallel: each rank sees its slice of the input features; the
  // all-reduce hook sums the partial outputs, and the bias is added once.
  std::vector<Tensor> partials;
  std::vector<Linear> ranks;
  for (int r = 0; r < world; ++r) {
    WeightLoader loader(w);
    ranks.push_back(Linear::load(loader, "fc", in, out, true, {ParallelKind::kRow, r, 2, 1},
                                 [&partials](Tensor& t) {
                                   partials.push_back(t.clone().value());
                                   return Status::Ok();
                                 }));
  }
  for (int r = 0; r < world; ++r) {
    Tensor xs = x.slice(1, r * in / world, (r + 1) * in / world).value().contiguous().value();
    ASSERT_TRUE(ranks[r].forward(xs).ok());
  }
  ASSERT_EQ(partials.size(), 2u);
  Vec b = to_vec(w["fc.bias"]);
  Vec p0 = to_vec(partials[0]), p1 = to_vec(partials[1]);
  for (size_t i = 0; i < full.size(); ++i) EXPECT_NEAR(p0[i] + p1[i] + b[i % out], full[i], 1e-5);
}

TEST(Linear, RowParallelWithoutHookFails) {
  WeightMap w = linear_weights("fc", 8, 4, 9);
  WeightLoader loader(w);
  Linear l = Linear::load(loader, "fc", 8, 4, true, {ParallelKind::kRow, 0, 2, 1});
  EXPECT_FALSE(l.forward(random_tensor({2, 4}, 1)).ok());
}

TEST(Norms, LayerNormAndRmsNormMatchNaive) {
  const int64_t n = 5, d = 33;
  WeightMap w;
  w["ln.weight"] = random_tensor({d}, 11, 0.2f, 1.0f);
  w["ln.bias"] = random_tensor({d}, 12, 0.1f);
  w["rms.weight"] = random_tensor({d}, 13, 0.2f, 1.0f);
  WeightLoader loader(w);
  LayerNorm ln = LayerNorm::load(loader, "ln", d, 1e-6f);
  Norm rms = Norm::load(loader, "rms", d, 1e-6f, Norm::Kind::kRMSNorm);
  ASSERT_TRUE(loader.finish().ok());
  Tensor x = random_tensor({n, d}, 14, 3.0f, 0.5f);
  Vec xv = to_vec(x), g = to_vec(w["ln.weight"]), b = to_vec(w["ln.bias"]), gr = to_vec(w["rms.weight"]);
  Vec ref_ln(xv.size()), ref_rms(xv.size());
  for (int64_t r = 0; r < n; ++r) {
    double mean = 0, var = 0, ms = 0;
    for (int64_t i = 0; i < d; ++i) mean += xv[r * d + i] / d;
    for (int64_t i = 0; i < d; ++i) {
      var += (xv[r * d + i] - mean) * (xv[r * d + i] - mean) / d;
      ms += xv[r * d + i] * xv[r * d + i] / d;
    }
    for (int64_t i = 0; i < d; ++i) {
      ref_ln[r * d + i] = (xv[r * d + i] - mean) / std::sqrt(var + 1e-6) * g[i] + b[i];
      ref_rms[r * d + i] = xv[r * d + i] / std::sqrt(ms + 1e-6) * gr[i];
    }
  }
  EXPECT_LT(rel_error(ln.forward(x).value(), ref_ln), 1e-6);
  EXPECT_LT(rel_error(rms.forward(x).value(), ref_rms), 1e-6);
}

double act_ref(Activation a, double x) {
  switch (a) {
    case Activation::kQuickGelu: return x / (1 + std::exp(-1.702 * x));
    case Activation::kGeluErf: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Activation::kGeluTanh:
      return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case Activation::kSilu: return x / (1 + std::exp(-x));
  }
  return 0;
}

TEST(Mlp, MatchesNaiveForEveryActivation) {
  const int64_t n = 4, d = 16, h = 40;
  WeightMap w = linear_weights("mlp.fc1", d, h, 21);
  w.merge(linear_weights("mlp.fc2", h, d, 23));
  Tensor x = random_tensor({n, d}, 25, 1.5f);
  Vec b1 = to_vec(w["mlp.fc1.bias"]), b2 = to_vec(w["mlp.fc2.bias"]);
  for (const char* name : {"quick_gelu", "gelu", "gelu_pytorch_tanh", "silu"}) {
    Activation act = activation_from_name(name).value();
    WeightLoader loader(w);
    MLP mlp = MLP::load(loader, "mlp", d, h, 0, act);
    ASSERT_TRUE(loader.finish().ok());
    Vec hid = naive_linear(to_vec(x), to_vec(w["mlp.fc1.weight"]), &b1, n, d, h);
    for (double& v : hid) v = act_ref(act, v);
    Vec ref = naive_linear(hid, to_vec(w["mlp.fc2.weight"]), &b2, n, h, d);
    EXPECT_LT(rel_error(mlp.forward(x).value(), ref), 1e-5) << name;
  }
  EXPECT_FALSE(activation_from_name("relu6").ok());
}

TEST(GatedMlp, MatchesNaive) {
  const int64_t n = 3, d = 12, h = 20;
  WeightMap w = linear_weights("m.gate_proj", d, h, 31);
  w.merge(linear_weights("m.up_proj", d, h, 33));
  w.merge(linear_weights("m.down_proj", h, d, 35));
  WeightLoader loader(w);
  GatedMLP mlp = GatedMLP::load(loader, "m", d, h, true);
  ASSERT_TRUE(loader.finish().ok());
  Tensor x = random_tensor({n, d}, 37, 1.5f);
  Vec bg = to_vec(w["m.gate_proj.bias"]), bu = to_vec(w["m.up_proj.bias"]), bd = to_vec(w["m.down_proj.bias"]);
  Vec g = naive_linear(to_vec(x), to_vec(w["m.gate_proj.weight"]), &bg, n, d, h);
  Vec u = naive_linear(to_vec(x), to_vec(w["m.up_proj.weight"]), &bu, n, d, h);
  for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
  Vec ref = naive_linear(g, to_vec(w["m.down_proj.weight"]), &bd, n, h, d);
  EXPECT_LT(rel_error(mlp.forward(x).value(), ref), 1e-5);
}

TEST(VisionAttention, MatchesNaiveOverPackedSequences) {
  const int64_t heads = 2, hd = 8, dim = heads * hd;
  const std::vector<int64_t> cu = {0, 5, 6, 13};
  const int64_t n = cu.back();
  WeightMap w = linear_weights("attn.qkv", dim, 3 * dim, 41);
  w.merge(linear_weights("attn.proj", dim, dim, 43));
  WeightLoader loader(w);
  VisionAttention attn = VisionAttention::load(loader, "attn", dim, heads);
  ASSERT_TRUE(loader.finish().ok());
  Tensor x = random_tensor({n, dim}, 45);
  Tensor cos = random_tensor({n, hd}, 46), sin = random_tensor({n, hd}, 47);
  Tensor out = attn.forward(x, cos, sin, cu).value();

  Vec bq = to_vec(w["attn.qkv.bias"]), bp = to_vec(w["attn.proj.bias"]);
  Vec qkv = naive_linear(to_vec(x), to_vec(w["attn.qkv.weight"]), &bq, n, dim, 3 * dim);
  Vec c = to_vec(cos), s = to_vec(sin);
  auto at = [&](int part, int64_t t, int64_t h, int64_t i) { return qkv[t * 3 * dim + part * dim + h * hd + i]; };
  auto roped = [&](int part, int64_t t, int64_t h, int64_t i) {
    const double rot = i < hd / 2 ? -at(part, t, h, i + hd / 2) : at(part, t, h, i - hd / 2);
    return at(part, t, h, i) * c[t * hd + i] + rot * s[t * hd + i];
  };
  Vec ctx(static_cast<size_t>(n * dim));
  for (size_t seg = 0; seg + 1 < cu.size(); ++seg)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t t = cu[seg]; t < cu[seg + 1]; ++t) {
        Vec p;
        double mx = -1e300;
        for (int64_t k = cu[seg]; k < cu[seg + 1]; ++k) {
          double dot = 0;
          for (int64_t i = 0; i < hd; ++i) dot += roped(0, t, h, i) * roped(1, k, h, i);
          p.push_back(dot / std::sqrt(double(hd)));
          mx = std::max(mx, p.back());
        }
        double z = 0;
        for (double& v : p) z += (v = std::exp(v - mx));
        for (int64_t i = 0; i < hd; ++i) {
          double acc = 0;
          for (int64_t k = cu[seg]; k < cu[seg + 1]; ++k) acc += p[k - cu[seg]] / z * at(2, k, h, i);
          ctx[t * dim + h * hd + i] = acc;
        }
      }
  Vec ref = naive_linear(ctx, to_vec(w["attn.proj.weight"]), &bp, n, dim, dim);
  EXPECT_LT(rel_error(out, ref), 1e-5);
}

}  // namespace
}  // namespace eric::nn
