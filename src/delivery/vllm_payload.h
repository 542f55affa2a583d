// Content parts a stock vLLM accepts for precomputed multimodal embeddings
// (`vllm serve ... --enable-mm-embeds`): vLLM decodes the string with
// pybase64.b64decode(validate=True) and loads it with
// torch.load(..., weights_only=True) (vllm/multimodal/image.py,
// ImageEmbeddingMediaIO; vllm/entrypoints/chat_utils.py for the part types).
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>

#include "common/status.h"
#include "tensor/tensor.h"

namespace eric::delivery {

// base64 (standard alphabet, padded, one line) of torch_save(tensor).
Result<std::string> torch_save_base64(const Tensor& tensor);

// One content part for an item:
//   no grid:   {"type": "image_embeds", "image_embeds": "<b64>"}
//   with grid: {"type": "image_embeds", "image_embeds": {"image_embeds": "<b64>",
//                                                       "image_grid_thw": "<b64 of int64 (3,)>"}}
// (video: video_embeds / video_grid_thw; audio: audio_embeds). With a grid
// (the Qwen-VL families), the embedding's rows must equal t*h*w/merge^2.
// `uuid`, when not empty, is passed as the part's "uuid" (vLLM's mm_hash).
Result<nlohmann::json> vllm_content_part(std::string_view modality, const Tensor& embedding,
                                         const Tensor* grid_thw, int64_t spatial_merge_size,
                                         std::string_view uuid = {});

}  // namespace eric::delivery
