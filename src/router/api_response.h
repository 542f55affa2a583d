// Response bodies of the HTTP API: Cornserve's {"status", "error_message"}
// envelope, embeddings as JSON (base64 of the little-endian bytes) or as a
// safetensors body, and the mapping from eric errors to HTTP status codes.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "router/http_types.h"
#include "tensor/tensor.h"

namespace eric::router {

// A plain answer (no extra headers, not streamed).
HttpResponse make_response(int status, std::string content_type, std::string body);

// {"status":1,"error_message":"..."} with the given HTTP status.
HttpResponse json_error(int http_status, std::string_view message);
// The same, with the HTTP status that fits the error's code.
HttpResponse json_error(const Status& status);
// {"status":0,"error_message":null}
HttpResponse json_ok();

// Request-level errors: bad input is the client's (400), an engine that is
// not there is 503, a timeout 504, everything else is ours (500).
int http_status_for(ErrorCode code);

struct ItemEmbedding {
  std::string id;
  Tensor embedding;
  std::string modality = "image";
  // The item's image_grid_thw / video_grid_thw from preprocessing (int64, 3
  // values); undefined for model families without grids.
  Tensor grid_thw;
};

// The outcome of running items through preprocessing and the engine: one
// embedding per item in request order, or the HTTP status and message of
// the failure (which names the item when one item is to blame).
struct EncodeOutcome {
  int http_status = 200;
  std::string error;
  std::vector<ItemEmbedding> items;  // empty when embeddings were not asked for
  bool ok() const { return http_status == 200; }
};

// What vLLM expects of an embedding: the LLM's dtype (vLLM runs the model in
// its config's torch_dtype) and, for grid families, the merge size that
// relates grid and rows (rows = t*h*w / merge^2).
struct VllmDelivery {
  DType dtype = DType::kF32;
  int64_t spatial_merge_size = 2;
};

// The item as vLLM's `*_embeds` content part, in vllm.dtype; the dict form
// with the grid when the item has one. `uuid` (optional) becomes the part's
// "uuid" (vLLM's mm_hash).
Result<nlohmann::json> vllm_part(const ItemEmbedding& item, const VllmDelivery& vllm, std::string_view uuid = {});

// {"status":0,"error_message":null,"embeddings":[{"id","shape","dtype","data"}]}
Result<HttpResponse> embeddings_json(const std::vector<ItemEmbedding>& items);
// The item's embedding, in vllm.dtype, as vLLM EC-connector storage:
// <dir>/<item id>/encoder_cache.safetensors, renamed into place when complete.
Status write_ec_storage(const std::string& dir, const ItemEmbedding& item, const VllmDelivery& vllm);

// format "vllm": {"status":0,"error_message":null,"embeddings":[{"id","shape","dtype","content_part"}]}
// (shape and dtype of the embedding inside the part).
Result<HttpResponse> embeddings_vllm_json(const std::vector<ItemEmbedding>& items, const VllmDelivery& vllm);
// A safetensors file with one tensor per item, named by the item id.
Result<HttpResponse> embeddings_safetensors(const std::vector<ItemEmbedding>& items);

// True when the client asked for the binary (safetensors) answer.
bool wants_safetensors(std::string_view accept_header);

}  // namespace eric::router
