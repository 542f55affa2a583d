// Own element-wise, normalisation, softmax and rotary kernels against the CPU
// ops on the same (bf16-rounded where bf16) inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "backend/cpu/ops.h"
#include "backend/cuda/ops.h"
#include "cuda_test_util.h"

namespace eric::cuda {
namespace {
using testing::CudaTest;
using testing::DTypeCase;

class CudaKernels : public CudaTest {};

// Rows x cols shapes: tiny, not a multiple of the block, vision-tower wide.
// Odd widths and 5120 take the block-per-row norm; 132, 1280 and 2048 the
// warp-per-row one (a partial last vector, the towers' width, its maximum).
const std::vector<Shape> kShapes = {Shape{1, 3},     Shape{7, 333},   Shape{64, 1280},
                                    Shape{3, 5120},  Shape{5, 132},   Shape{9, 2048}};

void check_inplace(Context& ctx, const char* name, const std::function<Status(Tensor&)>& cpu_op,
                   const std::function<Status(Context&, DeviceTensor&)>& cuda_op, float stddev = 2.0f) {
  for (const DTypeCase& dc : testing::dtype_cases()) {
    for (size_t s = 0; s < kShapes.size(); ++s) {
      SCOPED_TRACE(std::string(name) + " " + std::string(dtype_name(dc.dtype)) + " " + kShapes[s].to_string());
      Tensor x = dc.prepare(testing::random_tensor(kShapes[s], 100 + static_cast<uint32_t>(s), stddev));
      Tensor ref = x.clone().value();
      ASSERT_TRUE(cpu_op(ref).ok());
      DeviceTensor d = upload(x, dc.dtype, ctx).value();
      Status st = cuda_op(ctx, d);
      ASSERT_TRUE(st.ok()) << st.message();
      EXPECT_LT(testing::rel_l2(download_f32(d, ctx).value(), ref), dc.tol);
    }
  }
}

TEST_F(CudaKernels, Activations) {
  check_inplace(*ctx, "gelu_erf", cpu::gelu_erf_, gelu_erf_);
  check_inplace(*ctx, "gelu_tanh", cpu::gelu_tanh_, gelu_tanh_);
  check_inplace(*ctx, "quick_gelu", cpu::quick_gelu_, quick_gelu_);
  check_inplace(*ctx, "silu", cpu::silu_, silu_);
  check_inplace(*ctx, "softmax", cpu::softmax_, softmax_, 4.0f);
}

TEST_F(CudaKernels, BiasResidualAndGate) {
  for (const DTypeCase& dc : testing::dtype_cases()) {
    SCOPED_TRACE(std::string(dtype_name(dc.dtype)));
    const Shape shape{37, 1280};
    Tensor x = dc.prepare(testing::random_tensor(shape, 1));
    Tensor y = dc.prepare(testing::random_tensor(shape, 2));
    Tensor b = dc.prepare(testing::random_tensor(Shape{1280}, 3));
    DeviceTensor dx = upload(x, dc.dtype, *ctx).value(), dy = upload(y, dc.dtype, *ctx).value();
    DeviceTensor dbias = upload(b, dc.dtype, *ctx).value();

    Tensor ref = x.clone().value();
    ASSERT_TRUE(cpu::add_bias_(ref, b).ok());
    DeviceTensor d = upload(x, dc.dtype, *ctx).value();
    ASSERT_TRUE(add_bias_(*ctx, d, dbias).ok());
    EXPECT_LT(testing::rel_l2(download_f32(d, *ctx).value(), ref), dc.tol) << "add_bias_";

    ASSERT_TRUE(cpu::gelu_erf_(ref).ok());  // fused bias + GELU
    d = upload(x, dc.dtype, *ctx).value();
    ASSERT_TRUE(bias_act_(*ctx, d, &dbias, kernels::Act::kGeluErf).ok());
    EXPECT_LT(testing::rel_l2(download_f32(d, *ctx).value(), ref), dc.tol) << "bias_act_ gelu";

    ref = x.clone().value();
    ASSERT_TRUE(cpu::add_(ref, y).ok());
    ASSERT_TRUE(add_(*ctx, dx, dy).ok());
    EXPECT_LT(testing::rel_l2(download_f32(dx, *ctx).value(), ref), dc.tol) << "add_";

    Tensor gref = cpu::silu_mul(x, y).value();
    DeviceTensor dx2 = upload(x, dc.dtype, *ctx).value();
    DeviceTensor g = silu_mul(*ctx, dx2, dy).value();
    EXPECT_LT(testing::rel_l2(download_f32(g, *ctx).value(), gref), dc.tol) << "silu_mul";

    DeviceTensor wrong = ctx->empty(dc.dtype, Shape{37, 1279}).value();
    EXPECT_FALSE(add_(*ctx, dx, wrong).ok());
    EXPECT_FALSE(add_bias_(*ctx, dx, wrong).ok());
  }
}

TEST_F(CudaKernels, LayerNormAndRmsNorm) {
  for (const DTypeCase& dc : testing::dtype_cases()) {
    for (size_t s = 0; s < kShapes.size(); ++s) {
      const Shape& shape = kShapes[s];
      SCOPED_TRACE(std::string(dtype_name(dc.dtype)) + " " + shape.to_string());
      const int64_t cols = shape[1];
      // Offset mean: LayerNorm must subtract it before squaring.
      Tensor x = dc.prepare(testing::random_tensor(shape, 20 + static_cast<uint32_t>(s), 3.0f, 5.0f));
      Tensor g = dc.prepare(testing::random_tensor(Shape{cols}, 30, 0.5f, 1.0f));
      Tensor b = dc.prepare(testing::random_tensor(Shape{cols}, 31));
      DeviceTensor dx = upload(x, dc.dtype, *ctx).value();
      DeviceTensor dg = upload(g, dc.dtype, *ctx).value(), db = upload(b, dc.dtype, *ctx).value();
      for (bool with_beta : {true, false}) {
        Tensor ref = cpu::layer_norm(x, g, with_beta ? &b : nullptr, 1e-6f).value();
        DeviceTensor y = layer_norm(*ctx, dx, dg, with_beta ? &db : nullptr, 1e-6f).value();
        EXPECT_LT(testing::rel_l2(download_f32(y, *ctx).value(), ref), dc.tol) << "layer_norm beta=" << with_beta;
      }
      Tensor rref = cpu::rms_norm(x, g, 1e-6f).value();
      DeviceTensor r = rms_norm(*ctx, dx, dg, 1e-6f).value();
      EXPECT_LT(testing::rel_l2(download_f32(r, *ctx).value(), rref), dc.tol) << "rms_norm";
    }
  }
}

// Odd column counts take the bias kernel's single-element path; add_ and
// silu_mul over an odd size run 16-byte vectors plus a single-element tail.
TEST_F(CudaKernels, OddShapesTakeTheScalarPath) {
  for (const DTypeCase& dc : testing::dtype_cases()) {
    SCOPED_TRACE(std::string(dtype_name(dc.dtype)));
    const Shape shape{7, 33};
    Tensor x = dc.prepare(testing::random_tensor(shape, 51));
    Tensor y = dc.prepare(testing::random_tensor(shape, 52));
    Tensor b = dc.prepare(testing::random_tensor(Shape{33}, 53));
    Tensor ref = x.clone().value();
    ASSERT_TRUE(cpu::add_bias_(ref, b).ok());
    ASSERT_TRUE(cpu::quick_gelu_(ref).ok());
    DeviceTensor d = upload(x, dc.dtype, *ctx).value();
    const DeviceTensor db = upload(b, dc.dtype, *ctx).value();
    ASSERT_TRUE(bias_act_(*ctx, d, &db, kernels::Act::kQuickGelu).ok());
    EXPECT_LT(testing::rel_l2(download_f32(d, *ctx).value(), ref), dc.tol) << "bias_act_";
    ref = x.clone().value();
    ASSERT_TRUE(cpu::add_(ref, y).ok());
    d = upload(x, dc.dtype, *ctx).value();
    ASSERT_TRUE(add_(*ctx, d, upload(y, dc.dtype, *ctx).value()).ok());
    EXPECT_LT(testing::rel_l2(download_f32(d, *ctx).value(), ref), dc.tol) << "add_";
    Tensor gref = cpu::silu_mul(x, y).value();
    DeviceTensor g = silu_mul(*ctx, upload(x, dc.dtype, *ctx).value(), upload(y, dc.dtype, *ctx).value()).value();
    EXPECT_LT(testing::rel_l2(download_f32(g, *ctx).value(), gref), dc.tol) << "silu_mul";
  }
}

// A float32 residual stream between bf16 layers: x f32 += bf16 branch, and
// norms of an f32 x into bf16 (gamma's dtype).
TEST_F(CudaKernels, Float32ResidualWithBf16Branches) {
  const Shape shape{19, 1280};
  Tensor x = testing::random_tensor(shape, 61, 3.0f, 5.0f);
  Tensor y = testing::round_bf16(testing::random_tensor(shape, 62));
  Tensor g = testing::round_bf16(testing::random_tensor(Shape{1280}, 63, 0.5f, 1.0f));
  Tensor b = testing::round_bf16(testing::random_tensor(Shape{1280}, 64));
  DeviceTensor dx = upload(x, DType::kF32, *ctx).value();
  DeviceTensor dg = upload(g, DType::kBF16, *ctx).value(), db = upload(b, DType::kBF16, *ctx).value();

  DeviceTensor ln = layer_norm(*ctx, dx, dg, &db, 1e-6f).value();
  EXPECT_EQ(ln.dtype(), DType::kBF16);
  EXPECT_LT(testing::rel_l2(download_f32(ln, *ctx).value(), cpu::layer_norm(x, g, &b, 1e-6f).value()), 4e-3);
  DeviceTensor rn = rms_norm(*ctx, dx, dg, 1e-6f).value();
  EXPECT_EQ(rn.dtype(), DType::kBF16);
  EXPECT_LT(testing::rel_l2(download_f32(rn, *ctx).value(), cpu::rms_norm(x, g, 1e-6f).value()), 4e-3);

  Tensor ref = x.clone().value();
  ASSERT_TRUE(cpu::add_(ref, y).ok());
  ASSERT_TRUE(add_(*ctx, dx, upload(y, DType::kBF16, *ctx).value()).ok());
  EXPECT_EQ(dx.dtype(), DType::kF32);
  EXPECT_LT(testing::rel_l2(download_f32(dx, *ctx).value(), ref), 1e-6);  // f32 sum, no bf16 rounding
}

// The residual add fused with the next norm equals add_ then the norm: for
// a float32 stream with bf16 branches, one dtype throughout, and a width the
// fused kernel does not take (the two-op fallback).
TEST_F(CudaKernels, AddNormEqualsAddThenNorm) {
  struct Case {
    DType stream, branch;
    int64_t cols;
  };
  for (const Case& c : {Case{DType::kF32, DType::kBF16, 1280}, Case{DType::kF32, DType::kF32, 1280},
                        Case{DType::kBF16, DType::kBF16, 1280}, Case{DType::kF32, DType::kBF16, 333}}) {
    for (bool rms : {false, true}) {
      SCOPED_TRACE(std::string(dtype_name(c.stream)) + "/" + std::string(dtype_name(c.branch)) + " cols " +
                   std::to_string(c.cols) + (rms ? " rms" : " layer"));
      const Shape shape{21, c.cols};
      Tensor x = testing::random_tensor(shape, 81, 3.0f, 2.0f);
      Tensor y = testing::random_tensor(shape, 82);
      Tensor g = testing::random_tensor(Shape{c.cols}, 83, 0.5f, 1.0f);
      Tensor b = testing::random_tensor(Shape{c.cols}, 84);
      DeviceTensor fused_x = upload(x, c.stream, *ctx).value(), split_x = upload(x, c.stream, *ctx).value();
      DeviceTensor dy = upload(y, c.branch, *ctx).value();
      DeviceTensor dg = upload(g, c.branch, *ctx).value(), db = upload(b, c.branch, *ctx).value();
      const DeviceTensor* beta = rms ? nullptr : &db;
      DeviceTensor fused = add_norm_(*ctx, fused_x, dy, dg, beta, rms, 1e-6f).value();
      ASSERT_TRUE(add_(*ctx, split_x, dy).ok());
      DeviceTensor split = (rms ? rms_norm(*ctx, split_x, dg, 1e-6f) : layer_norm(*ctx, split_x, dg, beta, 1e-6f)).value();
      EXPECT_EQ(fused.dtype(), c.branch);
      EXPECT_LT(testing::rel_l2(download_f32(fused_x, *ctx).value(), download_f32(split_x, *ctx).value()), 1e-7);
      const double tol = c.branch == DType::kBF16 ? 8e-3 : 1e-6;  // one bf16 rounding apart at most
      EXPECT_LT(testing::rel_l2(download_f32(fused, *ctx).value(), download_f32(split, *ctx).value()), tol);
    }
  }
  DeviceTensor x = ctx->empty(DType::kF32, Shape{4, 8}).value();
  DeviceTensor wrong = ctx->empty(DType::kF32, Shape{4, 9}).value();
  DeviceTensor g = ctx->empty(DType::kF32, Shape{8}).value();
  EXPECT_FALSE(add_norm_(*ctx, x, wrong, g, nullptr, true, 1e-6f).ok());
}

TEST_F(CudaKernels, DtypeConversionAndRotaryTables) {
  Tensor x = testing::random_tensor(Shape{9, 31}, 71, 10.0f);
  DeviceTensor bf = to_dtype(*ctx, upload(x, DType::kF32, *ctx).value(), DType::kBF16).value();
  EXPECT_EQ(bf.dtype(), DType::kBF16);
  Tensor expect = testing::round_bf16(x);
  EXPECT_EQ(testing::rel_l2(download_f32(bf, *ctx).value(), expect), 0.0);  // round to nearest even, as the host
  DeviceTensor back = to_dtype(*ctx, bf, DType::kF32).value();
  EXPECT_EQ(back.dtype(), DType::kF32);
  EXPECT_EQ(testing::rel_l2(download_f32(back, *ctx).value(), expect), 0.0);

  const int64_t tokens = 37, half = 20;
  Tensor angles = testing::random_tensor(Shape{tokens, half}, 72, 30.0f);
  auto tables = rotary_cos_sin(*ctx, upload(angles, DType::kF32, *ctx).value()).value();
  Tensor c = download_f32(tables.first, *ctx).value(), s = download_f32(tables.second, *ctx).value();
  ASSERT_EQ(c.shape(), (Shape{tokens, 2 * half}));
  double worst = 0;
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t j = 0; j < 2 * half; ++j) {
      const float a = angles.data<float>()[t * half + j % half];
      worst = std::max({worst, std::abs(double{c.data<float>()[t * 2 * half + j]} - std::cos(a)),
                        std::abs(double{s.data<float>()[t * 2 * half + j]} - std::sin(a))});
    }
  }
  EXPECT_LT(worst, 1e-6);
  EXPECT_FALSE(rotary_cos_sin(*ctx, upload(angles, DType::kBF16, *ctx).value()).ok());
}

