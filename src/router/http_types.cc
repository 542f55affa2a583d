#include "router/http_types.h"

#include <atomic>

namespace eric::router {

struct Responder::State {
  SendFn send;
  std::atomic<bool> done{false};

  void deliver(HttpResponse response) {
    if (done.exchange(true)) return;
    send(std::move(response));
  }
  ~State() {
    if (!done.load()) {
      deliver(HttpResponse{500, "application/json",
                           R"({"status":1,"error_message":"internal error: the request was dropped without an answer"})"});
    }
  }
};

Responder::Responder(SendFn send) : state_(std::make_shared<State>()) { state_->send = std::move(send); }

void Responder::operator()(HttpResponse response) const {
  if (state_) state_->deliver(std::move(response));
}

}  // namespace eric::router
