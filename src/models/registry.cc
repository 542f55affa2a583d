#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <mutex>

#include "models/model.h"

namespace eric::models {

namespace {
std::vector<ModelFamily>& families() {
  static std::vector<ModelFamily> f;
  return f;
}
std::mutex& registry_mutex() {
  static std::mutex mu;
  return mu;
}
}  // namespace

void register_model_family(const ModelFamily& family) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  families().push_back(family);
}

Result<const ModelFamily*> find_model_family(std::string_view model_type) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (const auto& f : families()) {
    if (std::find(f.model_types.begin(), f.model_types.end(), model_type) != f.model_types.end()) return &f;
  }
  std::vector<std::string> known;
  for (const auto& f : families()) known.insert(known.end(), f.model_types.begin(), f.model_types.end());
  std::sort(known.begin(), known.end());
  return NotFound("model_type '{}' is not supported (supported: {})", model_type, fmt::join(known, ", "));
}

std::vector<std::string> known_model_types() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<std::string> known;
  for (const auto& f : families()) known.insert(known.end(), f.model_types.begin(), f.model_types.end());
  std::sort(known.begin(), known.end());
  return known;
}

std::string_view modality_name(Modality m) {
  switch (m) {
    case Modality::kImage: return "image";
    case Modality::kVideo: return "video";
    case Modality::kAudio: return "audio";
  }
  return "?";
}

Result<Modality> modality_from_string(std::string_view name) {
  if (name == "image") return Modality::kImage;
  if (name == "video") return Modality::kVideo;
  if (name == "audio") return Modality::kAudio;
  return InvalidArgument("unknown modality '{}' (use image, video or audio)", name);
}

Result<ImageProcessorBackend> image_processor_backend_from_string(std::string_view name) {
  if (name.empty() || name == "default") return ImageProcessorBackend::kDefault;
  if (name == "pillow" || name == "pil") return ImageProcessorBackend::kPillow;
  if (name == "torchvision") return ImageProcessorBackend::kTorchvision;
  return InvalidArgument("unknown image processor backend '{}' (use pillow or torchvision)", name);
}

const Tensor* ProcessedItem::find(std::string_view name) const {
  for (const auto& [n, t] : tensors) {
    if (n == name) return &t;
  }
  return nullptr;
}

}  // namespace eric::models
