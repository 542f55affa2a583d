#include "common/status.h"

#include <gtest/gtest.h>

namespace eric {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return InvalidArgument("value {} is not positive", v);
  return v;
}

Result<int> doubled(int v) {
  ERIC_ASSIGN_OR_RETURN(int x, parse_positive(v));
  return 2 * x;
}

Status check_twice(int v) {
  ERIC_RETURN_IF_ERROR(parse_positive(v).status());
  return Status::Ok();
}

TEST(StatusTest, OkAndError) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = NotFound("tensor '{}' missing", "w");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  EXPECT_EQ(s.message(), "tensor 'w' missing");
  EXPECT_EQ(s.to_string(), "NotFound: tensor 'w' missing");
  EXPECT_EQ(s.with_context("model.safetensors").message(), "model.safetensors: tensor 'w' missing");
}

TEST(StatusTest, ResultPropagates) {
  EXPECT_EQ(*doubled(4), 8);
  auto r = doubled(-1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("-1"), std::string::npos);
  EXPECT_TRUE(check_twice(3).ok());
  EXPECT_FALSE(check_twice(0).ok());
}

TEST(StatusTest, ResultFromOkStatusIsAnError) {
  Result<int> r{Status::Ok()};
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInternal);
}

TEST(StatusDeathTest, ValueOfErrorAborts) {
  Result<int> r = parse_positive(0);
  EXPECT_DEATH((void)r.value(), "error Result");
}

}  // namespace
}  // namespace eric
