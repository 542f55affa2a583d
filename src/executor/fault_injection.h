// TEST-ONLY fault injection for the workers, off unless the environment
// variable ERIC_TEST_FAULT_INJECTION is set (it is inherited from `eric serve`
// through the engine, so integration tests can set it on the server they
// start). Never set it in production: it exists to prove that faults inside
// a forward pass stay contained.
//
//   ERIC_TEST_FAULT_INJECTION=throw:<text>  the forward pass of a batch throws
//                                           std::runtime_error when an item id
//                                           contains <text> (every rank alike)
//   ERIC_TEST_FAULT_INJECTION=exit:<text>   the worker process dies at once
//                                           (SIGKILL to itself) on such a batch
//   ERIC_TEST_FAULT_INJECTION=lose-device:<text>
//                                           after such a batch the encoder's
//                                           health check fails as after a
//                                           sticky CUDA error (the batch runs)
//
// Any other value is rejected with a logged error and injects nothing.
#pragma once

#include <string>

#include "engine/protocol.h"

namespace eric::executor {

inline constexpr const char* kFaultInjectionEnv = "ERIC_TEST_FAULT_INJECTION";

struct FaultInjection {
  enum class Action { kNone, kThrow, kExit, kLoseDevice };
  Action action = Action::kNone;
  std::string pattern;  // substring of an item id

  // Parses the variable's value ("" or unset: none).
  static FaultInjection parse(const std::string& value);
  // The process's setting, read once.
  static const FaultInjection& from_environment();

  // Throws or exits as configured when an item of `batch` matches; returns otherwise.
  void apply(const engine::EncodeRequest& batch, int rank) const;
  // lose-device: Unavailable, as a lost GPU context reports, when an item of
  // `batch` matches; Ok otherwise.
  Status device_loss(const engine::EncodeRequest& batch, int rank) const;
};

}  // namespace eric::executor
