// op_profile.cc — the per-kind totals behind op_profile.h. Ops run on many
// threads but the instrumented ones are called from the forward pass's one
// thread (they parallelise inside), so a mutex is cheap enough here.
#include "backend/cpu/op_profile.h"

#include <mutex>

namespace eric::cpu::profile {

namespace detail {
std::atomic<bool> g_enabled{false};
}  // namespace detail

namespace {

std::mutex& totals_mutex() {
  static std::mutex mu;
  return mu;
}

std::array<KindTotals, kKinds>& totals() {
  static std::array<KindTotals, kKinds> t{};
  return t;
}

}  // namespace

std::string_view kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::kGemm: return "gemm";
    case OpKind::kAttention: return "attention";
    case OpKind::kNorm: return "norm";
    case OpKind::kActivation: return "activation";
    case OpKind::kElementwise: return "elementwise";
    case OpKind::kRotary: return "rotary";
    case OpKind::kSoftmax: return "softmax";
    case OpKind::kCount: break;
  }
  return "?";
}

void set_enabled(bool on) { detail::g_enabled.store(on, std::memory_order_relaxed); }
bool enabled() { return detail::g_enabled.load(std::memory_order_relaxed); }

void reset() {
  std::lock_guard<std::mutex> lock(totals_mutex());
  totals() = {};
}

std::array<KindTotals, kKinds> snapshot() {
  std::lock_guard<std::mutex> lock(totals_mutex());
  return totals();
}

void detail::record(OpKind kind, std::chrono::steady_clock::duration elapsed, double flops) {
  std::lock_guard<std::mutex> lock(totals_mutex());
  KindTotals& t = totals()[static_cast<int>(kind)];
  t.seconds += std::chrono::duration<double>(elapsed).count();
  t.flops += flops;
  t.calls += 1;
}

}  // namespace eric::cpu::profile