TEST_F(CudaKernels, RotaryMatchesCpu) {
  for (const DTypeCase& dc : testing::dtype_cases()) {
    for (int64_t dim : {80, 64, 2}) {
      SCOPED_TRACE(std::string(dtype_name(dc.dtype)) + " head_dim " + std::to_string(dim));
      const int64_t tokens = 53, heads = 3;
      Tensor x = dc.prepare(testing::random_tensor(Shape{tokens, heads, dim}, 40));
      Tensor angle = testing::random_tensor(Shape{tokens, dim}, 41, 3.0f);
      Tensor cos = angle.clone().value(), sin = angle.clone().value();
      for (int64_t i = 0; i < angle.numel(); ++i) {
        cos.mutable_data<float>()[i] = std::cos(angle.data<float>()[i]);
        sin.mutable_data<float>()[i] = std::sin(angle.data<float>()[i]);
      }
      Tensor ref = x.clone().value();
      ASSERT_TRUE(cpu::apply_rotary_(ref, cos, sin).ok());
      DeviceTensor d = upload(x, dc.dtype, *ctx).value();
      DeviceTensor dcos = upload(cos, DType::kF32, *ctx).value(), dsin = upload(sin, DType::kF32, *ctx).value();
      Status st = apply_rotary_(*ctx, d, dcos, dsin);
      ASSERT_TRUE(st.ok()) << st.message();
      EXPECT_LT(testing::rel_l2(download_f32(d, *ctx).value(), ref), dc.tol);
    }
  }
}

