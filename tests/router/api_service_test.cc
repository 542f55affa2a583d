// The HTTP API end to end inside one process: real HTTP server, real engine
// client, fake engine / processor / media.
#include "router/api_service.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <thread>

#include "fake_engine.h"
#include "media/base64.h"
#include "router/api_response.h"
#include "router/http_client.h"
#include "router/http_server.h"
#include "tensor/safetensors.h"
#include "test_fixtures.h"

namespace eric::router {
namespace {

using json = nlohmann::json;
using testing::FakeEngine;

class ApiServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { start(std::chrono::seconds(30)); }

  void start(std::chrono::milliseconds engine_timeout) {
    engine_ = std::make_unique<FakeEngine>(dir_.str());
    client_ = *EngineClient::connect(EngineClientOptions{engine_->endpoint(), engine_timeout});
    pool_ = std::make_unique<ProcessorPool>(2, testing::fake_image_loader(), &processor_);
    RequestPolicy policy;
    policy.model_ids = {"/models/qwen", "qwen"};
    policy.modalities = {"image"};
    policy.max_items = 8;
    ServerInfo info;
    info.model = "/models/qwen";
    info.served_model_name = "qwen";
    info.model_type = "qwen2_vl";
    info.tp = 2;
    info.device = "cuda";
    info.cuda_dtype = "bf16";
    info.cuda_memory_limit = "40%";
    info.max_batch_size = 16;
    info.version = "test";
    api_ = std::make_unique<ApiService>(info, policy, pool_.get(), client_.get(), &metrics_);
    HttpServerOptions options;
    options.port = 0;
    options.body_limit = 64 << 10;
    options.make_error = [](int status, const std::string& message) { return json_error(status, message); };
    ApiService* api = api_.get();
    http_ = *HttpServer::start(options, [api](HttpRequest r, Responder respond) { api->handle(std::move(r), respond); });
    http_client_ = *HttpClient::connect("127.0.0.1", http_->port());
  }

  void TearDown() override {
    http_->stop();
    client_.reset();
    pool_.reset();
    api_.reset();
    http_.reset();
  }

  ClientResponse post(const std::string& body, const std::string& accept = "") {
    auto r = http_client_->post("/embeddings", body, accept);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : ClientResponse{};
  }
  ClientResponse get(const std::string& target) {
    auto r = http_client_->get(target);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? *r : ClientResponse{};
  }

  // Checks a JSON error answer: code, envelope and a message fragment.
  static void expect_error(const ClientResponse& r, int status, const std::string& needle) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.content_type, "application/json");
    json body = json::parse(r.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << r.body;
    EXPECT_EQ(body["status"], 1) << r.body;
    ASSERT_TRUE(body["error_message"].is_string()) << r.body;
    EXPECT_NE(body["error_message"].get<std::string>().find(needle), std::string::npos)
        << "body: " << r.body << "\nexpected to contain: " << needle;
  }

  static std::string item(const std::string& id, const std::string& url) {
    return R"({"id":")" + id + R"(","modality":"image","model_id":"qwen","url":")" + url + R"("})";
  }

  testing::TempDir dir_;
  testing::FakeProcessor processor_;
  Metrics metrics_;
  std::unique_ptr<FakeEngine> engine_;
  std::unique_ptr<EngineClient> client_;
  std::unique_ptr<ProcessorPool> pool_;
  std::unique_ptr<ApiService> api_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<HttpClient> http_client_;
};

TEST_F(ApiServiceTest, EmbeddingsOk) {
  auto r = post(R"({"data":[)" + item("a", "test://8x8/1") + "," + item("b", "test://16x8/2") + "]}");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":0,"error_message":null})");
  EXPECT_EQ(engine_->encodes_received, 1);
}

TEST_F(ApiServiceTest, ReturnEmbeddingsAsJson) {
  auto r = post(R"({"return_embeddings":true,"data":[)" + item("a", "test://8x8/1") + "," +
                item("b", "test://16x16/2") + "]}");
  ASSERT_EQ(r.status, 200) << r.body;
  json body = json::parse(r.body);
  ASSERT_EQ(body["embeddings"].size(), 2u);
  // Fake engine: rows {sum(pixel_values), row}; fake processor: tokens = pixels / 64.
  const double sums[2] = {8 * 8 * 3 * 1, 16 * 16 * 3 * 2};
  const int64_t tokens[2] = {1, 4};
  for (int i = 0; i < 2; ++i) {
    const json& e = body["embeddings"][i];
    EXPECT_EQ(e["id"], i == 0 ? "a" : "b");
    EXPECT_EQ(e["dtype"], "float32");
    EXPECT_EQ(e["shape"], json::array({tokens[i], 2}));
    auto bytes = *media::base64_decode(e["data"].get<std::string>());
    ASSERT_EQ(bytes.size(), static_cast<size_t>(tokens[i] * 2 * 4));
    std::vector<float> v(tokens[i] * 2);
    std::memcpy(v.data(), bytes.data(), bytes.size());
    for (int64_t row = 0; row < tokens[i]; ++row) {
      EXPECT_EQ(v[row * 2], sums[i]);
      EXPECT_EQ(v[row * 2 + 1], row);
    }
  }
}

