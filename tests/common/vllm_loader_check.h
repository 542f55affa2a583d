// check_with_vllm_loader: one embeddings part (as eric sends it to vLLM)
// through tools/reference/vllm_embeds_loader.py, vLLM's loader rules and then
// Debian's torch.load(weights_only=True), against the tensor it must hold.
// Shared by the unit test of the format (tests/router) and the real server in
// front of a fake vLLM (tests/integration).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "media/base64.h"
#include "tensor/tensor.h"
#include "temp_dir.h"

namespace eric::testing {

// Returns the script's exit status (0: loaded, and equal to `expected`;
// its output says what differed otherwise). `merge` is the model's spatial merge size.
inline int check_with_vllm_loader(const nlohmann::json& part, const std::string& modality, const Tensor& expected,
                                  int merge = 2) {
  TempDir dir("vllm_loader");
  const nlohmann::json c = {
      {"part", part},
      {"modality", modality},
      {"merge", merge},
      {"expected",
       {{"dtype", std::string(dtype_name(expected.dtype()))},
        {"shape", expected.shape().dims()},
        {"data_b64",
         media::base64_encode(std::string_view(static_cast<const char*>(expected.raw_data()), expected.nbytes()))}}}};
  const std::string f = dir.file("case.json");
  std::ofstream(f) << c.dump();
  const std::string cmd =
      "/usr/bin/python3 " ERIC_SOURCE_DIR "/tools/reference/vllm_embeds_loader.py --require-torch '" + f + "'";
  return std::system(cmd.c_str());
}

}  // namespace eric::testing
