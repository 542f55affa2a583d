// eric as a stock vLLM's encoder, end to end: the real `eric serve` on a tiny
// bfloat16 Qwen2-VL checkpoint, with
//   - /embeddings "format": "vllm" content parts (checked by vLLM's loader
//     rules and Debian's torch.load(weights_only=True) against eric's own
//     embeddings),
//   - --ec-storage-path files (one ec_cache tensor equal to the embedding),
//   - /v1/chat/completions in front of a fake vLLM written here (a loopback
//     HTTP server), which checks what eric forwards and answers normally, as
//     a server-sent-events stream, or with an error,
//   - bad media: 400 naming the part, nothing forwarded; GET /v1/models.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>

#include "delivery/ec_storage.h"
#include "media/base64.h"
#include "router/api_response.h"
#include "router/body_stream.h"
#include "router/http_client.h"
#include "router/http_server.h"
#include "../common/temp_dir.h"
#include "serve_process.h"
#include "test_model_fixture.h"
#include "../common/vllm_loader_check.h"
#include "tensor/safetensors.h"
#include "../common/read_file.h"

namespace eric::integration {
namespace {

namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using json = nlohmann::json;
using router::HttpClient;
using namespace std::chrono_literals;

// ---- the fake vLLM -----------------------------------------------------------

// Records every request; answers /v1/models, chat completions normally, as an
// SSE stream whose second event waits for the test ("stream": true), or with
// an error when the first message's text is "please fail".
class FakeVllm {
 public:
  FakeVllm() {
    router::HttpServerOptions options;
    options.port = 0;
    options.body_limit = 256u << 20;
    server_ = *router::HttpServer::start(options, [this](router::HttpRequest r, router::Responder respond) {
      handle(std::move(r), std::move(respond));
    });
  }
  ~FakeVllm() {
    release_second_event();  // never leave the streaming thread waiting
    if (streamer_.joinable()) streamer_.join();
    server_->stop();
  }
  uint16_t port() const { return server_->port(); }
  std::vector<router::HttpRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  void release_second_event() {
    std::call_once(released_, [this] { second_event_.set_value(); });
  }

  static constexpr const char* kModels = R"({"object":"list","data":[{"id":"qwen-llm","object":"model"}]})";
  static constexpr const char* kCompletion =
      R"({"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"A cat."},"finish_reason":"stop"}]})";
  static constexpr const char* kError = R"({"error":{"message":"context too long","type":"BadRequestError","code":400}})";
  static constexpr const char* kEvent1 = "data: {\"choices\":[{\"delta\":{\"content\":\"A\"}}]}\n\n";
  static constexpr const char* kEvent2 = "data: {\"choices\":[{\"delta\":{\"content\":\" cat.\"}}]}\n\n";
  static constexpr const char* kDone = "data: [DONE]\n\n";

 private:
  void handle(router::HttpRequest r, router::Responder respond) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(r);
    }
    if (r.path() == "/v1/models") return respond(router::make_response(200, "application/json", kModels));
    json body = json::parse(r.body, nullptr, false);
    if (!body.is_discarded() && body["messages"][0]["content"] == "please fail") {
      return respond(router::make_response(400, "application/json; charset=utf-8", kError));
    }
    if (body.is_discarded() || !body.value("stream", false)) {
      return respond(router::make_response(200, "application/json", kCompletion));
    }
    auto stream = std::make_shared<router::BodyStream>();
    router::HttpResponse response = router::make_response(200, "text/event-stream; charset=utf-8", "");
    response.stream = stream;
    respond(std::move(response));
    streamer_ = std::thread([this, stream] {
      stream->write(kEvent1);
      second_event_future_.wait();  // the test reads the first event before this one exists
      stream->write(kEvent2);
      stream->write(kDone);
      stream->finish();
    });
  }

  std::mutex mu_;
  std::vector<router::HttpRequest> requests_;
  std::promise<void> second_event_;
  std::once_flag released_;
  std::shared_future<void> second_event_future_ = second_event_.get_future().share();
  std::thread streamer_;
  std::unique_ptr<router::HttpServer> server_;
};

// ---- fixture: one model, two images, one server for the whole suite --------------

struct Suite {
  std::string root, model, images_dir, ec_dir;
  std::vector<std::string> images;
  std::string video;
  std::unique_ptr<testing::TempDir> scratch;  // the server's run folder, log and EC storage
  std::unique_ptr<FakeVllm> vllm;
  std::unique_ptr<ServeProcess> server;
  std::string error;
};

