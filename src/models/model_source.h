// Where a model's files come from: a local checkpoint folder, or a Hugging
// Face Hub id ("org/name[@revision]") resolved through the huggingface_hub
// cache, downloading only what the encoder needs.
#pragma once

#include <string>

#include "common/status.h"
#include "hub/hub_client.h"

namespace eric::models {

// A folder that exists is returned as it is. Otherwise `model` must be a Hub
// id: config.json and the small preprocessing configs are fetched, the
// model_type's family names the encoder's tensor prefixes, and only the
// shards holding those tensors (per model.safetensors.index.json), or the
// single model.safetensors, are downloaded. Returns the snapshot folder.
Result<std::string> resolve_model_source(const std::string& model, const hub::HubOptions& options);

}  // namespace eric::models
