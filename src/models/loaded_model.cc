#include "models/loaded_model.h"

#include "models/model_source.h"

namespace eric::models {

Result<LoadedModel> load_model(const std::string& model, bool load_encoder, const EncoderOptions& options) {
  LoadedModel m;
  ERIC_ASSIGN_OR_RETURN(std::string dir, resolve_model_source(model, hub::HubOptions::from_environment()));
  ERIC_ASSIGN_OR_RETURN(m.config, ModelConfig::load(dir));
  ERIC_ASSIGN_OR_RETURN(m.family, find_model_family(m.config.model_type));
  if (m.family->make_processor == nullptr) {
    return Unimplemented("model_type '{}' has no processor yet", m.config.model_type);
  }
  ERIC_ASSIGN_OR_RETURN(m.processor, m.family->make_processor(m.config));
  if (load_encoder) {
    if (m.family->load_encoder == nullptr || m.family->encoder_prefixes == nullptr) {
      return Unimplemented("model_type '{}' has no encoder yet", m.config.model_type);
    }
    ERIC_ASSIGN_OR_RETURN(Checkpoint ck, Checkpoint::open(dir));
    ERIC_ASSIGN_OR_RETURN(WeightMap weights, ck.load(m.family->encoder_prefixes(m.config)));
    ERIC_ASSIGN_OR_RETURN(m.encoder, m.family->load_encoder(m.config, weights, options));
  }
  return m;
}

}  // namespace eric::models