Suite& suite() {
  static Suite s;
  return s;
}

using eric::testing::read_file;

class ServeVllmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Suite& s = suite();
    {
      FixtureDir dir("integration-vllm-fixture");
      s.root = dir.root();
      s.model = dir.model();
      s.images_dir = s.root + "/images";
      fs::create_directories(s.images_dir);
      // bfloat16: vLLM would run this model in bf16, so eric must convert its f32 embeddings.
      s.error = dir.ensure_model({"--dtype", "bfloat16"});
      const int sizes[][2] = {{56, 56}, {84, 56}};
      for (int i = 0; i < 2; ++i) {
        s.images.push_back(fmt::format("{}/img{}.bmp", s.images_dir, i));
        write_test_bmp(s.images.back(), sizes[i][0], sizes[i][1], 10 + i);
      }
      s.video = s.images_dir + "/clip.mp4";
      std::error_code ec;
      fs::copy_file(std::string(ERIC_SOURCE_DIR) + "/tests/data/media/video/h264.mp4", s.video,
                    fs::copy_options::overwrite_existing, ec);
    }  // the fixture lock is released here
    if (!s.error.empty()) return;
    s.scratch = std::make_unique<testing::TempDir>("eric_vllm");
    const std::string scratch = s.scratch->str();
    s.ec_dir = scratch + "/ec";
    s.vllm = std::make_unique<FakeVllm>();
    s.server = std::make_unique<ServeProcess>(
        std::vector<std::string>{"--model", s.model, "--allowed-local-media-path", s.images_dir, "--llm-upstream",
                                 "http://127.0.0.1:" + std::to_string(s.vllm->port()), "--ec-storage-path", s.ec_dir},
        scratch + "/serve.log", scratch);
    if (!s.server->wait_healthy(90s)) s.error = "eric serve did not become healthy:\n" + s.server->log();
  }

  static void TearDownTestSuite() {
    Suite& s = suite();
    if (s.server) s.server->stop(SIGTERM, 30s);
    s.server.reset();
    s.vllm.reset();
    if (s.scratch && ::testing::UnitTest::GetInstance()->Failed()) s.scratch->keep();  // for the server log
    s.scratch.reset();
  }

  void SetUp() override { ASSERT_TRUE(suite().error.empty()) << suite().error; }

  std::unique_ptr<HttpClient> client() { return *HttpClient::connect("127.0.0.1", suite().server->port()); }

  static std::string file_url(int i) { return "file://" + suite().images[i]; }
  static std::string data_uri(int i) { return "data:image/bmp;base64," + media::base64_encode(read_file(suite().images[i])); }

  // /embeddings for image i: the raw float32 embedding and the vllm part.
  std::pair<Tensor, json> embeddings_of(int i, const std::string& id) { return embeddings_of("image", file_url(i), id); }
  std::pair<Tensor, json> embeddings_of(const std::string& modality, const std::string& url, const std::string& id) {
    auto c = client();
    json item = {{"id", id}, {"modality", modality}, {"model_id", suite().model}, {"url", url}};
    auto raw = c->post("/embeddings", json({{"data", {item}}, {"return_embeddings", true}}).dump());
    EXPECT_TRUE(raw.ok() && raw->status == 200) << (raw.ok() ? raw->body : raw.status().to_string());
    json e = json::parse(raw->body)["embeddings"][0];
    EXPECT_EQ(e["dtype"], "float32");
    auto bytes = *media::base64_decode(e["data"].get<std::string>());
    Shape shape(e["shape"].get<std::vector<int64_t>>());
    Tensor t = *Tensor::empty(DType::kF32, shape);
    EXPECT_EQ(bytes.size(), t.nbytes());
    std::memcpy(t.mutable_data<float>(), bytes.data(), std::min(bytes.size(), t.nbytes()));
    auto v = c->post("/embeddings", json({{"data", {item}}, {"format", "vllm"}}).dump());
    EXPECT_TRUE(v.ok() && v->status == 200) << (v.ok() ? v->body : v.status().to_string());
    json ve = json::parse(v->body)["embeddings"][0];
    EXPECT_EQ(ve["id"], id);
    EXPECT_EQ(ve["dtype"], "bfloat16");
    EXPECT_EQ(ve["shape"], e["shape"]);
    return {t, ve["content_part"]};
  }

  // vLLM's loader rules and torch.load(weights_only=True) on `part` against `expected`.
  static int check_part(const json& part, const Tensor& expected, const std::string& modality = "image") {
    return testing::check_with_vllm_loader(part, modality, expected);
  }

  static json chat_request(bool stream, const std::string& first_text = "You describe images.") {
    return {{"model", "qwen-llm"},
            {"temperature", 0.25},
            {"max_tokens", 32},
            {"seed", 7},
            {"stream", stream},
            {"messages",
             {{{"role", "system"}, {"content", first_text}},
              {{"role", "user"},
               {"content",
                {{{"type", "text"}, {"text", "Compare "}},
                 {{"type", "image_url"}, {"image_url", {{"url", file_url(0)}}}},
                 {{"type", "text"}, {"text", " and "}},
                 {{"type", "image_url"}, {"image_url", {{"url", data_uri(1)}}}, {"uuid", "img-1"}}}}}}}};
  }

  // What the fake vLLM must have received for chat_request(): the same
  // request with each image part replaced by the /embeddings vllm part.
  void expect_forwarded(const router::HttpRequest& forwarded, const json& sent) {
    EXPECT_EQ(forwarded.method, "POST");
    EXPECT_EQ(forwarded.target, "/v1/chat/completions");
    json got = json::parse(forwarded.body, nullptr, false);
    ASSERT_FALSE(got.is_discarded());
    auto [emb0, part0] = embeddings_of(0, "ref-0");
    auto [emb1, part1] = embeddings_of(1, "ref-1");
    json expected = sent;
    expected["messages"][1]["content"][1] = part0;
    part1["uuid"] = "img-1";
    expected["messages"][1]["content"][3] = part1;
    EXPECT_EQ(got, expected);  // text, order, other fields untouched; one part per image
    const json& p0 = got["messages"][1]["content"][1];
    EXPECT_EQ(p0["type"], "image_embeds");
    ASSERT_TRUE(p0["image_embeds"].is_object());  // Qwen dict form with the grid
    EXPECT_EQ(check_part(p0, *emb0.to(DType::kBF16)), 0);
    EXPECT_EQ(check_part(got["messages"][1]["content"][3], *emb1.to(DType::kBF16)), 0);
  }

  size_t upstream_requests() { return suite().vllm->requests().size(); }
};

