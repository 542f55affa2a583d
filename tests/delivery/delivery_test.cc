// vLLM payloads and EC-connector storage. The payloads are checked by
// tools/reference/vllm_embeds_loader.py, which follows vLLM's loader rules
// with the Python standard library and cross-checks with Debian's
// torch.load(..., weights_only=True).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "../common/temp_dir.h"
#include "delivery/ec_storage.h"
#include "delivery/torch_save.h"
#include "delivery/vllm_payload.h"
#include "delivery/zip_writer.h"
#include "media/base64.h"
#include "tensor/safetensors.h"

namespace eric::delivery {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

Tensor pattern(DType dt, Shape shape) {
  auto f = *Tensor::empty(DType::kF32, shape);
  for (int64_t i = 0; i < f.numel(); ++i) f.mutable_data<float>()[i] = 0.25f * static_cast<float>(i % 97) - 7.0f;
  return *f.to(dt);
}

nlohmann::json make_case(const nlohmann::json& part, const std::string& modality, const Tensor& expected) {
  std::string_view raw(static_cast<const char*>(expected.raw_data()), expected.nbytes());
  return {{"part", part},
          {"modality", modality},
          {"merge", 2},
          {"expected",
           {{"dtype", std::string(dtype_name(expected.dtype()))},
            {"shape", expected.shape().dims()},
            {"data_b64", media::base64_encode(raw)}}}};
}

int run_loader(const std::vector<std::string>& files) {
  std::string cmd = "/usr/bin/python3 " ERIC_SOURCE_DIR "/tools/reference/vllm_embeds_loader.py --require-torch";
  for (const auto& f : files) cmd += " '" + f + "'";
  return std::system(cmd.c_str());
}

TEST(TorchSaveTest, PayloadsLoadUnderVllmRulesAndTorch) {
  TempDir dir{"eric_delivery"};
  std::vector<std::string> files;
  int n = 0;
  auto write = [&](const nlohmann::json& c) {
    std::string f = (dir.path() / ("case" + std::to_string(n++) + ".json")).string();
    std::ofstream(f) << c.dump();
    files.push_back(f);
  };
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16, DType::kI64}) {
    for (Shape s : {Shape{4, 8}, Shape{1, 3584}, Shape{300, 17}}) {
      Tensor t = pattern(dt, s);
      auto part = vllm_content_part("image", t, nullptr, 2);
      ASSERT_TRUE(part.ok()) << part.status().to_string();
      write(make_case(*part, "image", t));
    }
  }
  // Qwen-VL dict forms, image and video, with their grids.
  Tensor grid_image = *Tensor::from_vector(std::vector<int64_t>{1, 4, 6}, {1, 3});
  Tensor emb_image = pattern(DType::kBF16, {6, 16});
  auto image_part = vllm_content_part("image", emb_image, &grid_image, 2, "item-1");
  ASSERT_TRUE(image_part.ok()) << image_part.status().to_string();
  EXPECT_EQ((*image_part)["uuid"], "item-1");
  write(make_case(*image_part, "image", emb_image));
  Tensor grid_video = *Tensor::from_vector(std::vector<int64_t>{2, 4, 4}, {3});
  Tensor emb_video = pattern(DType::kF32, {8, 16});
  auto video_part = vllm_content_part("video", emb_video, &grid_video, 2);
  ASSERT_TRUE(video_part.ok());
  write(make_case(*video_part, "video", emb_video));
  EXPECT_EQ(run_loader(files), 0);
}

TEST(TorchSaveTest, LoaderRejectsATamperedPayload) {
  // The checker is not vacuous: flip one data byte (CRC mismatch).
  TempDir dir{"eric_delivery"};
  Tensor t = pattern(DType::kF32, {4, 4});
  auto bytes = torch_save(t);
  ASSERT_TRUE(bytes.ok());
  std::string tampered = *bytes;
  size_t data_at = tampered.find(std::string(static_cast<const char*>(t.raw_data()), t.nbytes()));
  ASSERT_NE(data_at, std::string::npos);
  tampered[data_at + 5] ^= 0x01;
  nlohmann::json part = {{"type", "image_embeds"}, {"image_embeds", media::base64_encode(tampered)}};
  std::string f = dir.file("bad.json");
  std::ofstream(f) << make_case(part, "image", t).dump();
  EXPECT_NE(run_loader({f}), 0);
}

