// Plain request/response values exchanged between the HTTP server and the
// API handlers. Handlers never see Beast types, so they can be unit-tested by
// calling them directly, and the server stays a transport.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace eric::router {

struct HttpRequest {
  std::string method;        // "GET", "POST", ...
  std::string target;        // path plus query, e.g. "/embeddings?x=1"
  std::string accept;        // the Accept header ("" when absent)
  std::string content_type;  // the Content-Type header ("" when absent)
  std::string authorization;  // the Authorization header ("" when absent)
  std::string body;
  // Held for the request's lifetime by the layer that set it (RequestGate:
  // the request's admission ticket, taken when its head arrived).
  std::shared_ptr<void> hold;

  // The target without its query string.
  std::string path() const {
    auto q = target.find('?');
    return q == std::string::npos ? target : target.substr(0, q);
  }
};

class BodyStream;  // router/body_stream.h

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // When set, `body` is ignored and the body is sent as it is produced
  // (chunked transfer encoding), e.g. a proxied server-sent-events stream.
  std::shared_ptr<BodyStream> stream;
  // Further header fields (e.g. Retry-After, WWW-Authenticate).
  std::vector<std::pair<std::string, std::string>> headers;
};

// Completes one HTTP request. Callable from any thread, exactly once (later
// calls are ignored). If every copy is dropped without a call, the client gets
// a 500 instead of a connection that hangs forever: a handler bug must never
// leave a request unanswered.
class Responder {
 public:
  using SendFn = std::function<void(HttpResponse)>;
  Responder() = default;
  explicit Responder(SendFn send);

  void operator()(HttpResponse response) const;
  bool valid() const { return state_ != nullptr; }

 private:
  struct State;
  std::shared_ptr<State> state_;
};

using HttpHandler = std::function<void(HttpRequest request, Responder respond)>;

}  // namespace eric::router
