// op_profile.h — optional accounting of where the CPU ops spend their time.
//
// Off by default; when enabled (benchmarks, `--profile`), each instrumented op
// adds its wall time, call count and floating-point work to a per-kind total,
// so a run can report e.g. the GFLOP/s its GEMMs reach in place next to
// plain SGEMM, and what share of a forward pass goes to attention or to the
// memory-bound ops. When disabled an op pays one relaxed atomic load.
// Totals are process-wide; scopes must not nest within one kind.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace eric::cpu::profile {

enum class OpKind : int { kGemm, kAttention, kNorm, kActivation, kElementwise, kRotary, kSoftmax, kCount };
inline constexpr int kKinds = static_cast<int>(OpKind::kCount);

std::string_view kind_name(OpKind kind);  // "gemm", "attention", ...

void set_enabled(bool on);
bool enabled();
void reset();

struct KindTotals {
  double seconds = 0;
  double flops = 0;  // 0 for memory-bound kinds
  int64_t calls = 0;
};
std::array<KindTotals, kKinds> snapshot();

namespace detail {
extern std::atomic<bool> g_enabled;
void record(OpKind kind, std::chrono::steady_clock::duration elapsed, double flops);
}  // namespace detail

// Times the enclosing block when profiling is on.
class Scope {
 public:
  explicit Scope(OpKind kind, double flops = 0)
      : kind_(kind), flops_(flops), on_(detail::g_enabled.load(std::memory_order_relaxed)) {
    if (on_) start_ = std::chrono::steady_clock::now();
  }
  ~Scope() {
    if (on_) detail::record(kind_, std::chrono::steady_clock::now() - start_, flops_);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  OpKind kind_;
  double flops_;
  bool on_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace eric::cpu::profile
