#include "router/api_request.h"

#include <gtest/gtest.h>

namespace eric::router {
namespace {

RequestPolicy policy() {
  RequestPolicy p;
  p.model_ids = {"/models/qwen", "qwen"};
  p.modalities = {"image"};
  p.max_items = 4;
  return p;
}

std::string item(const std::string& id, const std::string& extra = "") {
  return R"({"id":")" + id + R"(","modality":"image","model_id":"qwen","url":"file:///x.png")" + extra + "}";
}

// Parses and expects InvalidArgument whose message contains `needle`.
void expect_invalid(const std::string& body, const std::string& needle) {
  auto r = parse_embeddings_request(body, policy());
  ASSERT_FALSE(r.ok()) << body;
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(needle), std::string::npos)
      << "message: " << r.status().message() << "\nexpected to contain: " << needle;
}

TEST(ApiRequest, ParsesCornserveBody) {
  auto r = parse_embeddings_request(
      R"({"data":[{"id":"a","modality":"image","model_id":"/models/qwen","url":"data:x","receiver_sidecar_ranks":[[0,1],[2]]},)"
      R"({"id":"b","modality":"image","model_id":"qwen","url":"http://h/i.png","receiver_sidecar_ranks":null,"min_pixels":100,"max_pixels":2000}]})",
      policy());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->items.size(), 2u);
  EXPECT_FALSE(r->return_embeddings);
  EXPECT_EQ(r->items[0].id, "a");
  EXPECT_EQ(r->items[0].model_id, "/models/qwen");
  EXPECT_EQ(r->items[0].url, "data:x");
  EXPECT_EQ(r->items[0].receiver_sidecar_ranks, (std::vector<std::vector<int32_t>>{{0, 1}, {2}}));
  EXPECT_FALSE(r->items[0].min_pixels.has_value());
  EXPECT_TRUE(r->items[1].receiver_sidecar_ranks.empty());
  EXPECT_EQ(*r->items[1].min_pixels, 100);
  EXPECT_EQ(*r->items[1].max_pixels, 2000);
}

TEST(ApiRequest, FlatRankListIsOneGroupAndReturnEmbeddingsIsRead) {
  auto r = parse_embeddings_request(R"({"return_embeddings":true,"data":[)" + item("a", R"(,"receiver_sidecar_ranks":[3,4])") + "]}",
                                    policy());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->return_embeddings);
  EXPECT_EQ(r->items[0].receiver_sidecar_ranks, (std::vector<std::vector<int32_t>>{{3, 4}}));
}

TEST(ApiRequest, TimeoutMsIsAPositiveInteger) {
  const RequestPolicy rules = policy();
  const std::string one = R"({"id":"a","modality":"image","model_id":"qwen","url":"file:///x.png"})";
  auto r = parse_embeddings_request(R"({"timeout_ms":1500,"data":[)" + one + "]}", rules);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->timeout_ms, 1500);
  EXPECT_EQ(parse_embeddings_request(R"({"data":[)" + one + "]}", rules)->timeout_ms, 0);
  for (const char* bad : {"0", "-5", "1.5", "\"10\"", "true"}) {
    auto e = parse_embeddings_request(std::string(R"({"timeout_ms":)") + bad + R"(,"data":[)" + one + "]}", rules);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_NE(e.status().message().find("'timeout_ms' must be a positive integer"), std::string::npos)
        << e.status().message();
  }
}

TEST(ApiRequest, UnknownFieldsAreIgnored) {
  auto r = parse_embeddings_request(R"({"extra":1,"data":[)" + item("a", R"(,"note":"x")") + "]}", policy());
  EXPECT_TRUE(r.ok()) << r.status().to_string();
}

TEST(ApiRequest, MalformedJson) {
  expect_invalid("{\"data\": [", "malformed JSON");
  expect_invalid("", "malformed JSON");
  expect_invalid("not json", "malformed JSON");
}

