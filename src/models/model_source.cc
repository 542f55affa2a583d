#include "models/model_source.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "models/model.h"
#include "tensor/checkpoint.h"

namespace eric::models {

namespace {
// Small configs the processors may read; absent ones are fine.
const char* const kOptionalConfigs[] = {"preprocessor_config.json", "video_preprocessor_config.json",
                                        "processor_config.json"};
}  // namespace

Result<std::string> resolve_model_source(const std::string& model, const hub::HubOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(model, ec)) return model;
  ERIC_ASSIGN_OR_RETURN(hub::RepoRef ref, hub::parse_repo_ref(model));
  hub::HubClient client(options);
  ERIC_ASSIGN_OR_RETURN(std::string commit, client.resolve_commit(ref));
  spdlog::info("model {} revision {} is commit {}", ref.repo_id, ref.revision, commit);
  ERIC_RETURN_IF_ERROR(client.download(ref, commit, "config.json", false).status());
  for (const char* name : kOptionalConfigs) ERIC_RETURN_IF_ERROR(client.download(ref, commit, name, true).status());
  const std::string dir = client.cache().snapshot_dir(ref.repo_id, commit);

  ERIC_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::load(dir));
  ERIC_ASSIGN_OR_RETURN(const ModelFamily* family, find_model_family(config.model_type));
  if (family->encoder_prefixes == nullptr) {
    return Unimplemented("model_type '{}' has no encoder yet", config.model_type);
  }
  ERIC_ASSIGN_OR_RETURN(std::string index, client.download(ref, commit, Checkpoint::kIndexName, true));
  std::vector<std::string> files;
  if (index.empty()) {
    files.push_back(Checkpoint::kSingleName);
  } else {
    ERIC_ASSIGN_OR_RETURN(Checkpoint ck, Checkpoint::open(dir));
    files = ck.shards_for(family->encoder_prefixes(config));
    if (files.empty()) {
      return NotFound("{}: the index lists no tensors under the encoder's prefixes", model);
    }
  }
  spdlog::info("model {}: fetching {} weight file(s) holding the encoder", ref.repo_id, files.size());
  ERIC_RETURN_IF_ERROR(client.download_all(ref, commit, files));
  return dir;
}

}  // namespace eric::models
