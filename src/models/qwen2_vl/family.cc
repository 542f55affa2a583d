// Registers the Qwen2-VL family: model_type "qwen2_vl".
#include "models/model.h"
#include "models/qwen2_vl/processor.h"
#include "models/qwen2_vl/test_model.h"
#include "models/qwen2_vl/vision_config.h"
#include "models/qwen2_vl/vision_encoder.h"

namespace eric::models::qwen2_vl {
namespace {

std::vector<std::string> encoder_prefixes(const ModelConfig&) { return {"visual."}; }

Result<std::unique_ptr<Encoder>> load_encoder(const ModelConfig& config, const WeightMap& weights,
                                              const EncoderOptions& options) {
  ERIC_ASSIGN_OR_RETURN(VisionConfig cfg, VisionConfig::parse_qwen2_vl(config.config));
  ERIC_ASSIGN_OR_RETURN(auto encoder, load_qwen2_vl_encoder(cfg, weights, options));
  return std::unique_ptr<Encoder>(std::move(encoder));
}

ModelFamily family() {
  ModelFamily f;
  f.model_types = {"qwen2_vl"};
  f.encoder_prefixes = &encoder_prefixes;
  f.make_processor = &make_qwen2_vl_processor;
  f.load_encoder = &load_encoder;
  f.write_test_model = &write_test_model;
  return f;
}

ERIC_REGISTER_MODEL_FAMILY(family());

}  // namespace
}  // namespace eric::models::qwen2_vl
