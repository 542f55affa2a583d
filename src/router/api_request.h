// POST /embeddings request bodies: parsing and validation. Everything a client
// can get wrong is caught here, before any media is fetched, and reported as
// InvalidArgument naming the field and the offending item.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace eric::router {

// One element of "data" (Cornserve's EmbeddingData, plus per-item processor
// overrides).
struct EmbeddingItemRequest {
  std::string id;
  std::string modality;
  std::string model_id;
  std::string url;
  // Groups of LLM-server ranks to receive the embedding through the sidecar.
  // Cornserve sends either a flat list (one group) or a list of lists.
  std::vector<std::vector<int32_t>> receiver_sidecar_ranks;
  std::optional<int64_t> min_pixels;
  std::optional<int64_t> max_pixels;
  // Video items only: frame selection (see models::VideoSamplingOptions).
  std::optional<int64_t> max_num_frames;
  std::optional<double> fps;
  std::optional<int64_t> min_frames;
  std::optional<int64_t> max_frames;
};

// How the embeddings come back (top-level "format").
enum class EmbeddingsFormat {
  kRaw,   // "raw" (default): {"id","shape","dtype","data"} with base64 of the raw bytes
  kVllm,  // "vllm": per item the content part a stock vLLM (--enable-mm-embeds) accepts
};

struct EmbeddingsRequest {
  std::vector<EmbeddingItemRequest> items;
  bool return_embeddings = false;  // top-level "return_embeddings"
  EmbeddingsFormat format = EmbeddingsFormat::kRaw;
  // Top-level "timeout_ms": this request's deadline, which can only shorten
  // the server's --request-timeout (0: the server's).
  int64_t timeout_ms = 0;
};

// What this server accepts.
struct RequestPolicy {
  std::vector<std::string> model_ids;   // accepted "model_id" values
  std::vector<std::string> modalities;  // e.g. {"image"}
  size_t max_items = 256;               // items per request
};

Result<EmbeddingsRequest> parse_embeddings_request(std::string_view body, const RequestPolicy& policy);

}  // namespace eric::router
