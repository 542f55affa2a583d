// Broken and hostile video inputs: every one must give a clear error (the
// right code, a message naming the problem), never a crash, a hang or a huge
// allocation. Run under the asan preset too.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "media/base64.h"
#include "media/image_decoder.h"
#include "media/media_loader.h"
#include "media/video_decoder.h"
#include "../common/read_file.h"

namespace eric::media {
namespace {

const std::string kDir = std::string(ERIC_SOURCE_DIR) + "/tests/data/media/video/";

using eric::testing::read_file;

void expect_error(const Result<DecodedVideo>& r, ErrorCode code, const std::string& needle, const char* what) {
  ASSERT_FALSE(r.ok()) << what << " decoded unexpectedly";
  EXPECT_EQ(r.status().code(), code) << what << ": " << r.status().to_string();
  EXPECT_NE(r.status().to_string().find(needle), std::string::npos)
      << what << ": message '" << r.status().to_string() << "' lacks '" << needle << "'";
}

// Big-endian IEEE double, as Matroska stores floats.
void put_be_double(std::string& s, size_t at, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  for (int i = 0; i < 8; ++i) s[at + i] = static_cast<char>((bits >> (56 - 8 * i)) & 0xff);
}

TEST(VideoBadInputTest, EmptyInput) {
  expect_error(decode_video(""), ErrorCode::kInvalidArgument, "empty", "empty input");
}

TEST(VideoBadInputTest, GarbageBytes) {
  std::string garbage(4096, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 2654435761u) >> 13);
  expect_error(decode_video(garbage), ErrorCode::kDataLoss, "not a recognised video container", "garbage");
}

TEST(VideoBadInputTest, UnsupportedContainer) {
  // A JPEG image is recognised by libavformat (as an image pipe) but is no video container.
  const std::string jpeg = read_file(std::string(ERIC_SOURCE_DIR) + "/tests/data/sample.jpg");
  ASSERT_FALSE(jpeg.empty());
  expect_error(decode_video(jpeg), ErrorCode::kUnimplemented, "not supported", "jpeg as video");
}

TEST(VideoBadInputTest, TruncatedMp4) {
  // The encoder wrote the index (moov) at the end: half a file has none.
  const std::string mp4 = read_file(kDir + "h264.mp4");
  expect_error(decode_video(mp4.substr(0, mp4.size() / 2)), ErrorCode::kDataLoss, "mov", "truncated mp4");
  expect_error(decode_video(mp4.substr(0, 16)), ErrorCode::kDataLoss, "", "mp4 header only");
}

TEST(VideoBadInputTest, TruncatedMatroska) {
  // The header survives, the clusters do not: fewer frames than announced.
  const std::string mkv = read_file(kDir + "h264.mkv");
  FrameSelection all;
  all.max_num_frames = 0;
  expect_error(decode_video(mkv.substr(0, mkv.size() * 2 / 3), all), ErrorCode::kDataLoss, "ended after",
               "truncated mkv");
}

TEST(VideoBadInputTest, HeaderClaims100000Frames) {
  std::string mkv = read_file(kDir + "h264.mkv");  // 33 frames at 24 fps
  const size_t at = mkv.find("\x44\x89\x88", 0, 3);  // Segment Info Duration, 8-byte float, in ms
  ASSERT_NE(at, std::string::npos);
  put_be_double(mkv, at + 3, 100000.0 / 24.0 * 1000.0);
  // Within the default limits: the selection reaches past the real end -> clear DataLoss.
  auto r = decode_video(mkv);
  expect_error(r, ErrorCode::kDataLoss, "announces 100000", "100000-frame header");
  // With a tighter limit it is refused from the header, before decoding.
  VideoDecodeOptions o;
  o.max_total_frames = 50'000;
  expect_error(decode_video(mkv, {}, o), ErrorCode::kResourceExhausted, "100000 frames", "frame limit");
  // A duration of centuries.
  put_be_double(mkv, at + 3, 1e13);
  expect_error(decode_video(mkv), ErrorCode::kResourceExhausted, "above the limit", "huge duration");
}

TEST(VideoBadInputTest, HugeResolutionInGifHeader) {
  std::string gif = read_file(kDir + "anim.gif");
  ASSERT_EQ(gif.substr(0, 6), "GIF89a");
  gif[6] = gif[7] = gif[8] = gif[9] = static_cast<char>(0xff);  // logical screen 65535 x 65535
  expect_error(decode_video(gif), ErrorCode::kResourceExhausted, "65535x65535", "huge gif");
}

TEST(VideoBadInputTest, HugeResolutionInMp4SampleEntry) {
  std::string mp4 = read_file(kDir + "h264.mp4");
  const size_t stsd = mp4.find("stsd");
  ASSERT_NE(stsd, std::string::npos);
  const size_t entry = mp4.find("avc1", stsd);  // VisualSampleEntry: width/height 24 bytes after the type
  ASSERT_NE(entry, std::string::npos);
  for (int i = 0; i < 4; ++i) mp4[entry + 28 + i] = static_cast<char>(0x7f);
  expect_error(decode_video(mp4), ErrorCode::kResourceExhausted, "pixels per frame", "huge mp4");
}

TEST(VideoBadInputTest, LimitsFromOptions) {
  const std::string mp4 = read_file(kDir + "h264.mp4");  // 40 frames, 48x32, 10 fps
  VideoDecodeOptions o;
  o.max_total_frames = 10;
  expect_error(decode_video(mp4, {}, o), ErrorCode::kResourceExhausted, "40 frames", "max_total_frames");
  o = {};
  o.max_frames_to_decode = 20;
  expect_error(decode_video(mp4, {}, o), ErrorCode::kResourceExhausted, "decoded", "max_frames_to_decode");
  o = {};
  o.max_pixels_per_frame = 1000;
  expect_error(decode_video(mp4, {}, o), ErrorCode::kResourceExhausted, "48x32", "max_pixels_per_frame");
  o = {};
  o.max_duration_s = 1.0;
  expect_error(decode_video(mp4, {}, o), ErrorCode::kResourceExhausted, "4.0 s", "max_duration_s");
  o = {};
  o.max_input_bytes = 100;
  expect_error(decode_video(mp4, {}, o), ErrorCode::kResourceExhausted, "bytes", "max_input_bytes");
  // 32 frames of 48x32 = 49152 pixels; 8 frames fit in 20000.
  o = {};
  o.max_selected_pixels = 20'000;
  expect_error(decode_video(mp4, {}, o), ErrorCode::kResourceExhausted, "32 frames of 48x32", "max_selected_pixels");
  FrameSelection eight;
  eight.max_num_frames = 8;
  EXPECT_TRUE(decode_video(mp4, eight, o).ok());
}

TEST(VideoBadInputTest, CorruptedPayloadNeverCrashes) {
  // Flip bytes throughout the coded data: any outcome but a crash is fine,
  // and a success must still hold the selected number of frames.
  for (const char* file : {"h264.mp4", "vp9.webm", "hevc.mp4", "anim.gif", "vp8.webm"}) {
    const std::string clean = read_file(kDir + file);
    for (size_t step : {97u, 389u, 1021u}) {
      std::string bad = clean;
      for (size_t i = 200; i < bad.size(); i += step) bad[i] = static_cast<char>(bad[i] ^ 0x5a);
      auto r = decode_video(bad);
      if (r.ok()) {
        EXPECT_EQ(r->frames.size(), r->frame_indices.size()) << file;
      } else {
        EXPECT_FALSE(r.status().to_string().empty());
      }
    }
  }
}

TEST(JpegFrameListTest, DecodesSelectedFramesWithPillowPixels) {
  const std::string jpeg = read_file(std::string(ERIC_SOURCE_DIR) + "/tests/data/sample.jpg");
  std::vector<std::string> frames(40, jpeg);
  auto v = decode_jpeg_frame_list(frames);
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->total_frames, 40);
  EXPECT_EQ(v->frames.size(), 32u);
  EXPECT_EQ(v->frame_indices.front(), 0);
  EXPECT_EQ(v->frame_indices.back(), 39);
  auto image = decode_image(jpeg);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(v->frames[7].pixels, image->pixels);
  EXPECT_EQ(v->container, "jpeg_frame_list");
  EXPECT_TRUE(is_jpeg_frame_list("Video/JPEG"));
  EXPECT_FALSE(is_jpeg_frame_list("video/mp4"));
}

