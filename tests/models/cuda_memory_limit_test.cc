// `--cuda-memory-limit` parsing (models/cuda_memory_limit.h) and its device
// check (models/model.h): pure functions, no GPU needed.
#include <gtest/gtest.h>

#include <string>

#include "models/model.h"

namespace eric::models {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kMiB = uint64_t{1} << 20;

uint64_t bytes_of(const char* spec) {
  Result<CudaMemoryLimit> r = cuda_memory_limit_from_string(spec);
  EXPECT_TRUE(r.ok()) << spec << ": " << r.status().message();
  if (!r.ok()) return 0;
  EXPECT_EQ(r->fraction, 0.0) << spec;
  return r->bytes;
}

std::string error_of(const char* spec) {
  Result<CudaMemoryLimit> r = cuda_memory_limit_from_string(spec);
  EXPECT_FALSE(r.ok()) << spec << " was accepted";
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << spec;
  EXPECT_NE(r.status().message().find("--cuda-memory-limit"), std::string::npos) << r.status().message();
  return r.status().message();
}

TEST(CudaMemoryLimit, EmptyMeansNoLimit) {
  for (const char* spec : {"", "  "}) {
    Result<CudaMemoryLimit> r = cuda_memory_limit_from_string(spec);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_TRUE(r->none());
    EXPECT_EQ(r->resolve(80 * kGiB), 0u);
  }
}

TEST(CudaMemoryLimit, SizesAreBinaryAndABareNumberIsGiB) {
  EXPECT_EQ(bytes_of("20"), 20 * kGiB);
  EXPECT_EQ(bytes_of("20GiB"), 20 * kGiB);
  EXPECT_EQ(bytes_of("20 GiB"), 20 * kGiB);
  EXPECT_EQ(bytes_of("20gib"), 20 * kGiB);
  EXPECT_EQ(bytes_of("1.5GiB"), 3 * kGiB / 2);
  EXPECT_EQ(bytes_of("1.5"), 3 * kGiB / 2);
  EXPECT_EQ(bytes_of("512MiB"), 512 * kMiB);
  EXPECT_EQ(bytes_of("0.5GiB"), 512 * kMiB);
  EXPECT_EQ(bytes_of("1TiB"), 1024 * kGiB);
  EXPECT_EQ(bytes_of("1MiB"), kMiB);
  // A size does not depend on the card.
  EXPECT_EQ(cuda_memory_limit_from_string("20").value().resolve(80 * kGiB), 20 * kGiB);
}

TEST(CudaMemoryLimit, PercentIsAShareOfTheCardResolvedAgainstItsTotal) {
  Result<CudaMemoryLimit> r = cuda_memory_limit_from_string("40%");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->none());
  EXPECT_EQ(r->bytes, 0u);
  EXPECT_DOUBLE_EQ(r->fraction, 0.4);
  EXPECT_EQ(r->resolve(100 * kGiB), 40 * kGiB);
  EXPECT_EQ(cuda_memory_limit_from_string("100%").value().resolve(80 * kGiB), 80 * kGiB);
  EXPECT_EQ(cuda_memory_limit_from_string("37.5%").value().resolve(8 * kGiB), 3 * kGiB);
  EXPECT_EQ(cuda_memory_limit_from_string("50 %").value().resolve(1000), 500u);
}

TEST(CudaMemoryLimit, ABareNumberBelowOneIsAmbiguous) {
  const std::string msg = error_of("0.4");
  EXPECT_NE(msg.find("ambiguous"), std::string::npos) << msg;
  EXPECT_NE(msg.find("40%"), std::string::npos) << msg;
  EXPECT_NE(msg.find("0.4GiB"), std::string::npos) << msg;
  const std::string other = error_of("0.57");  // 0.57 * 100 is 56.999... in binary
  EXPECT_NE(other.find("57%"), std::string::npos) << other;
  EXPECT_NE(other.find("0.57GiB"), std::string::npos) << other;
}

TEST(CudaMemoryLimit, GarbageAndOutOfRangeValuesAreRefused) {
  for (const char* spec : {"abc", "GiB", "%", "-1", "-20GiB", "+20", "1e9", "inf", "nan", "0x10", "20GiBs", "20 G",
                           "1..5", ".", "20%%", "20 GiB extra"}) {
    error_of(spec);
  }
  EXPECT_NE(error_of("20GB").find("unknown unit 'GB'"), std::string::npos);
  EXPECT_NE(error_of("0").find("positive"), std::string::npos);
  EXPECT_NE(error_of("0%").find("positive"), std::string::npos);
  EXPECT_NE(error_of("0GiB").find("positive"), std::string::npos);
  EXPECT_NE(error_of("101%").find("at most 100%"), std::string::npos);
  EXPECT_NE(error_of("0.5MiB").find("below 1 MiB"), std::string::npos);
  EXPECT_NE(error_of("2048TiB").find("above 1 PiB"), std::string::npos);
}

TEST(CudaMemoryLimit, OnlyMeaningfulWithDeviceCuda) {
  EXPECT_EQ(cuda_memory_limit_for_device("20GiB", "cuda").value().bytes, 20 * kGiB);
  EXPECT_TRUE(cuda_memory_limit_for_device("", "cpu").value().none());
  Result<CudaMemoryLimit> cpu = cuda_memory_limit_for_device("20GiB", "cpu");
  ASSERT_FALSE(cpu.ok());
  EXPECT_NE(cpu.status().message().find("needs --device cuda"), std::string::npos) << cpu.status().message();
  EXPECT_FALSE(cuda_memory_limit_for_device("lots", "cuda").ok());
  EXPECT_FALSE(cuda_memory_limit_for_device("20GiB", "tpu").ok());
}

}  // namespace
}  // namespace eric::models
