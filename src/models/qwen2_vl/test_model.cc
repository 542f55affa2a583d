#include "models/qwen2_vl/test_model.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/thread_pool.h"
#include "tensor/safetensors.h"

namespace eric::models::qwen2_vl {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

enum class Init { kWeight, kBias, kNormWeight, kEmbedding };

struct TensorSpec {
  std::string name;
  Shape shape;
  Init init;
};

struct Dims {
  int64_t depth, embed, heads, mlp, out, vocab;
  double mlp_ratio;           // Qwen2-VL
  int64_t window;             // Qwen2.5-VL
  std::vector<int64_t> fullatt;
};

Dims dims_for(bool qwen25, bool real) {
  if (real) {
    if (qwen25) return {32, 1280, 16, 3420, 3584, 128, 0.0, 112, {7, 15, 23, 31}};
    return {32, 1280, 16, 5120, 3584, 128, 4.0, 0, {}};
  }
  // Tiny: window_size 56 = 2 merge units of 2x2 patches of 14 px per side.
  if (qwen25) return {3, 32, 2, 64, 48, 64, 0.0, 56, {1}};
  return {2, 32, 2, 128, 48, 64, 4.0, 0, {}};
}

constexpr int64_t kChannels = 3, kPatch = 14, kTemporal = 2, kMerge = 2;

std::vector<TensorSpec> visual_tensors(bool qwen25, const Dims& d) {
  std::vector<TensorSpec> t;
  auto linear = [&](const std::string& p, int64_t in, int64_t out, bool bias = true) {
    t.push_back({p + ".weight", Shape{out, in}, Init::kWeight});
    if (bias) t.push_back({p + ".bias", Shape{out}, Init::kBias});
  };
  auto norm = [&](const std::string& p, int64_t dim) {
    t.push_back({p + ".weight", Shape{dim}, Init::kNormWeight});
    if (!qwen25) t.push_back({p + ".bias", Shape{dim}, Init::kBias});
  };
  t.push_back({"visual.patch_embed.proj.weight", Shape{d.embed, kChannels, kTemporal, kPatch, kPatch}, Init::kWeight});
  for (int64_t i = 0; i < d.depth; ++i) {
    const std::string b = fmt::format("visual.blocks.{}", i);
    norm(b + ".norm1", d.embed);
    norm(b + ".norm2", d.embed);
    linear(b + ".attn.qkv", d.embed, 3 * d.embed);
    linear(b + ".attn.proj", d.embed, d.embed);
    if (qwen25) {
      linear(b + ".mlp.gate_proj", d.embed, d.mlp);
      linear(b + ".mlp.up_proj", d.embed, d.mlp);
      linear(b + ".mlp.down_proj", d.mlp, d.embed);
    } else {
      linear(b + ".mlp.fc1", d.embed, d.mlp);
      linear(b + ".mlp.fc2", d.mlp, d.embed);
    }
  }
  const int64_t merged = d.embed * kMerge * kMerge;
  norm("visual.merger.ln_q", d.embed);
  linear("visual.merger.mlp.0", merged, merged);
  linear("visual.merger.mlp.2", merged, d.out);
  return t;
}

// A few language-model tensors, so loaders must filter by prefix. The
// vocabulary is truncated (config.json says so) to keep files small.
std::vector<TensorSpec> text_tensors(const Dims& d) {
  return {{"model.embed_tokens.weight", Shape{d.vocab, d.out}, Init::kEmbedding},
          {"model.norm.weight", Shape{d.out}, Init::kNormWeight},
          {"lm_head.weight", Shape{d.vocab, d.out}, Init::kEmbedding}};
}

Result<Tensor> make_tensor(const TensorSpec& spec, uint64_t seed, DType dtype) {
  ERIC_ASSIGN_OR_RETURN(Tensor t, Tensor::empty(DType::kF32, spec.shape));
  float* p = t.mutable_data<float>();
  // fan-in scaling keeps activations O(1) through the tiny and the real tower.
  const int64_t fan_in = spec.shape.rank() >= 2 ? spec.shape.numel() / spec.shape[0] : 1;
  float mean = 0.0f, std = 0.02f;
  switch (spec.init) {
    case Init::kWeight: std = static_cast<float>(1.0 / std::sqrt(static_cast<double>(fan_in))); break;
    case Init::kBias: std = 0.02f; break;
    case Init::kNormWeight: mean = 1.0f; std = 0.1f; break;
    case Init::kEmbedding: std = 0.02f; break;
  }
  const int64_t n = t.numel();
  ThreadPool::global().parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = mean + std * test_weight_normal(seed, spec.name, static_cast<uint64_t>(i));
  });
  if (dtype == DType::kF32) return t;
  return t.to(dtype);
}

