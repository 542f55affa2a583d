// The LLM server behind eric's OpenAI-compatible front door (--llm-upstream):
// forwards one request and hands its answer back through a Responder exactly
// as the upstream gave it — status, content type and body bytes. A chunked
// or text/event-stream answer ("stream": true) is relayed piece by piece as
// it arrives (BodyStream); anything else is read whole first. Fully
// asynchronous on its own I/O thread: no caller ever waits.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "router/http_types.h"

namespace eric::router {

// http://host[:port][/base/path] (plain HTTP; the port defaults to 80).
struct UpstreamUrl {
  std::string host;
  uint16_t port = 80;
  std::string base_path;  // "" or "/prefix" without a trailing slash
};
Result<UpstreamUrl> parse_upstream_url(std::string_view url);

struct UpstreamOptions {
  UpstreamUrl url;
  std::string api_key;  // sent as "Authorization: Bearer <key>" when not empty
  // Connecting and each wait for more of the answer; an LLM that is silent
  // longer than this (before its first token too) ends the request.
  std::chrono::seconds timeout{600};
  size_t max_answer_bytes = 256u << 20;  // non-streamed answers
};

class UpstreamClient {
 public:
  explicit UpstreamClient(UpstreamOptions options);
  ~UpstreamClient();  // closes open upstream connections; their clients get 502 or a truncated stream
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  // Sends `method` base_path+`target` with `body` (as `content_type`) and
  // answers `respond` with the upstream's answer. An upstream that cannot be
  // reached, or breaks off before its answer's head, gives 502 with `error`'s
  // body.
  using ErrorBody = HttpResponse (*)(int status, std::string_view message);
  void forward(std::string method, std::string target, std::string body, std::string content_type, Responder respond,
               ErrorBody error);

  const UpstreamOptions& options() const { return options_; }

 private:
  struct Impl;
  UpstreamOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace eric::router