// ---- access paths of the element-wise kernels ------------------------------------
// Each kernel picks 16-byte vectors, pairs or single elements from the
// column count and the pointers' alignment, and handles a vector tail. The
// views below sit at an element offset inside a buffer with guard elements on
// both sides: offset 0 is 16-byte aligned (cudaMalloc blocks), 1 forces
// single elements, 2 pairs (4 or 8 bytes), 8 a 16-byte aligned view again.
// Every element is checked (a skipped tail would hide in a relative L2 over
// thousands of elements) and the guards must come back unchanged.

// A device view of `host` at `offset` elements into a buffer with `guard`
// elements after it; the whole buffer (guards included) stays in `whole` and
// its host copy in `whole_host`.
struct GuardedView {
  DeviceTensor view, whole;
  Tensor whole_host;
  int64_t offset = 0, n = 0;
};
GuardedView guarded_view(Context& ctx, const Tensor& host, DType dtype, int64_t offset, uint32_t seed) {
  constexpr int64_t kGuard = 11;
  GuardedView g;
  g.offset = offset;
  g.n = host.numel();
  g.whole_host = testing::round_bf16(testing::random_tensor(Shape{offset + g.n + kGuard}, seed, 7.0f));
  std::copy(host.data<float>(), host.data<float>() + g.n, g.whole_host.mutable_data<float>() + offset);
  g.whole = upload(g.whole_host, dtype, ctx).value();
  g.view = g.whole.slice_rows(offset, offset + g.n).value().reshape(host.shape().dims()).value();
  return g;
}
// The guard elements of g (before and after the view) as they were uploaded.
void expect_guards_intact(Context& ctx, const GuardedView& g, const std::string& what) {
  Tensor now = download_f32(g.whole, ctx).value();
  int64_t changed = 0;
  for (int64_t i = 0; i < now.numel(); ++i) {
    if (i >= g.offset && i < g.offset + g.n) continue;
    if (now.data<float>()[i] != g.whole_host.data<float>()[i]) ++changed;
  }
  EXPECT_EQ(changed, 0) << what << ": elements outside the view were written";
}
// |out - ref| <= rtol * |ref| + atol for every element; reports the first miss.
void expect_close_everywhere(const Tensor& out, const Tensor& ref, double rtol, double atol, const std::string& what) {
  ASSERT_EQ(out.numel(), ref.numel()) << what;
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < out.numel(); ++i) {
    const double o = out.data<float>()[i], r = ref.data<float>()[i];
    if (!(std::abs(o - r) <= rtol * std::abs(r) + atol)) {
      if (first < 0) first = i;
      ++bad;
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << out.numel() << " elements off, first at " << first << " ("
                    << (first >= 0 ? out.data<float>()[first] : 0.0f) << " vs "
                    << (first >= 0 ? ref.data<float>()[first] : 0.0f) << ")";
}
// Per-element tolerances: float32 math either way; bf16 output rounding is
// at most half an ulp (2^-9 relative).
double elem_rtol(DType dt) { return dt == DType::kBF16 ? 8e-3 : 1e-4; }
double elem_atol(DType dt) { return dt == DType::kBF16 ? 1e-3 : 1e-5; }

// Shapes: rows of whole 16-byte vectors in both dtypes (5120 and 1280 wide,
// 37 rows: not a multiple of a block's rows), one vector per row (8), pairs
// only (1282 is even, not a multiple of 4), odd (333: the scalar bias path and
// a vector tail in the flat kernels).
const std::vector<Shape> kPathShapes = {Shape{37, 5120}, Shape{9, 1280}, Shape{5, 8}, Shape{3, 1282}, Shape{7, 333}};
struct Offsets {
  int64_t x, other;  // x (in place) and the second operand (bias, y, up)
};
const std::vector<Offsets> kOffsets = {{0, 0}, {1, 1}, {2, 2}, {8, 8}, {0, 1}, {0, 2}, {2, 0}};

std::string path_name(DType dt, const Shape& shape, Offsets o) {
  return std::string(dtype_name(dt)) + " " + shape.to_string() + " offsets " + std::to_string(o.x) + "/" +
         std::to_string(o.other);
}

TEST_F(CudaKernels, BiasActivationEveryAccessPath) {
  using Ref = std::function<Status(Tensor&)>;
  struct ActCase {
    kernels::Act act;
    const char* name;
    Ref ref;
  };
  const std::vector<ActCase> acts = {{kernels::Act::kNone, "bias", [](Tensor&) { return Status::Ok(); }},
                                     {kernels::Act::kGeluErf, "gelu_erf", cpu::gelu_erf_},
                                     {kernels::Act::kGeluTanh, "gelu_tanh", cpu::gelu_tanh_},
                                     {kernels::Act::kQuickGelu, "quick_gelu", cpu::quick_gelu_},
                                     {kernels::Act::kSilu, "silu", cpu::silu_}};
  for (const DTypeCase& dc : testing::dtype_cases()) {
    for (size_t s = 0; s < kPathShapes.size(); ++s) {
      const Shape& shape = kPathShapes[s];
      const int64_t cols = shape[1];
      Tensor x = dc.prepare(testing::random_tensor(shape, 300 + static_cast<uint32_t>(s), 2.0f));
      Tensor b = dc.prepare(testing::random_tensor(Shape{cols}, 320 + static_cast<uint32_t>(s)));
      for (const Offsets& o : kOffsets) {
        // Every activation on the aligned views; QuickGELU (the towers') on the rest.
        for (const ActCase& a : acts) {
          if ((o.x != 0 || o.other != 0) && a.act != kernels::Act::kQuickGelu) continue;
          const std::string what = std::string(a.name) + " " + path_name(dc.dtype, shape, o);
          SCOPED_TRACE(what);
          Tensor ref = x.clone().value();
          ASSERT_TRUE(cpu::add_bias_(ref, b).ok());
          ASSERT_TRUE(a.ref(ref).ok());
          GuardedView gx = guarded_view(*ctx, x, dc.dtype, o.x, 1);
          GuardedView gb = guarded_view(*ctx, b, dc.dtype, o.other, 2);
          Status st = bias_act_(*ctx, gx.view, &gb.view, a.act);
          ASSERT_TRUE(st.ok()) << st.message();
          expect_close_everywhere(download_f32(gx.view, *ctx).value(), ref, elem_rtol(dc.dtype), elem_atol(dc.dtype),
                                  what);
          expect_guards_intact(*ctx, gx, what);
        }
        // The activation alone runs flat over the tensor (any width vectorises).
        const std::string what = "quick_gelu without bias " + path_name(dc.dtype, shape, o);
        SCOPED_TRACE(what);
        Tensor ref = x.clone().value();
        ASSERT_TRUE(cpu::quick_gelu_(ref).ok());
        GuardedView gx = guarded_view(*ctx, x, dc.dtype, o.x, 3);
        ASSERT_TRUE(quick_gelu_(*ctx, gx.view).ok());
        expect_close_everywhere(download_f32(gx.view, *ctx).value(), ref, elem_rtol(dc.dtype), elem_atol(dc.dtype),
                                what);
        expect_guards_intact(*ctx, gx, what);
      }
    }
  }
}

TEST_F(CudaKernels, ResidualGateAndConversionEveryAccessPath) {
  for (size_t s = 0; s < kPathShapes.size(); ++s) {
    const Shape& shape = kPathShapes[s];
    for (const Offsets& o : kOffsets) {
      // add_: one dtype, and a float32 stream plus a bf16 branch (4-element
      // vectors: 16 bytes of x, 8 of y) and the reverse.
      for (auto [xt, yt] : {std::pair{DType::kF32, DType::kF32}, std::pair{DType::kBF16, DType::kBF16},
                            std::pair{DType::kF32, DType::kBF16}, std::pair{DType::kBF16, DType::kF32}}) {
        const std::string what = "add_ " + std::string(dtype_name(xt)) + " += " + path_name(yt, shape, o);
        SCOPED_TRACE(what);
        Tensor x = testing::round_bf16(testing::random_tensor(shape, 400 + static_cast<uint32_t>(s), 2.0f));
        Tensor y = testing::round_bf16(testing::random_tensor(shape, 420 + static_cast<uint32_t>(s)));
        Tensor ref = x.clone().value();
        ASSERT_TRUE(cpu::add_(ref, y).ok());
        GuardedView gx = guarded_view(*ctx, x, xt, o.x, 4);
        GuardedView gy = guarded_view(*ctx, y, yt, o.other, 5);
        ASSERT_TRUE(add_(*ctx, gx.view, gy.view).ok());
        expect_close_everywhere(download_f32(gx.view, *ctx).value(), ref, elem_rtol(xt), elem_atol(xt), what);
        expect_guards_intact(*ctx, gx, what);
      }
      for (const DTypeCase& dc : testing::dtype_cases()) {
        const std::string what = "silu_mul " + path_name(dc.dtype, shape, o);
        SCOPED_TRACE(what);
        Tensor g = dc.prepare(testing::random_tensor(shape, 440 + static_cast<uint32_t>(s), 2.0f));
        Tensor u = dc.prepare(testing::random_tensor(shape, 460 + static_cast<uint32_t>(s)));
        GuardedView gg = guarded_view(*ctx, g, dc.dtype, o.x, 6);
        GuardedView gu = guarded_view(*ctx, u, dc.dtype, o.other, 7);
        Result<DeviceTensor> out = silu_mul(*ctx, gg.view, gu.view);  // output freshly allocated: aligned
        ASSERT_TRUE(out.ok()) << out.status().message();
        expect_close_everywhere(download_f32(out.value(), *ctx).value(), cpu::silu_mul(g, u).value(),
                                elem_rtol(dc.dtype), elem_atol(dc.dtype), what);
      }
      // to_dtype: f32 -> bf16 rounds to nearest even exactly as the host;
      // bf16 -> f32 is exact. The input view is misaligned, the output not.
      for (auto [from, to] : {std::pair{DType::kF32, DType::kBF16}, std::pair{DType::kBF16, DType::kF32}}) {
        const std::string what = "to_dtype " + path_name(from, shape, o) + " -> " + std::string(dtype_name(to));
        SCOPED_TRACE(what);
        Tensor x = testing::random_tensor(shape, 480 + static_cast<uint32_t>(s), 10.0f);
        if (from == DType::kBF16) x = testing::round_bf16(x);
        GuardedView gx = guarded_view(*ctx, x, from, o.x, 8);
        Result<DeviceTensor> out = to_dtype(*ctx, gx.view, to);
        ASSERT_TRUE(out.ok()) << out.status().message();
        expect_close_everywhere(download_f32(out.value(), *ctx).value(), testing::round_bf16(x), 0.0, 0.0, what);
      }
    }
  }
}

// Rotary with every access width: head_dim 80 (half 40: 4-wide), 36 (half
// 18: pairs), 6 and 2 (odd half: single elements), on views whose offset
// (1 or 2 elements, or cos/sin one float in) narrows the width, and more
// heads than one block's threads cover (head_dim 8: one 4-wide group per
// head, 300 heads over 256 threads: the heads loop within a block). Each case
// rotates x alone, then x and a second tensor (attention's q and k) in one
// launch, the second at k_offset (misaligned alone in the last case).
TEST_F(CudaKernels, RotaryEveryAccessPath) {
  struct Case {
    int64_t tokens, heads, dim, x_offset, table_offset, k_offset;
  };
  for (const DTypeCase& dc : testing::dtype_cases()) {
    for (const Case& c : {Case{29, 16, 80, 0, 0, 0}, Case{29, 3, 80, 1, 0, 1}, Case{29, 3, 80, 2, 0, 2},
                          Case{29, 3, 80, 0, 1, 0}, Case{13, 5, 36, 0, 0, 0}, Case{13, 5, 6, 0, 0, 0},
                          Case{13, 5, 2, 0, 0, 0}, Case{5, 300, 8, 0, 0, 0}, Case{29, 16, 80, 0, 0, 1}}) {
      const std::string what = std::string(dtype_name(dc.dtype)) + " tokens " + std::to_string(c.tokens) + " heads " +
                               std::to_string(c.heads) + " head_dim " + std::to_string(c.dim) + " offsets x " +
                               std::to_string(c.x_offset) + " tables " + std::to_string(c.table_offset) + " k " +
                               std::to_string(c.k_offset);
      SCOPED_TRACE(what);
      const Shape shape{c.tokens, c.heads, c.dim};
      Tensor x = dc.prepare(testing::random_tensor(shape, 500));
      Tensor k = dc.prepare(testing::random_tensor(shape, 502));
      Tensor angle = testing::random_tensor(Shape{c.tokens, c.dim}, 501, 3.0f);
      Tensor cos = angle.clone().value(), sin = angle.clone().value();
      for (int64_t i = 0; i < angle.numel(); ++i) {
        cos.mutable_data<float>()[i] = std::cos(angle.data<float>()[i]);
        sin.mutable_data<float>()[i] = std::sin(angle.data<float>()[i]);
      }
      Tensor xref = x.clone().value(), kref = k.clone().value();
      ASSERT_TRUE(cpu::apply_rotary_(xref, cos, sin).ok());
      ASSERT_TRUE(cpu::apply_rotary_(kref, cos, sin).ok());
      // cos/sin are float32 always (guarded_view's bf16 rounding touches only the guards).
      GuardedView gc = guarded_view(*ctx, cos, DType::kF32, c.table_offset, 10);
      GuardedView gs = guarded_view(*ctx, sin, DType::kF32, c.table_offset, 11);
      const double rtol = elem_rtol(dc.dtype), atol = elem_atol(dc.dtype);

      GuardedView gx = guarded_view(*ctx, x, dc.dtype, c.x_offset, 9);
      Status st = apply_rotary_(*ctx, gx.view, gc.view, gs.view);
      ASSERT_TRUE(st.ok()) << st.message();
      expect_close_everywhere(download_f32(gx.view, *ctx).value(), xref, rtol, atol, what + " alone");
      expect_guards_intact(*ctx, gx, what + " alone");

      GuardedView gq = guarded_view(*ctx, x, dc.dtype, c.x_offset, 12);
      GuardedView gk = guarded_view(*ctx, k, dc.dtype, c.k_offset, 13);
      st = apply_rotary_(*ctx, gq.view, gk.view, gc.view, gs.view);
      ASSERT_TRUE(st.ok()) << st.message();
      expect_close_everywhere(download_f32(gq.view, *ctx).value(), xref, rtol, atol, what + " q of q/k");
      expect_close_everywhere(download_f32(gk.view, *ctx).value(), kref, rtol, atol, what + " k of q/k");
      expect_guards_intact(*ctx, gq, what + " q of q/k");
      expect_guards_intact(*ctx, gk, what + " k of q/k");
    }
  }
  DeviceTensor q = ctx->empty(DType::kF32, Shape{4, 2, 8}).value();
  DeviceTensor other = ctx->empty(DType::kF32, Shape{4, 3, 8}).value();
  DeviceTensor bf = ctx->empty(DType::kBF16, Shape{4, 2, 8}).value();
  DeviceTensor table = ctx->empty(DType::kF32, Shape{4, 8}).value();
  EXPECT_FALSE(apply_rotary_(*ctx, q, other, table, table).ok());  // k's shape differs
  EXPECT_FALSE(apply_rotary_(*ctx, q, bf, table, table).ok());     // k's dtype differs
  Status same = apply_rotary_(*ctx, q, q, table, table);            // one launch would rotate it once
  ASSERT_FALSE(same.ok());
  EXPECT_NE(same.message().find("same tensor"), std::string::npos) << same.message();
}

}  // namespace
}  // namespace eric::cuda