Status write_text(const fs::path& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) return IoError("cannot write {}", path.string());
  return Status::Ok();
}

json vision_config_json(bool qwen25, const Dims& d) {
  if (qwen25) {
    return {{"depth", d.depth},
            {"hidden_act", "silu"},
            {"hidden_size", d.embed},
            {"intermediate_size", d.mlp},
            {"num_heads", d.heads},
            {"in_chans", kChannels},
            {"out_hidden_size", d.out},
            {"patch_size", kPatch},
            {"spatial_merge_size", kMerge},
            {"spatial_patch_size", kPatch},
            {"window_size", d.window},
            {"fullatt_block_indexes", d.fullatt},
            {"tokens_per_second", 2},
            {"temporal_patch_size", kTemporal}};
  }
  return {{"depth", d.depth},
          {"embed_dim", d.embed},
          {"mlp_ratio", static_cast<int64_t>(d.mlp_ratio)},
          {"num_heads", d.heads},
          {"in_chans", kChannels},
          {"hidden_size", d.out},
          {"patch_size", kPatch},
          {"spatial_merge_size", kMerge},
          {"temporal_patch_size", kTemporal}};
}

json config_json(bool qwen25, const Dims& d, bool real, DType dtype) {
  // The published 7B text config; hidden_size follows the tiny merger output.
  json c = {{"architectures", {qwen25 ? "Qwen2_5_VLForConditionalGeneration" : "Qwen2VLForConditionalGeneration"}},
            {"attention_dropout", 0.0},
            {"bos_token_id", 151643},
            {"eos_token_id", 151645},
            {"vision_start_token_id", 151652},
            {"vision_end_token_id", 151653},
            {"vision_token_id", 151654},
            {"image_token_id", 151655},
            {"video_token_id", 151656},
            {"hidden_act", "silu"},
            {"hidden_size", d.out},
            {"initializer_range", 0.02},
            {"intermediate_size", real ? 18944 : 2 * d.out},
            {"max_position_embeddings", qwen25 ? 128000 : 32768},
            {"max_window_layers", real ? 28 : 2},
            {"model_type", qwen25 ? "qwen2_5_vl" : "qwen2_vl"},
            {"num_attention_heads", real ? 28 : 4},
            {"num_hidden_layers", real ? 28 : 2},
            {"num_key_value_heads", real ? 4 : 2},
            {"rms_norm_eps", 1e-06},
            {"rope_theta", 1000000.0},
            {"sliding_window", 32768},
            {"tie_word_embeddings", false},
            {"torch_dtype", dtype == DType::kBF16 ? "bfloat16" : (dtype == DType::kF16 ? "float16" : "float32")},
            {"transformers_version", "4.41.2"},
            {"use_cache", true},
            {"use_sliding_window", false},
            {"vision_config", vision_config_json(qwen25, d)},
            {"rope_scaling", {{"type", "mrope"}, {"mrope_section", {16, 24, 24}}}},
            {"vocab_size", d.vocab},
            {"eric_test_model", {{"note", "random weights written by eric make-test-model; text model truncated"}}}};
  return c;
}

