#include "router/api_response.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "media/base64.h"
#include "tensor/safetensors.h"

namespace eric::router {
namespace {

using json = nlohmann::json;

TEST(ApiResponse, ErrorEnvelope) {
  HttpResponse r = json_error(400, "data[0] (id 'a'): bad \"url\"");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.content_type, "application/json");
  json body = json::parse(r.body);
  EXPECT_EQ(body["status"], 1);
  EXPECT_EQ(body["error_message"], "data[0] (id 'a'): bad \"url\"");
}

TEST(ApiResponse, InvalidUtf8IsReplacedNotThrown) {
  HttpResponse r = json_error(400, std::string("bad \xff byte"));
  EXPECT_TRUE(json::accept(r.body));
}

TEST(ApiResponse, OkEnvelope) {
  json body = json::parse(json_ok().body);
  EXPECT_EQ(body["status"], 0);
  EXPECT_TRUE(body["error_message"].is_null());
  EXPECT_FALSE(body.contains("embeddings"));
}

TEST(ApiResponse, StatusCodes) {
  EXPECT_EQ(http_status_for(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(http_status_for(ErrorCode::kDataLoss), 400);
  EXPECT_EQ(http_status_for(ErrorCode::kPermissionDenied), 400);
  EXPECT_EQ(http_status_for(ErrorCode::kUnavailable), 503);
  EXPECT_EQ(http_status_for(ErrorCode::kDeadlineExceeded), 504);
  EXPECT_EQ(http_status_for(ErrorCode::kInternal), 500);
  EXPECT_EQ(json_error(Unavailable("engine gone")).status, 503);
}

TEST(ApiResponse, EmbeddingsAsJsonBase64) {
  auto a = *Tensor::from_vector<float>({1.0f, -2.5f, 3.25f, 0.0f, 1e-7f, 7.0f}, Shape{3, 2});
  auto b = *Tensor::from_vector<float>({42.0f}, Shape{1, 1});
  auto r = embeddings_json({{"a", a}, {"b", b}});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  json body = json::parse(r->body);
  EXPECT_EQ(body["status"], 0);
  ASSERT_EQ(body["embeddings"].size(), 2u);
  const json& e = body["embeddings"][0];
  EXPECT_EQ(e["id"], "a");
  EXPECT_EQ(e["shape"], json::array({3, 2}));
  EXPECT_EQ(e["dtype"], "float32");
  auto bytes = media::base64_decode(e["data"].get<std::string>());
  ASSERT_TRUE(bytes.ok());
  ASSERT_EQ(bytes->size(), a.nbytes());
  EXPECT_EQ(std::memcmp(bytes->data(), a.raw_data(), a.nbytes()), 0);
  EXPECT_EQ(body["embeddings"][1]["id"], "b");
}

TEST(ApiResponse, NonContiguousEmbeddingIsWrittenInLogicalOrder) {
  auto a = *Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  auto t = *a.transpose(0, 1);  // [3, 2]: 1 4 2 5 3 6
  auto r = embeddings_json({{"t", t}});
  ASSERT_TRUE(r.ok());
  auto bytes = *media::base64_decode(json::parse(r->body)["embeddings"][0]["data"].get<std::string>());
  std::vector<float> got(6);
  std::memcpy(got.data(), bytes.data(), 24);
  EXPECT_EQ(got, (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(ApiResponse, MissingEmbeddingIsInternal) {
  auto r = embeddings_json({{"a", Tensor()}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInternal);
  EXPECT_NE(r.status().message().find("'a'"), std::string::npos);
}

TEST(ApiResponse, EmbeddingsAsSafetensors) {
  auto a = *Tensor::from_vector<float>({1, 2, 3, 4}, Shape{2, 2});
  auto b = *Tensor::from_vector<float>({5, 6}, Shape{1, 2});
  auto r = embeddings_safetensors({{"img-a", a}, {"img-b", b}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content_type, "application/octet-stream");
  auto tensors = safetensors_from_bytes(r->body);
  ASSERT_TRUE(tensors.ok()) << tensors.status().to_string();
  ASSERT_EQ(tensors->size(), 2u);
  for (const auto& [name, t] : *tensors) {
    const Tensor& want = name == "img-a" ? a : b;
    ASSERT_EQ(t.shape().to_string(), want.shape().to_string()) << name;
    EXPECT_EQ(std::memcmp(t.raw_data(), want.raw_data(), want.nbytes()), 0) << name;
  }
}

TEST(ApiResponse, AcceptHeader) {
  EXPECT_TRUE(wants_safetensors("application/octet-stream"));
  EXPECT_TRUE(wants_safetensors("application/json;q=0.5, application/octet-stream"));
  EXPECT_FALSE(wants_safetensors("application/json"));
  EXPECT_FALSE(wants_safetensors(""));
}

}  // namespace
}  // namespace eric::router
