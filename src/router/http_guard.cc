#include "router/http_guard.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <fmt/format.h>

#include <cctype>
#include <cstring>

namespace eric::router {

namespace http = boost::beast::http;

namespace {

HttpError header_too_large(size_t limit) {
  return HttpError{431, fmt::format("request header fields too large (limit --max-header-bytes {} bytes)", limit)};
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Methods a handler may meaningfully see; the rest of Beast's list (WebDAV,
// UPnP, ...) is not HTTP semantics eric implements.
bool is_standard(http::verb v) {
  switch (v) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::post:
    case http::verb::put:
    case http::verb::delete_:
    case http::verb::options:
    case http::verb::patch:
      return true;
    default:
      return false;
  }
}

}  // namespace

HeadScan scan_request_head(std::string_view bytes, size_t header_limit) {
  HeadScan out;
  // Only what can belong to the head is looked at: a complete head ends at
  // the first CRLF CRLF, and one longer than the limit is refused even when
  // its end has not arrived yet.
  const size_t end = bytes.find("\r\n\r\n");
  const size_t head_size = end == std::string_view::npos ? bytes.size() : end + 4;
  if (head_size > header_limit) {
    out.kind = HeadScan::kError;
    out.error = header_too_large(header_limit);
    return out;
  }
  const std::string_view head = bytes.substr(0, head_size);
  for (size_t i = 0; i < head.size(); ++i) {
    const char c = head[i];
    if (c == '\0') {
      out.kind = HeadScan::kError;
      out.error = HttpError{400, fmt::format("malformed HTTP request: NUL byte in the request head at offset {}", i)};
      return out;
    }
    if (c == '\r' && i + 1 < head.size() && head[i + 1] != '\n') {
      out.kind = HeadScan::kError;
      out.error = HttpError{400, fmt::format("malformed HTTP request: bare CR in the request head at offset {}", i)};
      return out;
    }
    if (c == '\n' && (i == 0 || head[i - 1] != '\r')) {
      out.kind = HeadScan::kError;
      out.error = HttpError{400, fmt::format("malformed HTTP request: bare LF in the request head at offset {}", i)};
      return out;
    }
    // obs-fold: a line break followed by SP/HTAB continues the previous field
    // (RFC 9112 5.2: a server must reject it or replace it; proxies differ).
    if (c == '\n' && i + 1 < head.size() && (head[i + 1] == ' ' || head[i + 1] == '\t')) {
      out.kind = HeadScan::kError;
      out.error = HttpError{400, "malformed HTTP request: obsolete line folding (a header line starting with "
                                 "whitespace) is not accepted"};
      return out;
    }
  }
  if (end == std::string_view::npos) return out;  // kNeedMore
  // A well-formed request line of another HTTP version gets 505 (Beast
  // reports any version but 1.x as a generic parse error).
  const std::string_view line = head.substr(0, head.find("\r\n"));
  if (line.size() > 9 && line.substr(line.size() - 9, 6) == " HTTP/" && std::isdigit(static_cast<unsigned char>(line[line.size() - 3])) &&
      line[line.size() - 2] == '.' && std::isdigit(static_cast<unsigned char>(line.back())) &&
      line.substr(line.size() - 3) != "1.0" && line.substr(line.size() - 3) != "1.1") {
    out.kind = HeadScan::kError;
    out.error = HttpError{505, fmt::format("HTTP version {} is not supported (use HTTP/1.1)", line.substr(line.size() - 3))};
    return out;
  }
  out.kind = HeadScan::kComplete;
  out.head_bytes = head_size;
  return out;
}

std::optional<HttpError> validate_request_head(const http::request_header<>& head) {
  const unsigned version = head.version();
  if (version != 10 && version != 11) {
    return HttpError{505, fmt::format("HTTP version {}.{} is not supported (use HTTP/1.1)", version / 10, version % 10)};
  }
  const http::verb method = head.method();
  if (method == http::verb::connect || method == http::verb::trace) {
    return HttpError{405, fmt::format("method {} is not allowed", std::string(head.method_string()))};
  }
  if (!is_standard(method)) {
    return HttpError{501, fmt::format("method '{}' is not implemented", std::string(head.method_string()))};
  }
  const auto target_bsv = head.target();
  const std::string_view target(target_bsv.data(), target_bsv.size());
  if (target.empty() || target.front() != '/') {
    // Absolute-form is for proxies, authority-form for CONNECT, '*' for
    // server-wide OPTIONS: eric is none of those.
    return HttpError{400, "malformed HTTP request: the request target must be a path starting with '/'"};
  }
  const size_t hosts = head.count(http::field::host);
  if (hosts > 1) return HttpError{400, "malformed HTTP request: more than one Host header"};
  if (hosts == 0 && version == 11) return HttpError{400, "malformed HTTP request: HTTP/1.1 requires a Host header"};
  if (head.count(http::field::authorization) > 1) {
    return HttpError{400, "malformed HTTP request: more than one Authorization header"};
  }

  // Message framing (RFC 9112 6): exactly one way to find the body's end.
  const size_t lengths = head.count(http::field::content_length);
  const size_t encodings = head.count(http::field::transfer_encoding);
  if (lengths > 1) return HttpError{400, "malformed HTTP request: more than one Content-Length header"};
  if (lengths == 1 && head[http::field::content_length].find(',') != std::string_view::npos) {
    return HttpError{400, "malformed HTTP request: Content-Length must be a single number"};
  }
  if (encodings > 0) {
    if (lengths > 0) {
      return HttpError{400, "malformed HTTP request: both Content-Length and Transfer-Encoding are present"};
    }
    if (encodings > 1) return HttpError{400, "malformed HTTP request: more than one Transfer-Encoding header"};
    if (version == 10) return HttpError{400, "malformed HTTP request: Transfer-Encoding in an HTTP/1.0 request"};
    const auto te = head[http::field::transfer_encoding];
    const std::string_view coding = trim(std::string_view(te.data(), te.size()));
    if (!boost::beast::iequals(boost::beast::string_view(coding.data(), coding.size()), "chunked")) {
      return HttpError{400, fmt::format("malformed HTTP request: Transfer-Encoding '{}' is not supported (only "
                                        "'chunked')",
                                        std::string(coding.substr(0, 64)))};
    }
  }
  return std::nullopt;
}

HttpError error_from_beast(const boost::system::error_code& ec, size_t header_limit, size_t body_limit) {
  if (ec == http::error::body_limit) {
    return HttpError{413, fmt::format("request body too large (limit --max-body-bytes {} bytes)", body_limit)};
  }
  if (ec == http::error::header_limit) return header_too_large(header_limit);
  return HttpError{400, "malformed HTTP request: " + ec.message()};
}

HttpRequest request_from_head(const http::request_header<>& head) {
  HttpRequest request;
  request.method = std::string(head.method_string());
  request.target = std::string(head.target());
  request.accept = std::string(head[http::field::accept]);
  request.content_type = std::string(head[http::field::content_type]);
  request.authorization = std::string(head[http::field::authorization]);
  return request;
}

ParsedRequest parse_http_request(std::string_view bytes, size_t header_limit, size_t body_limit) {
  ParsedRequest out;
  const HeadScan scan = scan_request_head(bytes, header_limit);
  if (scan.kind == HeadScan::kError) {
    out.error = scan.error;
    return out;
  }
  if (scan.kind == HeadScan::kNeedMore) return out;

  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<uint32_t>(header_limit));
  parser.body_limit(body_limit);
  boost::system::error_code ec;
  size_t used = parser.put(boost::asio::buffer(bytes.data(), scan.head_bytes), ec);
  if (ec || !parser.is_header_done()) {
    // The scan saw a complete head, so need_more here is a malformed one too.
    out.error = ec && ec != http::error::need_more ? error_from_beast(ec, header_limit, body_limit)
                                                   : HttpError{400, "malformed HTTP request: incomplete request head"};
    return out;
  }
  if (auto bad = validate_request_head(parser.get().base())) {
    out.error = std::move(bad);
    return out;
  }
  while (!parser.is_done()) {
    const size_t n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) {
      if (used == bytes.size() || n == 0) return ParsedRequest{};  // the body has not fully arrived
      ec = {};
      continue;
    }
    if (ec) {
      out.error = error_from_beast(ec, header_limit, body_limit);
      return out;
    }
    if (n == 0) return ParsedRequest{};
  }
  HttpRequest request = request_from_head(parser.get().base());
  request.body = std::move(parser.get().body());
  out.request = std::move(request);
  out.consumed = used;
  return out;
}

}  // namespace eric::router