TEST(TorchSaveTest, LoaderRejectsGlobalsWeightsOnlyForbids) {
  // A well-formed torch.save container whose pickle calls posix.system: only
  // allowed opcodes (PROTO, GLOBAL, BINUNICODE, TUPLE1, REDUCE, STOP), so the
  // loader's global allow-list — like torch's weights_only unpickler — is what
  // must refuse it.
  TempDir dir{"eric_delivery"};
  static const char kPickle[] = "\x80\x02" "cposix\nsystem\n" "X\x04\x00\x00\x00true" "\x85" "R" ".";
  const std::string pkl(kPickle, sizeof(kPickle) - 1);  // holds NUL bytes
  ZipWriter zip;
  ASSERT_TRUE(zip.add("archive/data.pkl", pkl).ok());
  ASSERT_TRUE(zip.add("archive/byteorder", "little").ok());
  ASSERT_TRUE(zip.add("archive/version", "3\n").ok());
  auto bytes = zip.finish();
  ASSERT_TRUE(bytes.ok());
  Tensor t = pattern(DType::kF32, {1, 1});
  nlohmann::json part = {{"type", "image_embeds"}, {"image_embeds", media::base64_encode(*bytes)}};
  std::string f = dir.file("evil.json");
  std::ofstream(f) << make_case(part, "image", t).dump();
  EXPECT_NE(run_loader({f}), 0);
}

TEST(TorchSaveTest, PartErrors) {
  Tensor emb = pattern(DType::kF32, {6, 4});
  Tensor wrong_grid = *Tensor::from_vector(std::vector<int64_t>{1, 4, 4}, {3});
  auto r = vllm_content_part("image", emb, &wrong_grid, 2);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("expected 4"), std::string::npos);
  EXPECT_FALSE(vllm_content_part("text", emb, nullptr, 2).ok());
  EXPECT_FALSE(vllm_content_part("image", pattern(DType::kF32, {24}), nullptr, 2).ok());
  Tensor two = *Tensor::from_vector(std::vector<int64_t>{1, 4}, {2});
  EXPECT_FALSE(vllm_content_part("image", emb, &two, 2).ok());
  EXPECT_FALSE(torch_save(Tensor()).ok());
}

TEST(EcStorageTest, WritesOneEcCacheTensorAtomically) {
  TempDir dir{"eric_delivery"};
  Tensor emb = pattern(DType::kBF16, {64, 32});
  std::atomic<bool> done{false};
  std::atomic<int> partial_seen{0};
  const std::string path = ec_cache_path(dir.path().string(), "req-7");
  // A consumer polling for the file must never see it half written: either
  // it is absent (the writer below removes it between rounds) or complete.
  std::thread reader([&] {
    while (!done) {
      auto f = SafetensorsFile::open(path);
      if (!f.ok() && f.status().code() != ErrorCode::kNotFound) partial_seen++;
    }
  });
  for (int i = 0; i < 20; ++i) {
    fs::remove_all(dir.path() / "req-7");
    ASSERT_TRUE(write_ec_cache(dir.path().string(), "req-7", emb).ok());
  }
  done = true;
  reader.join();
  EXPECT_EQ(partial_seen.load(), 0);
  auto f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->names(), std::vector<std::string>{"ec_cache"});
  auto t = f->get("ec_cache");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->dtype(), DType::kBF16);
  EXPECT_EQ(t->shape(), emb.shape());
  EXPECT_EQ(std::memcmp(t->raw_data(), emb.raw_data(), emb.nbytes()), 0);
  for (const auto& entry : fs::directory_iterator(dir.path() / "req-7")) {
    EXPECT_EQ(entry.path().filename(), "encoder_cache.safetensors");  // no temporary files left
  }
  for (const char* bad : {"", ".", "..", "a/b"}) {
    EXPECT_FALSE(write_ec_cache(dir.path().string(), bad, emb).ok()) << bad;
  }
}

}  // namespace
}  // namespace eric::delivery