TEST_F(ServeVllmTest, EmbeddingsFormatVllmAndEcStorage) {
  auto [emb, part] = embeddings_of(1, "cat-1");
  EXPECT_EQ(part["type"], "image_embeds");
  EXPECT_EQ(part["image_embeds"].size(), 2u);
  EXPECT_EQ(check_part(part, *emb.to(DType::kBF16)), 0);
  // Every /embeddings item also lands in the EC storage, keyed by its id, in
  // the model's dtype.
  for (const char* id : {"cat-1"}) {
    auto f = SafetensorsFile::open(delivery::ec_cache_path(suite().ec_dir, id));
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    EXPECT_EQ(f->names(), std::vector<std::string>{"ec_cache"});
    Tensor stored = *f->get("ec_cache");
    Tensor expected = *emb.to(DType::kBF16);
    EXPECT_EQ(stored.dtype(), DType::kBF16);
    EXPECT_EQ(stored.shape(), expected.shape());
    EXPECT_EQ(std::memcmp(stored.raw_data(), expected.raw_data(), expected.nbytes()), 0);
    for (const auto& e : fs::directory_iterator(fs::path(suite().ec_dir) / id)) {
      EXPECT_EQ(e.path().filename(), "encoder_cache.safetensors");  // no temporary left behind
    }
  }
}

TEST_F(ServeVllmTest, ChatIsRewrittenForwardedAndAnsweredUnchanged) {
  const size_t before = upstream_requests();
  json sent = chat_request(false);
  auto r = client()->post("/v1/chat/completions", sent.dump());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_EQ(r->body, FakeVllm::kCompletion);
  auto requests = suite().vllm->requests();
  ASSERT_EQ(requests.size(), before + 1);
  expect_forwarded(requests.back(), sent);
}

