#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/model.h"

namespace eric::models {

namespace {

// Reads a JSON file; a missing optional file gives an empty object.
Result<nlohmann::json> read_json(const std::filesystem::path& path, bool required) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (required) return NotFound("{} does not exist", path.string());
    return nlohmann::json::object();
  }
  std::ifstream in(path);
  if (!in) return IoError("{}: cannot read", path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    auto j = nlohmann::json::parse(ss.str());
    if (!j.is_object()) return DataLoss("{}: not a JSON object", path.string());
    return j;
  } catch (const nlohmann::json::exception& ex) {
    return DataLoss("{}: not valid JSON: {}", path.string(), ex.what());
  }
}

}  // namespace

Result<ModelConfig> ModelConfig::load(const std::string& dir) {
  namespace fs = std::filesystem;
  ModelConfig mc;
  mc.dir = dir;
  ERIC_ASSIGN_OR_RETURN(mc.config, read_json(fs::path(dir) / "config.json", true));
  ERIC_ASSIGN_OR_RETURN(mc.preprocessor_config, read_json(fs::path(dir) / "preprocessor_config.json", false));
  ERIC_ASSIGN_OR_RETURN(mc.video_preprocessor_config,
                        read_json(fs::path(dir) / "video_preprocessor_config.json", false));
  auto it = mc.config.find("model_type");
  if (it == mc.config.end() || !it->is_string()) {
    return DataLoss("{}/config.json has no string 'model_type'", dir);
  }
  mc.model_type = it->get<std::string>();
  return mc;
}

}  // namespace eric::models
