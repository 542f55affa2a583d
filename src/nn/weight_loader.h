// Takes a layer's tensors out of a checkpoint's WeightMap by name, checking
// each against the shape the model expects. Problems are collected rather
// than returned one at a time, so a bad checkpoint is reported in one go:
// every missing tensor, every wrong shape or dtype, and (in finish()) every
// tensor in the map the model never asked for — each by its full name.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "tensor/checkpoint.h"
#include "tensor/tensor.h"

namespace eric::nn {

class WeightLoader {
 public:
  // `weights` must outlive the loader. `name_prefix` is prepended to names
  // in messages only (e.g. "visual." for tensors whose prefix was stripped).
  explicit WeightLoader(const WeightMap& weights, std::string name_prefix = "");

  // The tensor `name` as float32 with shape `expected`. float32 tensors are
  // returned as they are (zero-copy views into the mapped file); bfloat16 and
  // float16 ones are converted to float32 here, once. On any problem the
  // error is recorded and an undefined Tensor returned; check ok()/finish().
  Tensor take(const std::string& name, const Shape& expected);
  // Whether `name` is present (for optional tensors such as biases).
  bool contains(const std::string& name) const { return weights_.count(name) != 0; }

  bool ok() const { return errors_.empty(); }
  // OK when every take succeeded and every tensor in the map was taken;
  // otherwise InvalidArgument listing each problem on its own line.
  Status finish() const;

 private:
  void error(std::string message);

  const WeightMap& weights_;
  std::string name_prefix_;
  std::set<std::string> taken_;
  std::vector<std::string> errors_;
};

// "prefix" + "." + "name", tolerating an empty prefix.
std::string join_name(const std::string& prefix, const std::string& name);

}  // namespace eric::nn
