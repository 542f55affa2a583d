#include "tensor/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include "test_util.h"

namespace eric {
namespace {

using testing::TempDir;

Tensor make_tensor(DType dt, Shape shape, int seed) {
  auto t = *Tensor::empty(dt, std::move(shape));
  auto* p = static_cast<uint8_t*>(t.mutable_raw_data());
  for (size_t i = 0; i < t.nbytes(); ++i) p[i] = static_cast<uint8_t>((i * 131 + seed * 17) & 0xff);
  if (dt == DType::kBool) {
    for (size_t i = 0; i < t.nbytes(); ++i) p[i] &= 1;
  }
  return t;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

TEST(SafetensorsTest, RoundTripEveryDtype) {
  TempDir dir;
  NamedTensors tensors;
  int seed = 0;
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16, DType::kU8, DType::kI32, DType::kI64, DType::kBool}) {
    tensors.emplace_back(std::string("t_") + std::string(dtype_name(dt)), make_tensor(dt, {3, 5}, seed++));
  }
  tensors.emplace_back("scalar", make_tensor(DType::kF32, Shape{}, 9));
  tensors.emplace_back("empty", make_tensor(DType::kF32, {0, 4}, 9));
  std::string path = dir.file("all.safetensors");
  ASSERT_TRUE(write_safetensors(path, tensors, {{"format", "pt"}}).ok());

  auto f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->header().data_offset % 8, 0u);
  for (const auto& [name, t] : tensors) {
    auto got = f->get(name);
    ASSERT_TRUE(got.ok()) << name;
    EXPECT_TRUE(same_bytes(*got, t)) << name;
    EXPECT_TRUE(got->read_only());
  }
  EXPECT_EQ(f->get("nope").status().code(), ErrorCode::kNotFound);

  // The in-memory form reads back identically.
  auto bytes = safetensors_to_bytes(tensors, {{"format", "pt"}});
  ASSERT_TRUE(bytes.ok());
  auto back = safetensors_from_bytes(*bytes);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  ASSERT_EQ(back->size(), tensors.size());
  for (const auto& [name, t] : *back) {
    auto it = std::find_if(tensors.begin(), tensors.end(), [&](const auto& p) { return p.first == name; });
    ASSERT_NE(it, tensors.end());
    EXPECT_TRUE(same_bytes(t, it->second)) << name;
  }
}

TEST(SafetensorsTest, ZeroCopyViewIntoMapping) {
  TempDir dir;
  std::string path = dir.file("a.safetensors");
  ASSERT_TRUE(write_safetensors(path, {{"w", make_tensor(DType::kF32, {64}, 1)}}).ok());
  auto f = *SafetensorsFile::open(path);
  auto t = *f.get("w");
  EXPECT_FALSE(t.storage()->owned());
  // The tensor outlives the file object: it keeps the mapping alive.
  Tensor kept = t;
  { auto moved = std::move(f); }
  EXPECT_EQ(kept.numel(), 64);
  (void)kept.data<float>()[63];
}

TEST(SafetensorsTest, WritesNonContiguousTensors) {
  TempDir dir;
  auto base = *Tensor::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  auto t = *base.transpose(0, 1);
  std::string path = dir.file("t.safetensors");
  ASSERT_TRUE(write_safetensors(path, {{"t", t}}).ok());
  auto got = *(*SafetensorsFile::open(path)).get("t");
  EXPECT_EQ(got.shape(), Shape({3, 2}));
  const float expect[] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(got.data<float>()[i], expect[i]);
}

TEST(SafetensorsTest, RejectsBadInputToWriter) {
  TempDir dir;
  auto t = make_tensor(DType::kF32, {2}, 0);
  EXPECT_FALSE(write_safetensors(dir.file("x"), {{"a", t}, {"a", t}}).ok());
  EXPECT_FALSE(write_safetensors(dir.file("x"), {{"", t}}).ok());
  EXPECT_FALSE(write_safetensors(dir.file("x"), {{"__metadata__", t}}).ok());
  EXPECT_FALSE(write_safetensors(dir.file("x"), {{"u", Tensor()}}).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.file("x")));
  EXPECT_FALSE(write_safetensors(dir.file("missing/dir/x"), {{"a", t}}).ok());
}

TEST(SafetensorsTest, UnsupportedButValidDtypeFailsOnlyOnGet) {
  TempDir dir;
  // A valid F64 tensor next to an F32 one: the file opens, F32 loads, F64 reports.
  std::string json = R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},)"
                     R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
  while (json.size() % 8) json += ' ';
  std::string bytes(8, '\0');
  uint64_t n = json.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += json + std::string(12, '\0');
  std::string path = dir.file("f64.safetensors");
  testing::write_file(path, bytes);
  auto f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_TRUE(f->get("b").ok());
  auto a = f->get("a");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), ErrorCode::kUnimplemented);
  EXPECT_NE(a.status().message().find("F64"), std::string::npos);
}

TEST(SafetensorsTest, MisalignedHeaderStillLoadsAlignedCopy) {
  TempDir dir;
  std::string json = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";  // not padded
  if ((8 + json.size()) % 4 == 0) json += ' ';
  std::string bytes(8, '\0');
  uint64_t n = json.size();
  std::memcpy(bytes.data(), &n, 8);
  float vals[2] = {1.5f, -2.0f};
  bytes += json + std::string(reinterpret_cast<const char*>(vals), 8);
  std::string path = dir.file("mis.safetensors");
  testing::write_file(path, bytes);
  auto t = (*SafetensorsFile::open(path)).get("w");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->raw_data()) % 4, 0u);
  EXPECT_EQ(t->data<float>()[1], -2.0f);
}

}  // namespace
}  // namespace eric