json preprocessor_json(bool qwen25) {
  return {{"min_pixels", 3136},
          {"max_pixels", 12845056},
          {"patch_size", kPatch},
          {"temporal_patch_size", kTemporal},
          {"merge_size", kMerge},
          {"image_mean", {0.48145466, 0.4578275, 0.40821073}},
          {"image_std", {0.26862954, 0.26130258, 0.27577711}},
          {"image_processor_type", "Qwen2VLImageProcessor"},
          {"processor_class", qwen25 ? "Qwen2_5_VLProcessor" : "Qwen2VLProcessor"}};
}

}  // namespace

float test_weight_normal(uint64_t seed, const std::string& name, uint64_t index) {
  const uint64_t stream = splitmix64(seed ^ fnv1a(name));
  // Four 24-bit uniforms: their sum is exact in float, so no libm and no
  // rounding mode can change the result. Irwin-Hall(4) has variance 1/3.
  float sum = 0.0f;
  for (uint64_t j = 0; j < 4; ++j) {
    const uint64_t r = splitmix64(stream + 4 * index + j);
    sum += static_cast<float>(r >> 40) * (1.0f / 16777216.0f);
  }
  return (sum - 2.0f) * 1.7320508f;
}

Status write_test_model(const std::string& model_type, const std::string& out_dir, const TestModelOptions& options) {
  if (model_type != "qwen2_vl" && model_type != "qwen2_5_vl") {
    return InvalidArgument("write_test_model: unsupported model_type '{}' (qwen2_vl or qwen2_5_vl)", model_type);
  }
  if (!dtype_is_float(options.dtype)) {
    return InvalidArgument("write_test_model: dtype must be float32, bfloat16 or float16");
  }
  if (options.num_shards < 1) return InvalidArgument("write_test_model: --shards must be at least 1");
  const bool qwen25 = model_type == "qwen2_5_vl";
  const Dims d = dims_for(qwen25, options.real_dims);
  const fs::path dir(out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IoError("cannot create {}: {}", out_dir, ec.message());

  ERIC_RETURN_IF_ERROR(write_text(dir / "config.json", config_json(qwen25, d, options.real_dims, options.dtype).dump(2)));
  ERIC_RETURN_IF_ERROR(write_text(dir / "preprocessor_config.json", preprocessor_json(qwen25).dump(2)));

  // Shard layout: the vision tensors spread over all but the last shard, the
  // text tensors alone in the last one (with one shard, all in one file).
  const std::vector<TensorSpec> visual = visual_tensors(qwen25, d);
  const std::vector<TensorSpec> text = text_tensors(d);
  const int n = options.num_shards;
  std::vector<std::vector<const TensorSpec*>> shards(static_cast<size_t>(n));
  const int visual_shards = n == 1 ? 1 : n - 1;
  for (size_t i = 0; i < visual.size(); ++i) {
    shards[i * static_cast<size_t>(visual_shards) / visual.size()].push_back(&visual[i]);
  }
  for (const auto& t : text) shards[static_cast<size_t>(n - 1)].push_back(&t);

  json weight_map = json::object();
  uint64_t total_size = 0;
  for (int s = 0; s < n; ++s) {
    const std::string file = n == 1 ? "model.safetensors" : fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, n);
    NamedTensors tensors;
    for (const TensorSpec* spec : shards[static_cast<size_t>(s)]) {
      ERIC_ASSIGN_OR_RETURN(Tensor t, make_tensor(*spec, options.seed, options.dtype));
      total_size += t.nbytes();
      weight_map[spec->name] = file;
      tensors.emplace_back(spec->name, std::move(t));
    }
    ERIC_RETURN_IF_ERROR(write_safetensors((dir / file).string(), tensors, {{"format", "pt"}}));
  }
  if (n > 1) {
    json index = {{"metadata", {{"total_size", total_size}}}, {"weight_map", weight_map}};
    ERIC_RETURN_IF_ERROR(write_text(dir / "model.safetensors.index.json", index.dump(2)));
  } else {
    fs::remove(dir / "model.safetensors.index.json", ec);
  }
  return Status::Ok();
}

}  // namespace eric::models::qwen2_vl
