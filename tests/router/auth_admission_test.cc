// API-key checks, the admission bound and the limit options, as units.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "router/admission.h"
#include "router/auth.h"
#include "router/limits.h"

namespace eric::router {
namespace {

std::string header(const HttpResponse& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "";
}

HttpRequest head(const std::string& target, const std::string& authorization) {
  HttpRequest r;
  r.method = "POST";
  r.target = target;
  r.authorization = authorization;
  return r;
}

TEST(ConstantTimeEquals, ComparesWholeStrings) {
  EXPECT_TRUE(constant_time_equals("secret", "secret"));
  EXPECT_FALSE(constant_time_equals("secreT", "secret"));
  EXPECT_FALSE(constant_time_equals("secre", "secret"));
  EXPECT_FALSE(constant_time_equals("secretsecret", "secret"));  // the key repeated is not the key
  EXPECT_FALSE(constant_time_equals("", "secret"));
  EXPECT_FALSE(constant_time_equals("", ""));
}

TEST(ApiKeyAuth, DisabledWithoutAKey) {
  ApiKeyAuth auth("");
  EXPECT_FALSE(auth.enabled());
  EXPECT_FALSE(auth.check(head("/embeddings", "")).has_value());
}

TEST(ApiKeyAuth, RequiresTheBearerKeyEverywhereButHealth) {
  ApiKeyAuth auth("k3y");
  EXPECT_FALSE(auth.check(head("/embeddings", "Bearer k3y")).has_value());
  EXPECT_FALSE(auth.check(head("/info", "bearer k3y")).has_value());  // the scheme is case-insensitive
  EXPECT_FALSE(auth.check(head("/health", "")).has_value());
  EXPECT_FALSE(auth.check(head("/health?x=1", "")).has_value());

  struct Case {
    std::string target, authorization, message, error;
  };
  for (const Case& c : {Case{"/embeddings", "", "missing API key", ""},
                        Case{"/metrics", "", "missing API key", ""},
                        Case{"/embeddings", "Bearer wrong", "invalid API key", "invalid_token"},
                        Case{"/embeddings", "Bearer k3y ", "invalid API key", "invalid_token"},
                        Case{"/embeddings", "Bearer  k3y", "invalid API key", "invalid_token"},
                        Case{"/embeddings", "Basic azN5Og==", "Bearer scheme", "invalid_request"},
                        Case{"/embeddings", "k3y", "Bearer scheme", "invalid_request"},
                        Case{"/healthz", "", "missing API key", ""}}) {
    auto r = auth.check(head(c.target, c.authorization));
    ASSERT_TRUE(r.has_value()) << c.target << " '" << c.authorization << "'";
    EXPECT_EQ(r->status, 401);
    EXPECT_EQ(r->content_type, "application/json");
    auto body = nlohmann::json::parse(r->body);
    EXPECT_EQ(body["status"], 1);
    EXPECT_NE(body["error_message"].get<std::string>().find(c.message), std::string::npos) << r->body;
    const std::string challenge = header(*r, "WWW-Authenticate");
    EXPECT_EQ(challenge.rfind("Bearer realm=\"eric\"", 0), 0u) << challenge;
    if (!c.error.empty()) {
      EXPECT_NE(challenge.find("error=\"" + c.error + "\""), std::string::npos) << challenge;
    }
  }
}

TEST(Admission, BoundsRequestsAndItemsAndGivesRoomBack) {
  Admission admission(/*max_requests=*/2, /*max_items=*/10, /*retry_after_seconds=*/3);
  auto a = admission.try_admit(1, 4);
  auto b = admission.try_admit(1, 4);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(admission.full());
  std::string why;
  EXPECT_EQ(admission.try_admit(1, 0, &why), nullptr);
  EXPECT_NE(why.find("--max-queued-requests 2"), std::string::npos) << why;
  // Items are bounded on their own.
  EXPECT_EQ(admission.try_admit(0, 3, &why), nullptr);
  EXPECT_NE(why.find("--max-queued-items 10"), std::string::npos) << why;
  EXPECT_NE(admission.try_admit(0, 2), nullptr);  // released at once (the ticket is dropped)
  EXPECT_EQ(admission.items(), 8);

  a->release();
  a->release();  // idempotent
  EXPECT_EQ(admission.requests(), 1);
  EXPECT_EQ(admission.items(), 4);
  EXPECT_FALSE(admission.full());
  b.reset();  // dropping the last copy releases too
  EXPECT_EQ(admission.requests(), 0);
  EXPECT_EQ(admission.items(), 0);

  HttpResponse busy = admission.busy(why);
  EXPECT_EQ(busy.status, 429);
  EXPECT_EQ(header(busy, "Retry-After"), "3");
  EXPECT_NE(busy.body.find("--max-queued-items 10"), std::string::npos) << busy.body;
}

TEST(Limits, DefaultsAreValidAndBadValuesNameTheirOption) {
  EXPECT_TRUE(validate_limits(RequestLimits{}).ok());
  EXPECT_EQ(RequestLimits{}.max_body_bytes, 256u << 20);
  auto expect_bad = [](RequestLimits l, const std::string& option) {
    Status st = validate_limits(l);
    EXPECT_FALSE(st.ok()) << option;
    EXPECT_NE(st.message().find(option), std::string::npos) << st.message();
  };
  RequestLimits l;
  l.max_header_bytes = 100;
  expect_bad(l, "--max-header-bytes");
  l = {};
  l.max_queued_requests = 0;
  expect_bad(l, "--max-queued-requests");
  l = {};
  l.max_queued_items = 10;
  l.max_items_per_request = 11;
  expect_bad(l, "--max-queued-items");
  l = {};
  l.max_image_pixels = 0;
  expect_bad(l, "--max-image-pixels");
  l = {};
  l.download_timeout_ms = 0;
  expect_bad(l, "--download-timeout-ms");
  l = {};
  l.max_audio_seconds = -1;
  expect_bad(l, "--max-audio-seconds");
}

}  // namespace
}  // namespace eric::router
