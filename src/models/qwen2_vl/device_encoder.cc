#include "models/qwen2_vl/device_encoder.h"

#ifdef ERIC_HAVE_CUDA
#include "models/qwen2_vl/vision_tower_cuda.h"
#endif

namespace eric::models::qwen2_vl {

bool cuda_backend_built() {
#ifdef ERIC_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

Result<std::unique_ptr<PackedVisionEncoder>> load_cuda_vision_encoder(const VisionConfig& cfg, const WeightMap& weights,
                                                                      const BlockStyle& style, PlanBuilder plan,
                                                                      const EncoderOptions& options) {
#ifdef ERIC_HAVE_CUDA
  ERIC_ASSIGN_OR_RETURN(auto encoder, CudaVisionEncoder::load(cfg, weights, style, plan, options));
  return std::unique_ptr<PackedVisionEncoder>(std::move(encoder));
#else
  (void)cfg, (void)weights, (void)style, (void)plan, (void)options;
  return Unavailable("--device cuda: this eric was built without the CUDA backend (no nvcc at build time, or "
                     "-DERIC_CUDA=OFF); rebuild with CUDA or use --device cpu");
#endif
}

}  // namespace eric::models::qwen2_vl
