// What every request passes before a handler sees it: authentication (on
// every path but /health) and admission of work (POST requests count
// against --max-queued-requests until they are answered). Both act on the
// request head, so refused clients never get their bodies read.
#pragma once

#include <optional>

#include "router/admission.h"
#include "router/auth.h"
#include "router/http_types.h"

namespace eric::router {

class RequestGate {
 public:
  // `admission` may be null (no bound; tests of other parts) and must
  // outlive every Responder the wrapped handler hands out.
  RequestGate(ApiKeyAuth auth, Admission* admission);

  // For HttpServerOptions::check_head: 401 or 429, or nullopt to go on. A
  // POST takes its place in the admission bound here, before its body is
  // read (stored in head.hold), so uploads in progress count too.
  std::optional<HttpResponse> check_head(HttpRequest& head) const;
  // The handler behind the gate: a POST holds one request of the admission
  // bound (taken here unless check_head took it) until its answer is given
  // (429 when the bound is reached).
  HttpHandler wrap(HttpHandler inner) const;

 private:
  ApiKeyAuth auth_;
  Admission* admission_;
};

}  // namespace eric::router
