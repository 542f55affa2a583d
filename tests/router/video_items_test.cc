// The router's video path without a real model or decoder: the per-item
// frame-selection fields of POST /embeddings, and ProcessorPool sending video
// items through the model's frame selection, the video loader and
// process_video (images keep their own path in the same request).
#include <gtest/gtest.h>

#include <cstdio>
#include <future>

#include "media/frame_selection.h"
#include "router/api_request.h"
#include "router/processor_pool.h"
#include "test_fixtures.h"

namespace eric::router {
namespace {

RequestPolicy policy() {
  RequestPolicy p;
  p.model_ids = {"qwen"};
  p.modalities = {"image", "video"};
  return p;
}

std::string video_item(const std::string& id, const std::string& extra = "") {
  return R"({"id":")" + id + R"(","modality":"video","model_id":"qwen","url":"test://video/10")" + extra + "}";
}

void expect_invalid(const std::string& body, const std::string& needle) {
  auto r = parse_embeddings_request(body, policy());
  ASSERT_FALSE(r.ok()) << body;
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

TEST(VideoRequest, ParsesFrameSelectionFields) {
  auto r = parse_embeddings_request(R"({"data":[)" + video_item("a") + "," +
                                        video_item("b", R"(,"max_num_frames":8)") + "," +
                                        video_item("c", R"(,"fps":1.5,"min_frames":2,"max_frames":16)") + "]}",
                                    policy());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->items[0].modality, "video");
  EXPECT_FALSE(r->items[0].max_num_frames || r->items[0].fps);
  EXPECT_EQ(r->items[1].max_num_frames, 8);
  EXPECT_EQ(r->items[2].fps, 1.5);
  EXPECT_EQ(r->items[2].min_frames, 2);
  EXPECT_EQ(r->items[2].max_frames, 16);
  // 0 keeps every frame.
  EXPECT_TRUE(parse_embeddings_request(R"({"data":[)" + video_item("a", R"(,"max_num_frames":0)") + "]}", policy()).ok());
}

TEST(VideoRequest, RejectsBadFrameSelectionFields) {
  expect_invalid(R"({"data":[)" + video_item("a", R"(,"max_num_frames":-1)") + "]}", "'max_num_frames' must be");
  expect_invalid(R"({"data":[)" + video_item("a", R"(,"max_num_frames":"8")") + "]}", "'max_num_frames' must be");
  expect_invalid(R"({"data":[)" + video_item("a", R"(,"max_num_frames":2.5)") + "]}", "'max_num_frames' must be");
  expect_invalid(R"({"data":[)" + video_item("a", R"(,"fps":0)") + "]}", "'fps' must be");
  expect_invalid(R"({"data":[)" + video_item("a", R"(,"fps":"2")") + "]}", "'fps' must be");
  expect_invalid(R"({"data":[)" + video_item("a", R"(,"min_frames":4)") + "]}", "with 'fps' only");
  expect_invalid(R"({"data":[)" + video_item("a", R"(,"fps":2,"max_num_frames":4)") + "]}", "not both");
  expect_invalid(R"({"data":[)" + video_item("a", R"(,"fps":2,"max_frames":0)") + "]}", "'max_frames'");
  // On an image the fields make no sense.
  expect_invalid(R"({"data":[{"id":"i","modality":"image","model_id":"qwen","url":"u","fps":2}]})",
                 "data[0] (id 'i'): 'fps' applies to video items only");
}

// Images as the shared fake; videos: linspace selection (from the request's
// max_num_frames) and "pixel_values_videos" [frames, 1] holding each frame's
// first byte, so a test sees which frames arrived.
class FakeVideoProcessor : public testing::FakeProcessor {
 public:
  std::vector<models::Modality> modalities() const override {
    return {models::Modality::kImage, models::Modality::kVideo};
  }
  Result<media::FrameSelection> video_frame_selection(const models::VideoSamplingOptions& s) const override {
    if (s.fps) return Unimplemented("fake: no fps sampling");
    media::FrameSelection sel;
    if (s.max_num_frames) sel.max_num_frames = *s.max_num_frames;
    return sel;
  }
  Result<models::ProcessedItem> process_video(const std::vector<media::RgbImage>& frames,
                                              const models::ProcessorOptions&) const override {
    models::ProcessedItem item;
    item.modality = models::Modality::kVideo;
    ERIC_ASSIGN_OR_RETURN(Tensor pv, Tensor::empty(DType::kF32, Shape{static_cast<int64_t>(frames.size()), 1}));
    for (size_t f = 0; f < frames.size(); ++f) pv.mutable_data<float>()[f] = frames[f].pixels[0];
    item.tensors.emplace_back("pixel_values_videos", pv);
    item.num_tokens = static_cast<int64_t>(frames.size());
    return item;
  }
};

// "test://video/N": N frames of 2x2, frame i filled with byte i; decodes the
// selected frames only. "test://video/broken": DataLoss.
VideoLoader fake_video_loader() {
  return [](const std::string& url, const media::FrameSelection& sel) -> Result<media::DecodedVideo> {
    if (url == "test://video/broken") return DataLoss("truncated stream");
    int n = 0;
    if (std::sscanf(url.c_str(), "test://video/%d", &n) != 1) return InvalidArgument("bad test url '{}'", url);
    media::DecodedVideo v;
    v.total_frames = n;
    ERIC_ASSIGN_OR_RETURN(v.frame_indices, media::select_frame_indices(n, 10.0, sel));
    for (int64_t i : v.frame_indices) {
      media::RgbImage frame(2, 2);
      std::fill(frame.pixels.begin(), frame.pixels.end(), static_cast<uint8_t>(i));
      v.frames.push_back(std::move(frame));
    }
    return v;
  };
}

Result<PreprocessedRequest> run(ProcessorPool& pool, const std::string& body) {
  auto parsed = parse_embeddings_request(body, policy());
  if (!parsed.ok()) return parsed.status();
  auto request = std::make_shared<const EmbeddingsRequest>(std::move(*parsed));
  std::promise<Result<PreprocessedRequest>> done;
  pool.process(request, [&done](Result<PreprocessedRequest> r) { done.set_value(std::move(r)); });
  return done.get_future().get();
}

// (ProcessedItem::find lives in the model library, which router_core tests do not link.)
const Tensor* find(const models::ProcessedItem& item, const std::string& name) {
  for (const auto& [n, t] : item.tensors) {
    if (n == name) return &t;
  }
  return nullptr;
}

std::vector<float> values(const models::ProcessedItem& item, const char* name) {
  const Tensor* t = find(item, name);
  EXPECT_NE(t, nullptr) << name;
  if (t == nullptr) return {};
  return std::vector<float>(t->data<float>(), t->data<float>() + t->numel());
}

TEST(VideoProcessorPool, DecodesTheSelectedFramesAndProcessesThemAsVideo) {
  FakeVideoProcessor processor;
  ProcessorPool pool(2, testing::fake_image_loader(), &processor, fake_video_loader());
  auto r = run(pool, R"({"data":[)" + video_item("v", R"(,"max_num_frames":4)") +
                         R"(,{"id":"i","modality":"image","model_id":"qwen","url":"test://2x2/7"},)" +
                         video_item("all") + "]}");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->items.size(), 3u);
  EXPECT_EQ(r->items[0].modality, models::Modality::kVideo);
  EXPECT_EQ(values(r->items[0], "pixel_values_videos"), (std::vector<float>{0, 3, 6, 9}));  // linspace(0, 9, 4)
  EXPECT_EQ(r->items[1].modality, models::Modality::kImage);
  EXPECT_NE(find(r->items[1], "pixel_values"), nullptr);
  EXPECT_EQ(r->items[2].num_tokens, 10);  // default at most 32: every frame
}

TEST(VideoProcessorPool, FailuresNameTheItem) {
  FakeVideoProcessor processor;
  ProcessorPool pool(1, testing::fake_image_loader(), &processor, fake_video_loader());
  auto r = run(pool, R"({"data":[{"id":"bad","modality":"video","model_id":"qwen","url":"test://video/broken"}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kDataLoss);
  EXPECT_NE(r.status().to_string().find("item 'bad': cannot load 'test://video/broken'"), std::string::npos)
      << r.status().to_string();
  r = run(pool, R"({"data":[)" + video_item("f", R"(,"fps":2)") + "]}");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().to_string().find("item 'f'"), std::string::npos) << r.status().to_string();

  // A pool built without a video loader refuses videos, still naming the item.
  ProcessorPool images_only(1, testing::fake_image_loader(), &processor);
  r = run(images_only, R"({"data":[)" + video_item("v") + "]}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnimplemented);
  EXPECT_NE(r.status().to_string().find("item 'v'"), std::string::npos) << r.status().to_string();
}

}  // namespace
}  // namespace eric::router
