// Every kind of malformed safetensors file is rejected with an error message
// naming the problem, and nothing crashes.
#include <gtest/gtest.h>

#include <cstring>

#include "tensor/safetensors.h"
#include "test_util.h"

namespace eric {
namespace {

std::string with_length(uint64_t n, const std::string& rest) {
  std::string bytes(8, '\0');
  std::memcpy(bytes.data(), &n, 8);
  return bytes + rest;
}

std::string file_of(const std::string& json, size_t data_bytes) {
  return with_length(json.size(), json) + std::string(data_bytes, '\x01');
}

struct MalformedCase {
  const char* what;
  std::string bytes;
  const char* expected_message_part;
};

std::vector<MalformedCase> malformed_cases() {
  const std::string ok_entry = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  return {
      {"empty file", "", "too short"},
      {"shorter than the length prefix", std::string("\x10\x00\x00", 3), "too short"},
      {"length past end of file", with_length(1000, "{}"), "runs past the end"},
      {"length above the limit", with_length(200'000'000, "{}"), "exceeds the limit"},
      {"header not JSON", file_of("{not json}", 0), "not valid JSON"},
      {"header not an object", file_of("[1,2]   ", 0), "does not start with"},
      {"truncated JSON", file_of(R"({"w":{"dtype":"F32")", 0), "not valid JSON"},
      {"missing dtype", file_of(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8), "has no 'dtype'"},
      {"missing data_offsets", file_of(R"({"w":{"dtype":"F32","shape":[2]}})", 8), "has no 'data_offsets'"},
      {"unknown dtype", file_of(R"({"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", 8),
       "unknown dtype 'F33'"},
      {"negative dimension", file_of(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
       "negative shape dimension"},
      {"fractional dimension", file_of(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8),
       "non-integer shape dimension"},
      {"shape overflow",
       file_of(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8),
       "overflows"},
      {"offsets reversed", file_of(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8),
       "is before begin"},
      {"offsets past data buffer", file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
       "run past the 4-byte data buffer"},
      {"size does not match shape", file_of(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
       "data_offsets span 8 bytes"},
      {"overlapping tensors",
       file_of("{" + ok_entry + R"(,"v":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12), "overlap"},
      {"gap between tensors",
       file_of("{" + ok_entry + R"(,"v":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})", 16), "gap"},
      {"trailing bytes", file_of("{" + ok_entry + "}", 12), "describe 8"},
      {"duplicate tensor name", file_of("{" + ok_entry + "," + ok_entry + "}", 8), "names tensor 'w' twice"},
      {"metadata not a string map", file_of(R"({"__metadata__":{"a":1}})", 0), "is not a string"},
      {"entry not an object", file_of(R"({"w":[1,2]})", 0), "is not a JSON object"},
      {"offsets not a pair", file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8),
       "must be [begin, end]"},
      {"unknown entry field",
       file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", 8), "unknown field"},
      {"deep nesting", file_of(R"({"w":{"dtype":[[[["F32"]]]]}})", 0), "deeper"},
  };
}

TEST(SafetensorsMalformedTest, EachCaseRejectedWithClearMessage) {
  testing::TempDir dir;
  auto cases = malformed_cases();
  ASSERT_GE(cases.size(), 10u);
  for (const auto& c : cases) {
    std::string path = dir.file("bad.safetensors");
    testing::write_file(path, c.bytes);
    auto f = SafetensorsFile::open(path);
    ASSERT_FALSE(f.ok()) << c.what;
    EXPECT_EQ(f.status().code(), ErrorCode::kDataLoss) << c.what << ": " << f.status().to_string();
    EXPECT_NE(f.status().message().find(c.expected_message_part), std::string::npos)
        << c.what << ": got '" << f.status().message() << "'";
    EXPECT_NE(f.status().message().find(path), std::string::npos) << c.what << ": message should name the file";
    // The in-memory parser agrees.
    EXPECT_FALSE(safetensors_from_bytes(c.bytes).ok()) << c.what;
  }
}

TEST(SafetensorsMalformedTest, EveryTruncationOfAValidFileIsRejected) {
  auto bytes = safetensors_to_bytes({{"a", *Tensor::zeros(DType::kF32, {3})},
                                     {"b", *Tensor::zeros(DType::kI64, {2})}});
  ASSERT_TRUE(bytes.ok());
  for (size_t len = 0; len < bytes->size(); ++len) {
    EXPECT_FALSE(safetensors_from_bytes(std::string_view(*bytes).substr(0, len)).ok()) << len;
  }
  EXPECT_TRUE(safetensors_from_bytes(*bytes).ok());
}

TEST(SafetensorsMalformedTest, MissingFileIsNotFound) {
  auto f = SafetensorsFile::open("/nonexistent/eric/model.safetensors");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace eric
