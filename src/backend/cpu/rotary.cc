// rotary.cc — rotary position embedding in place, the rotate_half form of
// transformers' apply_rotary_pos_emb_vision:
//   out[:h]  = x[:h] * cos[:h] - x[h:] * sin[:h]
//   out[h:]  = x[h:] * cos[h:] + x[:h] * sin[h:]        (h = head_dim / 2)
// x may be a strided view ([tokens, heads, head_dim] with unit stride in the
// last dim), e.g. the q or k slice of a fused qkv projection, so the model
// does not have to copy it out first.
#include <algorithm>

#include "backend/cpu/check.h"
#include "backend/cpu/ops.h"
#include "backend/cpu/op_profile.h"
#include "backend/cpu/simd.h"
#include "common/thread_pool.h"

namespace eric::cpu {

namespace {

// One token's heads: x points at [heads, d] rows head_stride apart.
ERIC_CPU_CLONES void rotate_token(float* x, int64_t heads, int64_t head_stride, int64_t d, const float* cos,
                                  const float* sin) {
  const int64_t h = d / 2;
  for (int64_t hd = 0; hd < heads; ++hd) {
    float* x1 = x + hd * head_stride;
    float* x2 = x1 + h;
    for (int64_t i = 0; i < h; ++i) {
      const float a = x1[i], b = x2[i];
      x1[i] = a * cos[i] - b * sin[i];
      x2[i] = b * cos[h + i] + a * sin[h + i];
    }
  }
}

}  // namespace

Status apply_rotary_(Tensor& x, const Tensor& cos, const Tensor& sin) {
  profile::Scope timed(profile::OpKind::kRotary);
  constexpr std::string_view op = "apply_rotary_";
  ERIC_RETURN_IF_ERROR(check_f32(x, op, "x"));
  if (x.read_only()) return InvalidArgument("{}: x {} is read-only (memory-mapped)", op, x.describe());
  if (x.rank() != 3 || x.dim(2) % 2 != 0) {
    return InvalidArgument("{}: x has shape {}, expected [tokens, heads, head_dim] with even head_dim", op,
                           x.shape().to_string());
  }
  if (x.strides()[2] != 1 && x.dim(2) > 1) {
    return InvalidArgument("{}: x {} needs unit stride in its last dimension", op, x.describe());
  }
  const int64_t tokens = x.dim(0), heads = x.dim(1), d = x.dim(2);
  ERIC_ASSIGN_OR_RETURN(Tensor c, contiguous_f32(cos, op, "cos"));
  ERIC_ASSIGN_OR_RETURN(Tensor s, contiguous_f32(sin, op, "sin"));
  const Shape want{tokens, d};
  if (c.shape() != want || s.shape() != want) {
    return InvalidArgument("{}: x has shape {}, so cos and sin must be {}, got cos {} and sin {}", op,
                           x.shape().to_string(), want.to_string(), c.shape().to_string(), s.shape().to_string());
  }
  float* px = static_cast<float*>(x.mutable_raw_data());
  const int64_t token_stride = x.strides()[0], head_stride = x.strides()[1];
  const float* pc = c.data<float>();
  const float* ps = s.data<float>();
  const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, heads * d));
  ThreadPool::global().parallel_for(tokens, grain, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) rotate_token(px + t * token_stride, heads, head_stride, d, pc + t * d, ps + t * d);
  });
  return Status::Ok();
}

}  // namespace eric::cpu
