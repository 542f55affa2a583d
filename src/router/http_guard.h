// Strict checks on HTTP/1.1 requests, on top of Boost.Beast's parser, which
// (1.74) is lenient where request smuggling lives: it accepts obs-fold line
// continuations, repeated identical Content-Length fields ("5, 5" or two
// fields), a Transfer-Encoding whose last coding is not chunked (then reads
// no body, so the body is taken for the next request), several
// Transfer-Encoding fields, any method token and any request target.
// eric answers each of these with an error and closes the connection, as a
// front-end proxy and eric could otherwise disagree on where a request ends.
//
// Two stages, used by HttpServer and by the fuzz target alike:
//   scan_request_head      the raw bytes up to the blank line, before Beast
//                          sees them (size, obs-fold, bare CR/LF, NUL);
//   validate_request_head  the fields Beast parsed (method, version, target,
//                          Host, Content-Length, Transfer-Encoding).
// parse_http_request runs the whole path over a byte string.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "router/http_types.h"

namespace eric::router {

// An HTTP-level refusal: the status to answer and why.
struct HttpError {
  int status = 400;
  std::string message;
};

// The outcome of scanning the bytes received so far for a request head.
struct HeadScan {
  enum Kind { kNeedMore, kComplete, kError } kind = kNeedMore;
  size_t head_bytes = 0;  // kComplete: request line + fields + the blank line
  HttpError error;        // kError
};

// Looks for the end of the head in `bytes` (what has arrived so far) and
// checks its raw form: 431 when it passes `header_limit` bytes; 400 for
// obs-fold, a bare CR or LF, or a NUL byte.
HeadScan scan_request_head(std::string_view bytes, size_t header_limit);

// Checks a parsed head: 505 for versions other than HTTP/1.0 and 1.1; 501
// for methods that are not standard; 405 for CONNECT and TRACE; 400 for a
// target that is not origin-form ("/path"), a missing or repeated Host
// (HTTP/1.1), several Content-Length fields or a list in one, a
// Transfer-Encoding other than exactly "chunked" or repeated, both
// Content-Length and Transfer-Encoding, or Transfer-Encoding in HTTP/1.0.
std::optional<HttpError> validate_request_head(const boost::beast::http::request_header<>& head);

// The answer to an error of Beast's parser: 413 (body limit), 431 (header
// limit) or 400 (anything malformed).
HttpError error_from_beast(const boost::system::error_code& ec, size_t header_limit, size_t body_limit);

// Copies what the handlers see (method, target, selected headers) from a
// parsed head; the body is left empty.
HttpRequest request_from_head(const boost::beast::http::request_header<>& head);

// The whole server-side parse of one request held in `bytes`: head scan,
// Beast's parser with the limits, head validation, body (Content-Length or
// chunked, bounded by body_limit: 413). nullopt with `consumed` 0 when the
// bytes end before the request does.
struct ParsedRequest {
  std::optional<HttpRequest> request;
  std::optional<HttpError> error;
  size_t consumed = 0;  // bytes of this request (for pipelining)
};
ParsedRequest parse_http_request(std::string_view bytes, size_t header_limit, size_t body_limit);

}  // namespace eric::router
