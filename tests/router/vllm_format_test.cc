// vLLM delivery on the router side: "format": "vllm" parsing, the content
// part built from an engine answer (dtype conversion, grid dict form, uuid),
// the dtype/merge size taken from the checkpoint config, EC storage, and the
// chat-request rewrite of the front door.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "delivery/ec_storage.h"
#include "media/base64.h"
#include "router/api_request.h"
#include "router/api_response.h"
#include "router/chat_request.h"
#include "router/vllm_delivery.h"
#include "tensor/safetensors.h"
#include "test_fixtures.h"
#include "../common/vllm_loader_check.h"

namespace eric::router {
namespace {

using json = nlohmann::json;

RequestPolicy policy() {
  RequestPolicy p;
  p.model_ids = {"qwen"};
  p.modalities = {"image"};
  return p;
}

TEST(VllmFormatTest, FormatField) {
  const std::string data = R"("data":[{"id":"a","modality":"image","model_id":"qwen","url":"x"}])";
  auto r = parse_embeddings_request("{" + data + "}", policy());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->format, EmbeddingsFormat::kRaw);
  r = parse_embeddings_request(R"({"format":"vllm",)" + data + "}", policy());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->format, EmbeddingsFormat::kVllm);
  r = parse_embeddings_request(R"({"format":"raw",)" + data + "}", policy());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->format, EmbeddingsFormat::kRaw);
  r = parse_embeddings_request(R"({"format":"sglang",)" + data + "}", policy());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown 'format' 'sglang'"), std::string::npos);
  r = parse_embeddings_request(R"({"format":1,)" + data + "}", policy());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'format' must be a string"), std::string::npos);
}

TEST(VllmFormatTest, DeliveryFromConfig) {
  auto d = vllm_delivery_from_config(json::parse(R"({"torch_dtype":"bfloat16","vision_config":{"spatial_merge_size":3}})"), "");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->dtype, DType::kBF16);
  EXPECT_EQ(d->spatial_merge_size, 3);
  d = vllm_delivery_from_config(json::parse(R"({"dtype":"float16"})"), "");  // transformers >= 4.56 spelling
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->dtype, DType::kF16);
  EXPECT_EQ(d->spatial_merge_size, 2);
  d = vllm_delivery_from_config(json::parse(R"({"text_config":{"torch_dtype":"bfloat16"}})"), "");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->dtype, DType::kBF16);
  // float32 (named or by default) is downcast as vLLM's --dtype auto does;
  // an explicit --vllm-dtype float32 stays.
  d = vllm_delivery_from_config(json::parse(R"({})"), "");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->dtype, DType::kBF16);
  d = vllm_delivery_from_config(json::parse(R"({"torch_dtype":"float32"})"), "");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->dtype, DType::kBF16);
  d = vllm_delivery_from_config(json::parse(R"({"torch_dtype":"float32"})"), "float32");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->dtype, DType::kF32);
  d = vllm_delivery_from_config(json::parse(R"({"torch_dtype":"bfloat16"})"), "float16");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->dtype, DType::kF16);
  EXPECT_FALSE(vllm_delivery_from_config(json::parse(R"({"torch_dtype":"int8"})"), "").ok());
  EXPECT_FALSE(vllm_delivery_from_config(json::parse(R"({})"), "int64").ok());
  EXPECT_FALSE(vllm_delivery_from_config(json::parse(R"({"vision_config":{"spatial_merge_size":0}})"), "").ok());
}

Tensor f32_pattern(int64_t rows, int64_t cols) {
  auto t = *Tensor::empty(DType::kF32, {rows, cols});
  for (int64_t i = 0; i < t.numel(); ++i) t.mutable_data<float>()[i] = 0.1f * static_cast<float>(i) - 3.3f;
  return t;
}

// tools/reference/vllm_embeds_loader.py on one part (tests/common/vllm_loader_check.h).
int check_with_loader(const json& part, const std::string& modality, const Tensor& expected) {
  return eric::testing::check_with_vllm_loader(part, modality, expected);
}