TEST(JpegFrameListTest, BadLists) {
  const std::string jpeg = read_file(std::string(ERIC_SOURCE_DIR) + "/tests/data/sample.jpg");
  EXPECT_EQ(decode_jpeg_frame_list({}).status().code(), ErrorCode::kInvalidArgument);
  FrameSelection fps;
  fps.mode = FrameSelection::Mode::kFps;
  EXPECT_EQ(decode_jpeg_frame_list({jpeg}, fps).status().code(), ErrorCode::kInvalidArgument);
  auto r = decode_jpeg_frame_list({jpeg, "not a jpeg"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().to_string().find("JPEG frame 1"), std::string::npos) << r.status().to_string();
  // The pixel budget applies once the first frame's size is known.
  VideoDecodeOptions o;
  auto image = decode_image(jpeg);
  ASSERT_TRUE(image.ok());
  o.max_selected_pixels = 2 * int64_t(image->width) * image->height;
  EXPECT_TRUE(decode_jpeg_frame_list({jpeg, jpeg}, {}, o).ok());
  r = decode_jpeg_frame_list({jpeg, jpeg, jpeg}, {}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("3 frames of"), std::string::npos) << r.status().to_string();
}

TEST(LoadAndDecodeVideoTest, DataUris) {
  MediaLoader loader(MediaLoaderOptions{});
  const std::string mp4 = read_file(kDir + "h264.mp4");
  auto v = load_and_decode_video(loader, "data:video/mp4;base64," + base64_encode(mp4));
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_EQ(v->total_frames, 40);
  EXPECT_EQ(v->frames.size(), 32u);

  const std::string jpeg = read_file(std::string(ERIC_SOURCE_DIR) + "/tests/data/sample.jpg");
  const std::string b64 = base64_encode(jpeg);
  auto list = load_and_decode_video(loader, "data:Video/JPEG;base64," + b64 + "," + b64 + "," + b64);
  ASSERT_TRUE(list.ok()) << list.status().to_string();
  EXPECT_EQ(list->frames.size(), 3u);
  EXPECT_EQ(list->codec, "jpeg");

  auto broken = load_and_decode_video(loader, "data:video/jpeg;base64," + b64 + ",,");
  ASSERT_FALSE(broken.ok());
  auto garbage = load_and_decode_video(loader, "data:video/mp4;base64,AAAAAAAA");
  EXPECT_EQ(garbage.status().code(), ErrorCode::kDataLoss) << garbage.status().to_string();
}

}  // namespace
}  // namespace eric::media
