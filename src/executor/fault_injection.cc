#include "executor/fault_injection.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

#include <spdlog/spdlog.h>

namespace eric::executor {

FaultInjection FaultInjection::parse(const std::string& value) {
  FaultInjection f;
  if (value.empty()) return f;
  const auto colon = value.find(':');
  const std::string action = value.substr(0, colon);
  const std::string pattern = colon == std::string::npos ? "" : value.substr(colon + 1);
  if (pattern.empty() || (action != "throw" && action != "exit")) {
    spdlog::error("{}='{}' is not 'throw:<text>' or 'exit:<text>'; no fault is injected", kFaultInjectionEnv, value);
    return f;
  }
  f.action = action == "throw" ? Action::kThrow : Action::kExit;
  f.pattern = pattern;
  return f;
}

const FaultInjection& FaultInjection::from_environment() {
  static const FaultInjection f = [] {
    const char* v = std::getenv(kFaultInjectionEnv);
    FaultInjection parsed = parse(v == nullptr ? "" : v);
    if (parsed.action != Action::kNone) {
      spdlog::warn("TEST-ONLY fault injection is on: {} batches with an item id containing '{}'",
                   parsed.action == Action::kThrow ? "throwing in the forward pass of" : "killing the worker on",
                   parsed.pattern);
    }
    return parsed;
  }();
  return f;
}

void FaultInjection::apply(const engine::EncodeRequest& batch, int rank) const {
  if (action == Action::kNone) return;
  for (const auto& item : batch.items) {
    if (item.item_id.find(pattern) == std::string::npos) continue;
    if (action == Action::kExit) {
      spdlog::warn("worker {}: fault injection: dying on item '{}' of batch {}", rank, item.item_id, batch.request_id);
      ::kill(::getpid(), SIGKILL);
      ::_exit(137);  // not reached
    }
    throw std::runtime_error("fault injection: the forward pass threw on item '" + item.item_id + "'");
  }
}

}  // namespace eric::executor
