#include "delivery/vllm_payload.h"

#include "delivery/torch_save.h"
#include "media/base64.h"

namespace eric::delivery {

Result<std::string> torch_save_base64(const Tensor& tensor) {
  ERIC_ASSIGN_OR_RETURN(std::string bytes, torch_save(tensor));
  return media::base64_encode(bytes);
}

Result<nlohmann::json> vllm_content_part(std::string_view modality, const Tensor& embedding,
                                         const Tensor* grid_thw, int64_t spatial_merge_size,
                                         std::string_view uuid) {
  if (modality != "image" && modality != "video" && modality != "audio") {
    return InvalidArgument("no vLLM embeddings part for modality '{}'", modality);
  }
  if (embedding.rank() != 2) {
    return InvalidArgument("vLLM embeddings must be [tokens, hidden], got {}", embedding.shape().to_string());
  }
  const std::string key = std::string(modality) + "_embeds";
  ERIC_ASSIGN_OR_RETURN(std::string embeds, torch_save_base64(embedding));
  nlohmann::json part = {{"type", key}};
  if (grid_thw == nullptr) {
    part[key] = embeds;
  } else {
    if (modality == "audio") return InvalidArgument("audio embeddings take no grid");
    ERIC_ASSIGN_OR_RETURN(Tensor grid, grid_thw->to(DType::kI64));
    if (grid.numel() != 3) {
      return InvalidArgument("{}_grid_thw must hold 3 values, got shape {}", modality, grid.shape().to_string());
    }
    ERIC_ASSIGN_OR_RETURN(grid, grid.reshape({3}));
    const int64_t* g = grid.data<int64_t>();
    const int64_t merge2 = spatial_merge_size * spatial_merge_size;
    if (merge2 <= 0 || g[0] * g[1] * g[2] != embedding.dim(0) * merge2) {
      return InvalidArgument("{} rows do not match grid ({}, {}, {}) with merge size {}: expected {}",
                             embedding.dim(0), g[0], g[1], g[2], spatial_merge_size,
                             merge2 > 0 ? g[0] * g[1] * g[2] / merge2 : 0);
    }
    ERIC_ASSIGN_OR_RETURN(std::string grid_b64, torch_save_base64(grid));
    part[key] = {{key, embeds}, {std::string(modality) + "_grid_thw", grid_b64}};
  }
  if (!uuid.empty()) part["uuid"] = std::string(uuid);
  return part;
}

}  // namespace eric::delivery