TEST(VllmFormatTest, PartIsInTheLlmDtypeWithTheGrid) {
  ItemEmbedding item{"cat", f32_pattern(6, 8), "image", *Tensor::from_vector(std::vector<int64_t>{1, 4, 6}, {1, 3})};
  VllmDelivery vllm{DType::kBF16, 2};
  auto part = vllm_part(item, vllm, "uuid-1");
  ASSERT_TRUE(part.ok()) << part.status().to_string();
  EXPECT_EQ((*part)["type"], "image_embeds");
  EXPECT_EQ((*part)["uuid"], "uuid-1");
  ASSERT_TRUE((*part)["image_embeds"].is_object());
  EXPECT_TRUE((*part)["image_embeds"].contains("image_grid_thw"));
  EXPECT_EQ(check_with_loader(*part, "image", *item.embedding.to(DType::kBF16)), 0);

  // Without a grid (other families): the plain string form.
  ItemEmbedding plain{"dog", f32_pattern(3, 8), "image", Tensor()};
  auto plain_part = vllm_part(plain, VllmDelivery{DType::kF16, 2});
  ASSERT_TRUE(plain_part.ok());
  EXPECT_TRUE((*plain_part)["image_embeds"].is_string());
  EXPECT_FALSE(plain_part->contains("uuid"));
  EXPECT_EQ(check_with_loader(*plain_part, "image", *plain.embedding.to(DType::kF16)), 0);

  // Rows that do not fit the grid are refused, naming the item.
  ItemEmbedding wrong{"bird", f32_pattern(5, 8), "image", *Tensor::from_vector(std::vector<int64_t>{1, 4, 6}, {1, 3})};
  auto bad = vllm_part(wrong, vllm);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bird"), std::string::npos) << bad.status().message();
}

TEST(VllmFormatTest, EmbeddingsAnswer) {
  std::vector<ItemEmbedding> items = {
      {"a", f32_pattern(6, 4), "image", *Tensor::from_vector(std::vector<int64_t>{1, 4, 6}, {1, 3})},
      {"v", f32_pattern(4, 4), "video", *Tensor::from_vector(std::vector<int64_t>{2, 2, 4}, {1, 3})}};
  auto r = embeddings_vllm_json(items, VllmDelivery{DType::kBF16, 2});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  json body = json::parse(r->body);
  EXPECT_EQ(body["status"], 0);
  ASSERT_EQ(body["embeddings"].size(), 2u);
  EXPECT_EQ(body["embeddings"][0]["id"], "a");
  EXPECT_EQ(body["embeddings"][0]["shape"], json::array({6, 4}));
  EXPECT_EQ(body["embeddings"][0]["dtype"], "bfloat16");
  EXPECT_EQ(body["embeddings"][1]["content_part"]["type"], "video_embeds");
  EXPECT_EQ(check_with_loader(body["embeddings"][1]["content_part"], "video", *items[1].embedding.to(DType::kBF16)), 0);
}

TEST(VllmFormatTest, EcStorageInTheLlmDtype) {
  testing::TempDir dir;
  ItemEmbedding item{"req-1", f32_pattern(6, 4), "image", Tensor()};
  ASSERT_TRUE(write_ec_storage(dir.str(), item, VllmDelivery{DType::kBF16, 2}).ok());
  auto f = SafetensorsFile::open(delivery::ec_cache_path(dir.str(), "req-1"));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->names(), std::vector<std::string>{"ec_cache"});
  auto t = f->get("ec_cache");
  ASSERT_TRUE(t.ok());
  Tensor expected = *item.embedding.to(DType::kBF16);
  EXPECT_EQ(t->dtype(), DType::kBF16);
  EXPECT_EQ(t->shape(), expected.shape());
  EXPECT_EQ(std::memcmp(t->raw_data(), expected.raw_data(), expected.nbytes()), 0);
  ItemEmbedding bad_id{"../x", f32_pattern(1, 4), "image", Tensor()};
  EXPECT_FALSE(write_ec_storage(dir.str(), bad_id, VllmDelivery{}).ok());
}

