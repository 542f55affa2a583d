#include "router/request_gate.h"

#include <string>

namespace eric::router {

namespace {

// POSTs carry work (embeddings, chat completions); GETs are cheap status
// reads that must keep answering while the server is saturated.
bool is_work(const HttpRequest& request) { return request.method == "POST"; }

}  // namespace

RequestGate::RequestGate(ApiKeyAuth auth, Admission* admission) : auth_(std::move(auth)), admission_(admission) {}

std::optional<HttpResponse> RequestGate::check_head(HttpRequest& head) const {
  if (auto denied = auth_.check(head)) return denied;
  if (admission_ == nullptr || !is_work(head)) return std::nullopt;
  std::string refusal;
  auto ticket = admission_->try_admit(1, 0, &refusal);
  if (!ticket) return admission_->busy(refusal);
  head.hold = std::move(ticket);
  return std::nullopt;
}

HttpHandler RequestGate::wrap(HttpHandler inner) const {
  return [this, inner = std::move(inner)](HttpRequest request, Responder respond) {
    // The head check ran already; authentication is checked again for
    // servers started without check_head (cheap, and never skipped).
    if (auto denied = auth_.check(request)) return respond(std::move(*denied));
    if (admission_ == nullptr || !is_work(request)) return inner(std::move(request), std::move(respond));
    // Only RequestGate::check_head sets `hold` (to its ticket).
    auto ticket = std::static_pointer_cast<Admission::Ticket>(std::move(request.hold));
    if (!ticket) {
      std::string refusal;
      ticket = admission_->try_admit(1, 0, &refusal);
      if (!ticket) return respond(admission_->busy(refusal));
    }
    // Released when the answer is given, not when the last copy of the
    // Responder goes (which may be later).
    Responder release([ticket, respond](HttpResponse response) {
      ticket->release();
      respond(std::move(response));
    });
    inner(std::move(request), std::move(release));
  };
}

}  // namespace eric::router
