#include "media/base64.h"

#include <gtest/gtest.h>

#include <random>

namespace eric::media {
namespace {

TEST(Base64, EncodesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\xfb\xff\xbf", 3)), "+/+/");
}

TEST(Base64, DecodesRfc4648Vectors) {
  for (auto [text, plain] : std::vector<std::pair<std::string, std::string>>{
           {"", ""}, {"Zg==", "f"}, {"Zm8=", "fo"}, {"Zm9v", "foo"}, {"Zm9vYg==", "foob"}, {"Zm9vYmFy", "foobar"}}) {
    auto decoded = base64_decode(text);
    ASSERT_TRUE(decoded.ok()) << text << ": " << decoded.status().to_string();
    EXPECT_EQ(*decoded, plain);
    EXPECT_EQ(base64_decoded_size(text), static_cast<int64_t>(plain.size()));
  }
}

TEST(Base64, RoundTripsRandomBytes) {
  std::mt19937 rng(7);
  for (int len = 0; len < 300; ++len) {
    std::string bytes(len, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    auto back = base64_decode(base64_encode(bytes));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, bytes);
  }
}

TEST(Base64, RejectsMalformedInput) {
  const char* bad[] = {
      "Zg=",        // length not a multiple of 4
      "Zg",         // missing padding
      "Zm9v\n",     // whitespace
      "Zm 9v",      // whitespace inside
      "Zm9v Zm9v",  // space between groups
      "Zm-v",       // URL-safe alphabet
      "Zm_v",       //
      "Z===",       // too much padding
      "=Zm9",       // padding first
      "Zg==Zm9v",   // padding in the middle
      "Zm=v",       // '=' followed by data
      "Zh==",       // non-zero padding bits
      "Zm9=",       // non-zero padding bits (1 byte of padding)
      "Zm9v\xff\xff\xff\xff",
  };
  for (const char* text : bad) {
    auto decoded = base64_decode(text);
    EXPECT_FALSE(decoded.ok()) << "accepted: " << text;
    if (!decoded.ok()) {
      EXPECT_EQ(decoded.status().code(), ErrorCode::kDataLoss) << text;
    }
  }
  auto r = base64_decode("Zm9v!m9v");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'!' at offset 4"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace eric::media
