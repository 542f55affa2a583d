// A model ready to serve: its config, processor and encoder, loaded from a
// checkpoint folder through the family registry.
#pragma once

#include <memory>
#include <string>

#include "models/model.h"

namespace eric::models {

struct LoadedModel {
  ModelConfig config;
  const ModelFamily* family = nullptr;
  std::unique_ptr<ModalityProcessor> processor;
  std::unique_ptr<Encoder> encoder;  // null when loaded with load_encoder = false
};

// `model` is a checkpoint folder or a Hub id (see model_source.h; the Hub is
// configured from HF_* environment variables). Reads the configs, picks the
// family by model_type and (optionally) loads only the encoder's tensors.
Result<LoadedModel> load_model(const std::string& model, bool load_encoder, const EncoderOptions& options = {});

}  // namespace eric::models
