#include "router/api_response.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "delivery/ec_storage.h"
#include "delivery/vllm_payload.h"
#include "media/base64.h"
#include "tensor/safetensors.h"

namespace eric::router {

using json = nlohmann::json;


HttpResponse make_response(int status, std::string content_type, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  return response;
}

HttpResponse json_error(int http_status, std::string_view message) {
  json body = {{"status", 1}, {"error_message", std::string(message)}};
  // Replace invalid UTF-8 (e.g. from a URL echoed in a message) rather than throw.
  return make_response(http_status, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace));
}

HttpResponse json_error(const Status& status) { return json_error(http_status_for(status.code()), status.message()); }

HttpResponse json_ok() { return make_response(200, "application/json", R"({"status":0,"error_message":null})"); }

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
  return make_response(200, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace));
}

Result<nlohmann::json> vllm_part(const ItemEmbedding& item, const VllmDelivery& vllm, std::string_view uuid) {
  if (!item.embedding.defined()) return Internal("the engine returned no embedding for item '{}'", item.id);
  ERIC_ASSIGN_OR_RETURN(Tensor embedding, item.embedding.to(vllm.dtype));
  auto part = delivery::vllm_content_part(item.modality, embedding, item.grid_thw.defined() ? &item.grid_thw : nullptr,
                                          vllm.spatial_merge_size, uuid);
  if (!part.ok()) return part.status().with_context(fmt::format("item '{}'", item.id));
  return part;
}

Status write_ec_storage(const std::string& dir, const ItemEmbedding& item, const VllmDelivery& vllm) {
  if (!item.embedding.defined()) return Internal("the engine returned no embedding for item '{}'", item.id);
  ERIC_ASSIGN_OR_RETURN(Tensor embedding, item.embedding.to(vllm.dtype));
  return delivery::write_ec_cache(dir, item.id, embedding);
}

Result<HttpResponse> embeddings_vllm_json(const std::vector<ItemEmbedding>& items, const VllmDelivery& vllm) {
  json list = json::array();
  for (const auto& item : items) {
    ERIC_ASSIGN_OR_RETURN(json part, vllm_part(item, vllm));
    json shape = json::array();
    for (int i = 0; i < item.embedding.rank(); ++i) shape.push_back(item.embedding.dim(i));
    list.push_back({{"id", item.id},
                    {"shape", std::move(shape)},
                    {"dtype", std::string(dtype_name(vllm.dtype))},
                    {"content_part", std::move(part)}});
  }
  json body = {{"status", 0}, {"error_message", nullptr}, {"embeddings", std::move(list)}};
  return make_response(200, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace));
}

Result<HttpResponse> embeddings_safetensors(const std::vector<ItemEmbedding>& items) {
  NamedTensors tensors;
  tensors.reserve(items.size());
  for (const auto& item : items) {
    if (!item.embedding.defined()) return Internal("the engine returned no embedding for item '{}'", item.id);
    tensors.emplace_back(item.id, item.embedding);
  }
  ERIC_ASSIGN_OR_RETURN(std::string bytes, safetensors_to_bytes(tensors));
  return make_response(200, "application/octet-stream", std::move(bytes));
}

bool wants_safetensors(std::string_view accept_header) {
  return accept_header.find("application/octet-stream") != std::string_view::npos;
}

}  // namespace eric::router
