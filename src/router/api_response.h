// Response bodies of the HTTP API: Cornserve's {"status", "error_message"}
// envelope, embeddings as JSON (base64 of the little-endian bytes) or as a
// safetensors body, and the mapping from eric errors to HTTP status codes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "router/http_types.h"
#include "tensor/tensor.h"

namespace eric::router {

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
};

// {"status":0,"error_message":null,"embeddings":[{"id","shape","dtype","data"}]}
Result<HttpResponse> embeddings_json(const std::vector<ItemEmbedding>& items);
// A safetensors file with one tensor per item, named by the item id.
Result<HttpResponse> embeddings_safetensors(const std::vector<ItemEmbedding>& items);

// True when the client asked for the binary (safetensors) answer.
bool wants_safetensors(std::string_view accept_header);

}  // namespace eric::router