TEST(ApiRequest, BodyShape) {
  expect_invalid("[1,2]", "must be a JSON object, got array");
  expect_invalid("{}", "missing field 'data'");
  expect_invalid(R"({"data":null})", "missing field 'data'");
  expect_invalid(R"({"data":{}})", "'data' must be a list, got object");
  expect_invalid(R"({"data":[]})", "'data' is empty");
  expect_invalid(R"({"data":[)" + item("a") + "," + item("b") + "," + item("c") + "," + item("d") + "," + item("e") + "]}",
                 "at most 4");
  expect_invalid(R"({"return_embeddings":"yes","data":[)" + item("a") + "]}", "'return_embeddings' must be a boolean");
}

TEST(ApiRequest, ItemFields) {
  expect_invalid(R"({"data":[5]})", "data[0] must be an object, got integer");
  expect_invalid(R"({"data":[{"modality":"image","model_id":"qwen","url":"u"}]})", "data[0]: missing field 'id'");
  expect_invalid(R"({"data":[{"id":7,"modality":"image","model_id":"qwen","url":"u"}]})",
                 "data[0]: 'id' must be a string, got integer");
  expect_invalid(R"({"data":[{"id":"","modality":"image","model_id":"qwen","url":"u"}]})", "'id' must not be empty");
  expect_invalid(R"({"data":[{"id":"a","model_id":"qwen","url":"u"}]})", "data[0] (id 'a'): missing field 'modality'");
  expect_invalid(R"({"data":[{"id":"a","modality":"image","url":"u"}]})", "data[0] (id 'a'): missing field 'model_id'");
  expect_invalid(R"({"data":[{"id":"a","modality":"image","model_id":"qwen"}]})", "data[0] (id 'a'): missing field 'url'");
  expect_invalid(R"({"data":[{"id":"a","modality":"image","model_id":"qwen","url":["u"]}]})",
                 "'url' must be a string, got array");
}

TEST(ApiRequest, DuplicateIds) {
  expect_invalid(R"({"data":[)" + item("a") + "," + item("b") + "," + item("a") + "]}", "data[2]: duplicate id 'a'");
}

TEST(ApiRequest, UnsupportedModelAndModality) {
  expect_invalid(R"({"data":[{"id":"a","modality":"image","model_id":"llava","url":"u"}]})",
                 "data[0] (id 'a'): unsupported model_id 'llava' (this server serves /models/qwen, qwen)");
  expect_invalid(R"({"data":[{"id":"a","modality":"audio","model_id":"qwen","url":"u"}]})",
                 "data[0] (id 'a'): unsupported modality 'audio' (this model supports image)");
}

TEST(ApiRequest, SidecarRanks) {
  expect_invalid(R"({"data":[)" + item("a", R"(,"receiver_sidecar_ranks":"0")") + "]}",
                 "'receiver_sidecar_ranks' must be a list or null, got string");
  expect_invalid(R"({"data":[)" + item("a", R"(,"receiver_sidecar_ranks":[-1])") + "]}", "invalid rank -1");
  expect_invalid(R"({"data":[)" + item("a", R"(,"receiver_sidecar_ranks":[1.5])") + "]}", "must hold integers");
  expect_invalid(R"({"data":[)" + item("a", R"(,"receiver_sidecar_ranks":[[0],1])") + "]}", "mixes lists and integer");
  expect_invalid(R"({"data":[)" + item("a", R"(,"receiver_sidecar_ranks":[[0],[]])") + "]}", "empty group");
  expect_invalid(R"({"data":[)" + item("a", R"(,"receiver_sidecar_ranks":[99999999999])") + "]}", "invalid rank");
}

TEST(ApiRequest, PixelOverrides) {
  expect_invalid(R"({"data":[)" + item("a", R"(,"min_pixels":0)") + "]}", "'min_pixels' must be a positive integer, got 0");
  expect_invalid(R"({"data":[)" + item("a", R"(,"max_pixels":"big")") + "]}", "'max_pixels' must be a positive integer, got string");
  expect_invalid(R"({"data":[)" + item("a", R"(,"max_pixels":1.5)") + "]}", "'max_pixels' must be a positive integer, got number");
  expect_invalid(R"({"data":[)" + item("a", R"(,"min_pixels":500,"max_pixels":400)") + "]}",
                 "'min_pixels' (500) is larger than 'max_pixels' (400)");
}

}  // namespace
}  // namespace eric::router
