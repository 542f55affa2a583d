#include "router/api_response.h"

#include <nlohmann/json.hpp>

#include "media/base64.h"
#include "tensor/safetensors.h"

namespace eric::router {

using json = nlohmann::json;


HttpResponse json_error(int http_status, std::string_view message) {
  json body = {{"status", 1}, {"error_message", std::string(message)}};
  // Replace invalid UTF-8 (e.g. from a URL echoed in a message) rather than throw.
  return HttpResponse{http_status, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

HttpResponse json_error(const Status& status) { return json_error(http_status_for(status.code()), status.message()); }

HttpResponse json_ok() { return HttpResponse{200, "application/json", R"({"status":0,"error_message":null})"}; }

int http_status_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return 200;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotFound:
    case ErrorCode::kOutOfRange:
    case ErrorCode::kDataLoss:
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kUnimplemented:
      return 400;
    case ErrorCode::kResourceExhausted: return 413;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kDeadlineExceeded: return 504;
    case ErrorCode::kIoError:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

Result<HttpResponse> embeddings_json(const std::vector<ItemEmbedding>& items) {
  json list = json::array();
  for (const auto& item : items) {
    if (!item.embedding.defined()) return Internal("the engine returned no embedding for item '{}'", item.id);
    ERIC_ASSIGN_OR_RETURN(Tensor t, item.embedding.contiguous());
    json shape = json::array();
    for (int i = 0; i < t.rank(); ++i) shape.push_back(t.dim(i));
    list.push_back({{"id", item.id},
                    {"shape", std::move(shape)},
                    {"dtype", std::string(dtype_name(t.dtype()))},
                    {"data", media::base64_encode(std::string_view(static_cast<const char*>(t.raw_data()), t.nbytes()))}});
  }
  json body = {{"status", 0}, {"error_message", nullptr}, {"embeddings", std::move(list)}};
  return HttpResponse{200, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

Result<HttpResponse> embeddings_safetensors(const std::vector<ItemEmbedding>& items) {
  NamedTensors tensors;
  tensors.reserve(items.size());
  for (const auto& item : items) {
    if (!item.embedding.defined()) return Internal("the engine returned no embedding for item '{}'", item.id);
    tensors.emplace_back(item.id, item.embedding);
  }
  ERIC_ASSIGN_OR_RETURN(std::string bytes, safetensors_to_bytes(tensors));
  return HttpResponse{200, "application/octet-stream", std::move(bytes)};
}

bool wants_safetensors(std::string_view accept_header) {
  return accept_header.find("application/octet-stream") != std::string_view::npos;
}

}  // namespace eric::router
