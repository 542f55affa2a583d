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
  if (pattern.empty() || (action != "throw" && action != "exit" && action != "lose-device")) {
    spdlog::error("{}='{}' is not 'throw:<text>', 'exit:<text>' or 'lose-device:<text>'; no fault is injected",
                  kFaultInjectionEnv, value);
    return f;
  }
  f.action = action == "throw" ? Action::kThrow : action == "exit" ? Action::kExit : Action::kLoseDevice;
  f.pattern = pattern;
  return f;
}

const FaultInjection& FaultInjection::from_environment() {
  static const FaultInjection f = [] {
    const char* v = std::getenv(kFaultInjectionEnv);
    FaultInjection parsed = parse(v == nullptr ? "" : v);
    if (parsed.action != Action::kNone) {
      spdlog::warn("TEST-ONLY fault injection is on: {} batches with an item id containing '{}'",
                   parsed.action == Action::kThrow  ? "throwing in the forward pass of"
                   : parsed.action == Action::kExit ? "killing the worker on"
                                                    : "losing the device after",
                   parsed.pattern);
    }
    return parsed;
  }();
  return f;
}

void FaultInjection::apply(const engine::EncodeRequest& batch, int rank) const {
  if (action != Action::kThrow && action != Action::kExit) return;
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

Status FaultInjection::device_loss(const engine::EncodeRequest& batch, int rank) const {
  if (action != Action::kLoseDevice) return Status::Ok();
  for (const auto& item : batch.items) {
    if (item.item_id.find(pattern) == std::string::npos) continue;
    return Unavailable("worker {}: fault injection: the GPU context is lost after item '{}'", rank, item.item_id);
  }
  return Status::Ok();
}

}  // namespace eric::executor
