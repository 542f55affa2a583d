// `eric make-test-model`: writes a randomly initialised checkpoint of a
// model family (config.json, preprocessor_config.json, sharded safetensors
// with the published tensor names and shapes) for tests and benchmarks.
#include <fmt/format.h>

#include "cli/commands.h"
#include "models/model.h"

namespace eric::cli {

namespace {

struct MakeTestModelArgs {
  std::string arch;
  std::string out;
  uint64_t seed = 0;
  std::string dims = "tiny";
  std::string dtype = "float32";
  int shards = 2;
};

Status run_make_test_model(const MakeTestModelArgs& args) {
  ERIC_ASSIGN_OR_RETURN(const models::ModelFamily* family, models::find_model_family(args.arch));
  if (family->write_test_model == nullptr) {
    return Unimplemented("model_type '{}' cannot write test models", args.arch);
  }
  models::TestModelOptions options;
  options.seed = args.seed;
  if (args.dims != "tiny" && args.dims != "real") {
    return InvalidArgument("--dims must be tiny or real, got '{}'", args.dims);
  }
  options.real_dims = args.dims == "real";
  ERIC_ASSIGN_OR_RETURN(options.dtype, dtype_from_string(args.dtype));
  options.num_shards = args.shards;
  ERIC_RETURN_IF_ERROR(family->write_test_model(args.arch, args.out, options));
  fmt::print("wrote {} test model ({} dims, {}, seed {}, {} shard{}) to {}\n", args.arch, args.dims,
             dtype_name(options.dtype), args.seed, args.shards, args.shards == 1 ? "" : "s", args.out);
  return Status::Ok();
}

void add_make_test_model_command(CLI::App& app) {
  auto args = std::make_shared<MakeTestModelArgs>();
  auto* cmd = app.add_subcommand("make-test-model", "write a randomly initialised checkpoint for tests/benchmarks");
  cmd->add_option("--arch", args->arch, "model_type, e.g. qwen2_vl or qwen2_5_vl")->required();
  cmd->add_option("--out", args->out, "output folder")->required();
  cmd->add_option("--seed", args->seed, "random seed (same seed: identical files)")->capture_default_str();
  cmd->add_option("--dims", args->dims, "tiny, or real (the published 7B vision tower)")->capture_default_str();
  cmd->add_option("--dtype", args->dtype, "float32, bfloat16 or float16")->capture_default_str();
  cmd->add_option("--shards", args->shards, "number of safetensors shards")->capture_default_str();
  cmd->callback([args] {
    Status st = run_make_test_model(*args);
    if (!st.ok()) fail(st);
  });
}

}  // namespace

ERIC_REGISTER_COMMAND(add_make_test_model_command);

}  // namespace eric::cli