TEST_F(ApiServiceTest, ReturnEmbeddingsAsSafetensors) {
  auto r = post(R"({"data":[)" + item("x", "test://8x16/3") + "]}", "application/octet-stream");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/octet-stream");
  auto tensors = safetensors_from_bytes(r.body);
  ASSERT_TRUE(tensors.ok()) << tensors.status().to_string();
  ASSERT_EQ(tensors->size(), 1u);
  EXPECT_EQ((*tensors)[0].first, "x");
  EXPECT_EQ((*tensors)[0].second.shape().to_string(), Shape({2, 2}).to_string());
  EXPECT_EQ((*tensors)[0].second.data<float>()[0], 8 * 16 * 3 * 3);
}

TEST_F(ApiServiceTest, ManyRequestsOnOneKeepAliveConnection) {
  for (int i = 0; i < 20; ++i) {
    auto r = post(R"({"data":[)" + item("a" + std::to_string(i), "test://8x8/1") + "]}");
    EXPECT_EQ(r.status, 200);
  }
  EXPECT_EQ(engine_->encodes_received, 20);
}

TEST_F(ApiServiceTest, ConcurrentClientsEachAnsweredOnceWithTheirOwnEmbedding) {
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < 8; ++c) {
    threads.emplace_back([&, c] {
      auto client = *HttpClient::connect("127.0.0.1", http_->port());
      for (int i = 0; i < 10; ++i) {
        int v = (c * 10 + i) % 200 + 1;
        auto r = client->post("/embeddings", R"({"return_embeddings":true,"data":[)" +
                                                 item("c" + std::to_string(c), "test://8x8/" + std::to_string(v)) + "]}");
        if (!r.ok() || r->status != 200) continue;
        json body = json::parse(r->body);
        auto bytes = *media::base64_decode(body["embeddings"][0]["data"].get<std::string>());
        float first;
        std::memcpy(&first, bytes.data(), 4);
        if (first == 8 * 8 * 3 * v) good++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good, 80);
  EXPECT_EQ(engine_->encodes_received, 80);
  EXPECT_EQ(api_->in_flight(), 0);
}

TEST_F(ApiServiceTest, MalformedJsonIs400) { expect_error(post("{\"data\": ["), 400, "malformed JSON"); }

TEST_F(ApiServiceTest, SchemaViolationsAre400) {
  expect_error(post(R"({"data":[]})"), 400, "'data' is empty");
  expect_error(post(R"({"data":[{"id":"a","modality":"image","model_id":"qwen"}]})"), 400, "missing field 'url'");
  expect_error(post(R"({"data":[{"id":1,"modality":"image","model_id":"qwen","url":"u"}]})"), 400,
               "'id' must be a string");
  expect_error(post(R"({"data":[)" + item("a", "test://8x8/1") + "," + item("a", "test://8x8/1") + "]}"), 400,
               "duplicate id 'a'");
  EXPECT_EQ(engine_->encodes_received, 0);
}

TEST_F(ApiServiceTest, UnsupportedModelIdAndModalityAre400) {
  expect_error(post(R"({"data":[{"id":"a","modality":"image","model_id":"other","url":"test://8x8/1"}]})"), 400,
               "unsupported model_id 'other'");
  expect_error(post(R"({"data":[{"id":"a","modality":"video","model_id":"qwen","url":"test://8x8/1"}]})"), 400,
               "unsupported modality 'video'");
  // Both accepted names work.
  EXPECT_EQ(post(R"({"data":[{"id":"a","modality":"image","model_id":"/models/qwen","url":"test://8x8/1"}]})").status,
            200);
}

TEST_F(ApiServiceTest, MediaFailuresAre400NamingTheItem) {
  expect_error(post(R"({"data":[)" + item("ok", "test://8x8/1") + "," + item("lost", "test://missing") + "]}"), 400,
               "item 'lost'");
  expect_error(post(R"({"data":[)" + item("bad", "test://garbage") + "]}"), 400, "item 'bad'");
  // A processor refusal (max_pixels) also names the item.
  expect_error(post(R"({"data":[{"id":"big","modality":"image","model_id":"qwen","url":"test://64x64/1","max_pixels":100}]})"),
               400, "item 'big'");
  EXPECT_EQ(engine_->encodes_received, 0);
}

TEST_F(ApiServiceTest, UnknownPathIs404AndWrongMethodIs405) {
  expect_error(get("/nope"), 404, "no such endpoint: /nope");
  expect_error(get("/embeddings"), 405, "method GET is not allowed on /embeddings");
  auto r = http_client_->post("/health", "{}");
  ASSERT_TRUE(r.ok());
  expect_error(*r, 405, "use GET");
}

TEST_F(ApiServiceTest, BodyTooLargeIs413) {
  std::string big = R"({"data":[)" + item("a", std::string(70 << 10, 'x')) + "]}";
  expect_error(post(big), 413, "request body too large");
  // The client reconnects and the server still works.
  EXPECT_EQ(post(R"({"data":[)" + item("a", "test://8x8/1") + "]}").status, 200);
}

TEST_F(ApiServiceTest, EngineErrorsMapToStatusCodes) {
  engine_->fail_code = static_cast<int>(ErrorCode::kInternal);
  expect_error(post(R"({"data":[)" + item("a", "test://8x8/1") + "]}"), 500, "fake engine failure");
  engine_->fail_code = static_cast<int>(ErrorCode::kInvalidArgument);
  expect_error(post(R"({"data":[)" + item("a", "test://8x8/1") + "]}"), 400, "fake engine failure");
  engine_->fail_code = static_cast<int>(ErrorCode::kUnavailable);
  expect_error(post(R"({"data":[)" + item("a", "test://8x8/1") + "]}"), 503, "fake engine failure");
}

TEST_F(ApiServiceTest, HealthFollowsTheEngine) {
  auto r = get("/health");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["workers_alive"], 1);
  engine_->ready = false;
  expect_error(get("/health"), 503, "worker 0 died");
  engine_->ready = true;
  EXPECT_EQ(get("/health").status, 200);
}

TEST_F(ApiServiceTest, DeadEngineFailsInFlightAndLaterRequestsWith503) {
  engine_->answer_encodes = false;
  std::thread killer([&] {
    while (engine_->encodes_received == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    client_->mark_dead("engine process killed by signal 9 (Killed)");
  });
  auto r = post(R"({"data":[)" + item("a", "test://8x8/1") + "]}");
  killer.join();
  expect_error(r, 503, "killed by signal 9");
  expect_error(post(R"({"data":[)" + item("a", "test://8x8/1") + "]}"), 503, "engine is not running");
  expect_error(get("/health"), 503, "engine process is not running");
  EXPECT_EQ(api_->in_flight(), 0);
}

TEST_F(ApiServiceTest, DrainingRefusesNewRequests) {
  api_->stop_accepting_embeddings();
  expect_error(post(R"({"data":[)" + item("a", "test://8x8/1") + "]}"), 503, "shutting down");
}

TEST_F(ApiServiceTest, InfoModalitiesQueueLengthMetrics) {
  json info = json::parse(get("/info").body);
  EXPECT_EQ(info["model"], "/models/qwen");
  EXPECT_EQ(info["served_model_name"], "qwen");
  EXPECT_EQ(info["model_type"], "qwen2_vl");
  EXPECT_EQ(info["tp"], 2);
  EXPECT_EQ(info["max_batch_size"], 16);
  EXPECT_EQ(info["dtype"], "float32");
  EXPECT_EQ(info["device"], json({{"kind", "cuda"}, {"cuda_dtype", "bf16"}, {"cuda_memory_limit", "40%"}}));
  EXPECT_EQ(info["version"], "test");
  EXPECT_EQ(get("/modalities").body, R"(["image"])");
  EXPECT_EQ(get("/queue_length").body, "0");

  post(R"({"data":[)" + item("a", "test://8x8/1") + "," + item("b", "test://8x8/1") + "]}");
  expect_error(get("/nope"), 404, "no such endpoint");
  auto m = get("/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.content_type.find("text/plain"), std::string::npos);
  EXPECT_NE(m.body.find("eric_http_responses_total{code=\"200\"}"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("eric_http_responses_total{code=\"404\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("eric_embedding_items_total 2"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("eric_preprocess_seconds_count 2"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("eric_engine_seconds_count 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("eric_queue_length 0"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("eric_engine_up 1"), std::string::npos) << m.body;
}

class ApiServiceTimeoutTest : public ApiServiceTest {
 protected:
  void SetUp() override { start(std::chrono::milliseconds(300)); }
};

TEST_F(ApiServiceTimeoutTest, SilentEngineTimesOutWith504) {
  engine_->answer_encodes = false;
  auto t0 = std::chrono::steady_clock::now();
  expect_error(post(R"({"data":[)" + item("a", "test://8x8/1") + "]}"), 504, "did not answer");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(client_->pending(), 0u);
}

}  // namespace
}  // namespace eric::router
