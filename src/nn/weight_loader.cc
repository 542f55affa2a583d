#include "nn/weight_loader.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace eric::nn {

std::string join_name(const std::string& prefix, const std::string& name) {
  if (prefix.empty()) return name;
  if (prefix.back() == '.') return prefix + name;
  return prefix + "." + name;
}

WeightLoader::WeightLoader(const WeightMap& weights, std::string name_prefix)
    : weights_(weights), name_prefix_(std::move(name_prefix)) {}

void WeightLoader::error(std::string message) { errors_.push_back(std::move(message)); }

Tensor WeightLoader::take(const std::string& name, const Shape& expected) {
  const std::string full = name_prefix_ + name;
  auto it = weights_.find(name);
  if (it == weights_.end()) {
    error(fmt::format("{}: missing (expected shape {})", full, expected.to_string()));
    return Tensor();
  }
  taken_.insert(name);
  const Tensor& t = it->second;
  if (!dtype_is_float(t.dtype())) {
    error(fmt::format("{}: expected a float dtype (float32, bfloat16 or float16), got {}", full,
                      dtype_name(t.dtype())));
    return Tensor();
  }
  if (t.shape() != expected) {
    error(fmt::format("{}: expected shape {}, got {}", full, expected.to_string(), t.shape().to_string()));
    return Tensor();
  }
  if (t.dtype() == DType::kF32 && t.is_contiguous()) return t;
  auto converted = t.to(DType::kF32);
  if (!converted.ok()) {
    error(fmt::format("{}: {}", full, converted.status().message()));
    return Tensor();
  }
  auto contiguous = converted->contiguous();
  if (!contiguous.ok()) {
    error(fmt::format("{}: {}", full, contiguous.status().message()));
    return Tensor();
  }
  return *std::move(contiguous);
}

Status WeightLoader::finish() const {
  std::vector<std::string> problems = errors_;
  for (const auto& [name, tensor] : weights_) {
    if (!taken_.count(name)) {
      problems.push_back(fmt::format("{}: unexpected tensor ({}), not used by the model", name_prefix_ + name,
                                     tensor.describe()));
    }
  }
  if (problems.empty()) return Status::Ok();
  return InvalidArgument("checkpoint does not match the model ({} problem{}):\n  {}", problems.size(),
                         problems.size() == 1 ? "" : "s", fmt::join(problems, "\n  "));
}

}  // namespace eric::nn
