// The strict HTTP checks (http_guard.h) on byte strings: every framing
// ambiguity Beast alone would accept is refused with the right status, and
// well-formed requests (Content-Length, chunked, pipelined) still parse.
#include "router/http_guard.h"

#include <gtest/gtest.h>

namespace eric::router {
namespace {

constexpr size_t kHeaderLimit = 1024;
constexpr size_t kBodyLimit = 100;

ParsedRequest parse(const std::string& bytes) { return parse_http_request(bytes, kHeaderLimit, kBodyLimit); }

void expect_refused(const std::string& bytes, int status, const std::string& needle) {
  ParsedRequest p = parse(bytes);
  ASSERT_TRUE(p.error.has_value()) << "accepted: " << bytes;
  EXPECT_FALSE(p.request.has_value());
  EXPECT_EQ(p.error->status, status) << p.error->message << "\nfor: " << bytes;
  EXPECT_NE(p.error->message.find(needle), std::string::npos) << p.error->message << "\nexpected: " << needle;
}

TEST(HttpGuard, ParsesContentLengthAndChunkedBodies) {
  ParsedRequest p = parse("POST /embeddings?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer k\r\n"
                          "Accept: application/json\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_TRUE(p.request.has_value()) << (p.error ? p.error->message : "need more");
  EXPECT_EQ(p.request->method, "POST");
  EXPECT_EQ(p.request->path(), "/embeddings");
  EXPECT_EQ(p.request->authorization, "Bearer k");
  EXPECT_EQ(p.request->accept, "application/json");
  EXPECT_EQ(p.request->body, "hello");

  ParsedRequest c = parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  ASSERT_TRUE(c.request.has_value()) << (c.error ? c.error->message : "need more");
  EXPECT_EQ(c.request->body, "abcde");
}

TEST(HttpGuard, ReportsWhereAPipelinedRequestEnds) {
  const std::string first = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n";
  ParsedRequest p = parse(first + "GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(p.request.has_value());
  EXPECT_EQ(p.request->target, "/a");
  EXPECT_EQ(p.consumed, first.size());
}

TEST(HttpGuard, IncompleteInputNeedsMore) {
  for (const std::string& partial : {std::string("GET / HTTP/1.1\r\nHost: a\r\n"),
                                     std::string("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel")}) {
    ParsedRequest p = parse(partial);
    EXPECT_FALSE(p.request.has_value()) << partial;
    EXPECT_FALSE(p.error.has_value()) << partial << ": " << p.error->message;
  }
}

TEST(HttpGuard, RefusesConflictingContentLengthAndTransferEncoding) {
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
                 "");
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400,
                 "");
}

TEST(HttpGuard, RefusesRepeatedContentLengthEvenWhenEqual) {
  // Beast accepts both forms when the values agree.
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400,
                 "more than one Content-Length");
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400, "single number");
}

TEST(HttpGuard, RefusesTransferEncodingsOtherThanChunked) {
  // Beast reads no body for these: the body would become the next request.
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n", 400,
                 "Transfer-Encoding 'gzip'");
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400,
                 "not supported");
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "0\r\n\r\n",
                 400, "more than one Transfer-Encoding");
  expect_refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "HTTP/1.0");
}

TEST(HttpGuard, RefusesObsFoldBareLineEndsAndNul) {
  expect_refused("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n", 400, "obsolete line folding");
  expect_refused("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\tfolded\r\n\r\n", 400, "obsolete line folding");
  expect_refused("GET / HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n", 400, "bare LF");
  expect_refused("GET / HTTP/1.1\r\nHost: a\rX-A: 1\r\n\r\n", 400, "bare CR");
  expect_refused(std::string("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1") + '\0' + "\r\n\r\n", 400, "NUL");
  // Whitespace between a field name and the colon (Beast refuses it).
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello", 400, "malformed");
}

TEST(HttpGuard, RefusesBadMethodsTargetsVersionsAndHosts) {
  expect_refused("FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501, "method 'FOO' is not implemented");
  expect_refused("PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n", 501, "PROPFIND");
  expect_refused("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405, "TRACE");
  expect_refused("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 405, "CONNECT");
  expect_refused("GET http://evil/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "must be a path");
  expect_refused("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, "not supported");
  expect_refused("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "not supported");
  expect_refused("GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400, "malformed");
  expect_refused("THIS IS NOT HTTP\r\n\r\n", 400, "malformed");
  expect_refused("GET / HTTP/1.1\r\n\r\n", 400, "requires a Host");
  expect_refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host");
  expect_refused("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\nAuthorization: Bearer y\r\n\r\n", 400,
                 "more than one Authorization");
  // HTTP/1.0 needs no Host.
  EXPECT_TRUE(parse("GET / HTTP/1.0\r\n\r\n").request.has_value());
}

TEST(HttpGuard, HeadAndBodyLimits) {
  expect_refused("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(kHeaderLimit, 'a') + "\r\n\r\n", 431,
                 "--max-header-bytes 1024");
  // Also before the head's end has arrived.
  expect_refused("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(kHeaderLimit, 'a'), 431, "--max-header-bytes");
  expect_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", 413, "--max-body-bytes 100");
  std::string chunked = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) chunked += "28\r\n" + std::string(40, 'x') + "\r\n";
  expect_refused(chunked + "0\r\n\r\n", 413, "--max-body-bytes");
}

}  // namespace
}  // namespace eric::router