TEST_F(ServeVllmTest, VideoPartsBecomeVideoEmbedsWithTheirGrid) {
  json sent = {{"model", "qwen-llm"},
               {"messages",
                {{{"role", "user"},
                  {"content",
                   {{{"type", "video_url"}, {"video_url", {{"url", "file://" + suite().video}}}},
                    {{"type", "text"}, {"text", "What happens?"}}}}}}}};
  auto r = client()->post("/v1/chat/completions", sent.dump());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->status, 200) << r->body;
  json got = json::parse(suite().vllm->requests().back().body);
  auto [emb, part] = embeddings_of("video", "file://" + suite().video, "ref-video");
  json expected = sent;
  expected["messages"][0]["content"][0] = part;
  EXPECT_EQ(got, expected);
  const json& v = got["messages"][0]["content"][0];
  EXPECT_EQ(v["type"], "video_embeds");
  ASSERT_TRUE(v["video_embeds"].is_object());
  EXPECT_TRUE(v["video_embeds"].contains("video_grid_thw"));
  EXPECT_EQ(check_part(v, *emb.to(DType::kBF16), "video"), 0);  // rows = t*h*w/4 is checked there too
}

TEST_F(ServeVllmTest, StreamedAnswerArrivesAsItIsProduced) {
  json sent = chat_request(true);
  net::io_context ioc;
  net::ip::tcp::socket socket(ioc);
  socket.connect({net::ip::make_address("127.0.0.1"), suite().server->port()});
  http::request<http::string_body> req(http::verb::post, "/v1/chat/completions", 11);
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  req.body() = sent.dump();
  req.prepare_payload();
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  http::read_header(socket, buffer, parser);
  EXPECT_EQ(parser.get().result_int(), 200u);
  EXPECT_EQ(parser.get()[http::field::content_type], "text/event-stream; charset=utf-8");
  std::string body;
  auto read_until = [&](const std::string& needle) {
    while (body.find(needle) == std::string::npos && !parser.is_done()) {
      char buf[1024];
      parser.get().body().data = buf;
      parser.get().body().size = sizeof(buf);
      beast::error_code ec;
      http::read_some(socket, buffer, parser, ec);
      if (ec && ec != http::error::need_buffer) return false;
      body.append(buf, sizeof(buf) - parser.get().body().size);
    }
    return body.find(needle) != std::string::npos;
  };
  // The fake vLLM sends its second event only after we hold the first.
  ASSERT_TRUE(read_until(FakeVllm::kEvent1));
  suite().vllm->release_second_event();
  ASSERT_TRUE(read_until(FakeVllm::kDone));
  while (!parser.is_done() && read_until(std::string(1, '\0'))) {}
  EXPECT_EQ(body, std::string(FakeVllm::kEvent1) + FakeVllm::kEvent2 + FakeVllm::kDone);
  expect_forwarded(suite().vllm->requests().back(), sent);
}

TEST_F(ServeVllmTest, UpstreamErrorsPassThroughUnchanged) {
  json sent = chat_request(false, "please fail");
  auto r = client()->post("/v1/chat/completions", sent.dump());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->content_type, "application/json; charset=utf-8");
  EXPECT_EQ(r->body, FakeVllm::kError);
}

TEST_F(ServeVllmTest, BadMediaIs400NamingThePartAndNothingIsForwarded) {
  const size_t before = upstream_requests();
  json sent = chat_request(false);
  sent["messages"][1]["content"][3]["image_url"]["url"] = "data:image/png;base64,bm90IGFuIGltYWdl";
  auto r = client()->post("/v1/chat/completions", sent.dump());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  json body = json::parse(r->body, nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << r->body;
  EXPECT_NE(body["error"]["message"].get<std::string>().find("messages[1].content[3]"), std::string::npos) << r->body;
  sent["messages"][1]["content"][3]["image_url"]["url"] = "file://" + suite().images_dir + "/missing.png";
  r = client()->post("/v1/chat/completions", sent.dump());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("messages[1].content[3]"), std::string::npos) << r->body;
  EXPECT_EQ(upstream_requests(), before);
}

TEST_F(ServeVllmTest, ModelsAndTextOnlyRequestsGoStraightThrough) {
  auto c = client();
  auto r = c->get("/v1/models");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, FakeVllm::kModels);
  const std::string text_only = R"({"model":"qwen-llm","messages":[{"role":"user","content":"hi"}],"top_p":1.0})";
  r = c->post("/v1/chat/completions", text_only);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(suite().vllm->requests().back().body, text_only);  // byte for byte
}

}  // namespace
}  // namespace eric::integration