const char* kChat = R"({
  "model": "Qwen/Qwen2-VL-2B-Instruct", "temperature": 0.7, "max_tokens": 16, "stream": true,
  "messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": [
      {"type": "text", "text": "Compare"},
      {"type": "image_url", "image_url": {"url": "http://example.com/a.jpg", "detail": "auto"}},
      {"type": "image_url", "image_url": "data:image/png;base64,AAAA", "uuid": "img-2"},
      {"image_url": {"url": "file:///srv/c.png"}},
      {"type": "image_embeds", "image_embeds": "already"}
    ]}
  ]})";

TEST(ChatRequestTest, FindsMediaPartsAsVllmDoes) {
  auto r = parse_chat_request(kChat, {"image"});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->media.size(), 3u);
  EXPECT_EQ(r->media[0].where, "messages[1].content[1]");
  EXPECT_EQ(r->media[0].modality, "image");
  EXPECT_EQ(r->media[0].url, "http://example.com/a.jpg");
  EXPECT_EQ(r->media[0].uuid, "");
  EXPECT_EQ(r->media[1].url, "data:image/png;base64,AAAA");
  EXPECT_EQ(r->media[1].uuid, "img-2");
  EXPECT_EQ(r->media[2].where, "messages[1].content[3]");
  EXPECT_EQ(r->media[2].url, "file:///srv/c.png");
}

TEST(ChatRequestTest, RewriteTouchesOnlyTheMediaParts) {
  auto r = parse_chat_request(kChat, {"image"});
  ASSERT_TRUE(r.ok());
  std::vector<json> parts = {{{"type", "image_embeds"}, {"image_embeds", "P0"}},
                             {{"type", "image_embeds"}, {"image_embeds", "P1"}, {"uuid", "img-2"}},
                             {{"type", "image_embeds"}, {"image_embeds", "P2"}}};
  auto body = rewrite_chat_request(*r, parts);
  ASSERT_TRUE(body.ok());
  json out = json::parse(*body);
  json expected = json::parse(kChat);
  expected["messages"][1]["content"][1] = parts[0];
  expected["messages"][1]["content"][2] = parts[1];
  expected["messages"][1]["content"][3] = parts[2];
  EXPECT_EQ(out, expected);
  EXPECT_EQ(out["temperature"].dump(), "0.7");  // numbers keep their spelling
  EXPECT_FALSE(rewrite_chat_request(*r, {parts[0]}).ok());
}

TEST(ChatRequestTest, Errors) {
  auto video = R"({"messages":[{"role":"user","content":[{"type":"text","text":"x"},
                  {"type":"video_url","video_url":{"url":"http://v.mp4"}}]}]})";
  auto r = parse_chat_request(video, {"image"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("messages[0].content[1]: video parts are not supported"), std::string::npos)
      << r.status().message();
  r = parse_chat_request(video, {"image", "video"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->media[0].modality, "video");
  r = parse_chat_request(R"({"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA","format":"wav"}}]}]})",
                         {"image"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("audio parts are not supported"), std::string::npos);
  for (const char* bad : {"[]", "{", R"({"messages":{}})", R"({"messages":[1]})",
                          R"({"messages":[{"content":[{"type":"image_url","image_url":{}}]}]})",
                          R"({"messages":[{"content":[{"type":"image_url","image_1url":{"url":"u"}}]}]})",
                          R"({"messages":[{"content":[{"type":"image_url","image_url":{"url":""}}]}]})",
                          R"({"messages":[{"content":[{"type":"image_url","image_url":{"url":"u"},"uuid":5}]}]})"}) {
    EXPECT_FALSE(parse_chat_request(bad, {"image"}).ok()) << bad;
  }
  // Text-only requests have no media.
  r = parse_chat_request(R"({"messages":[{"role":"user","content":"hi"},{"role":"user","content":null}]})", {"image"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->media.empty());
}

}  // namespace
}  // namespace eric::router
