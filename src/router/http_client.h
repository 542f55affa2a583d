// A small blocking HTTP/1.1 client over one keep-alive connection (Beast).
// For tests, benchmarks and probes — not used on the serving path.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace eric::router {

struct ClientResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

class HttpClient {
 public:
  static Result<std::unique_ptr<HttpClient>> connect(const std::string& host, uint16_t port,
                                                     std::chrono::milliseconds timeout = std::chrono::seconds(60));
  ~HttpClient();

  // Sends one request and reads its answer. Reconnects first when the server
  // closed the previous connection (Connection: close).
  Result<ClientResponse> request(const std::string& method, const std::string& target, const std::string& body = "",
                                 const std::string& accept = "");
  Result<ClientResponse> get(const std::string& target) { return request("GET", target); }
  Result<ClientResponse> post(const std::string& target, const std::string& body, const std::string& accept = "") {
    return request("POST", target, body, accept);
  }

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace eric::router
