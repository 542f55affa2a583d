// What every model family provides, and how eric finds it.
//
// A family (src/models/<family>/) serves one or more Hugging Face
// `model_type`s. It registers a ModelFamily with ERIC_REGISTER_MODEL_FAMILY
// in one of its .cc files; src/models/CMakeLists.txt compiles every family
// folder into one object library, so registrations are never dropped by the
// linker and adding a model touches only its own folder.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "distributed/collective.h"
#include "media/frame_selection.h"
#include "media/image.h"
#include "models/cuda_memory_limit.h"
#include "tensor/checkpoint.h"
#include "tensor/safetensors.h"
#include "tensor/tensor.h"

namespace eric::models {

enum class Modality { kImage, kVideo, kAudio };
std::string_view modality_name(Modality m);
Result<Modality> modality_from_string(std::string_view name);

// Which Hugging Face image-processor implementation to follow.
enum class ImageProcessorBackend {
  kDefault,      // what transformers picks for the model
  kPillow,       // the original (slow) processor on PIL
  kTorchvision,  // the "fast" processor on torchvision
};
Result<ImageProcessorBackend> image_processor_backend_from_string(std::string_view name);

// A checkpoint folder's configuration files, parsed.
struct ModelConfig {
  std::string dir;
  std::string model_type;                // config.json "model_type"
  nlohmann::json config;                 // config.json
  nlohmann::json preprocessor_config;    // preprocessor_config.json (empty object if absent)
  nlohmann::json video_preprocessor_config;  // video_preprocessor_config.json (empty if absent)

  static Result<ModelConfig> load(const std::string& dir);
};

// Per-request preprocessing overrides (validated by the processor).
struct ProcessorOptions {
  std::optional<int64_t> min_pixels;
  std::optional<int64_t> max_pixels;
  ImageProcessorBackend backend = ImageProcessorBackend::kDefault;
};

// How a request asks for a video's frames to be chosen; unset fields take
// the family's defaults. Either Cornserve's selection (linspace, at most
// max_num_frames) or, when `fps` is set, transformers' fps sampling.
struct VideoSamplingOptions {
  std::optional<int64_t> max_num_frames;  // linspace; default 32 (Cornserve), 0 keeps every frame
  std::optional<double> fps;              // frames sampled per second of video
  std::optional<int64_t> min_frames;      // with fps only; default from the video config
  std::optional<int64_t> max_frames;      // with fps only; default from the video config
};

// One preprocessed item, ready for the encoder.
struct ProcessedItem {
  Modality modality = Modality::kImage;
  // Named model inputs exactly as the Hugging Face processor returns them
  // (e.g. "pixel_values" [patches, C*T*P*P] float32, "image_grid_thw" [1, 3] int64).
  NamedTensors tensors;
  // Number of embedding rows the encoder will produce for this item.
  int64_t num_tokens = 0;

  const Tensor* find(std::string_view name) const;
};

// Turns decoded media into model inputs. Thread-safe: one instance serves
// concurrent requests.
class ModalityProcessor {
 public:
  virtual ~ModalityProcessor() = default;
  virtual std::vector<Modality> modalities() const = 0;
  virtual Result<ProcessedItem> process_image(const media::RgbImage& image, const ProcessorOptions& options) const = 0;

  // Video, for families whose modalities() include kVideo (the defaults
  // below answer Unimplemented). The caller decodes only the frames that
  // video_frame_selection() picks (media::load_and_decode_video) and passes
  // them, in order and all of one size, to process_video, which returns the
  // model's video tensors (e.g. pixel_values_videos, video_grid_thw).
  // (Inline, so code that sees only this interface, like the router core,
  // needs no model library.)
  virtual Result<media::FrameSelection> video_frame_selection(const VideoSamplingOptions&) const {
    return Unimplemented("this model has no video processor");
  }
  virtual Result<ProcessedItem> process_video(const std::vector<media::RgbImage>&, const ProcessorOptions&) const {
    return Unimplemented("this model has no video processor");
  }
};

// Where an encoder runs (`--device`).
enum class ComputeDevice { kCpu, kCuda };
inline std::string_view device_name(ComputeDevice d) { return d == ComputeDevice::kCuda ? "cuda" : "cpu"; }
inline Result<ComputeDevice> device_from_string(std::string_view name) {
  if (name == "cpu") return ComputeDevice::kCpu;
  if (name == "cuda") return ComputeDevice::kCuda;
  return InvalidArgument("unknown device '{}' (cpu or cuda)", name);
}
// `--cuda-dtype`: bf16 (default) or f32 weights and activations on the GPU.
inline Result<DType> cuda_dtype_from_string(std::string_view name) {
  if (name == "bf16" || name == "bfloat16") return DType::kBF16;
  if (name == "f32" || name == "float32") return DType::kF32;
  return InvalidArgument("unknown CUDA compute dtype '{}' (bf16 or f32)", name);
}
// `--cuda-memory-limit` (syntax: cuda_memory_limit.h) belongs to --device
// cuda: with cpu it is refused rather than ignored, so a deployment that
// meant to cap a GPU notices it is not on one.
inline Result<CudaMemoryLimit> cuda_memory_limit_for_device(std::string_view spec, std::string_view device) {
  ERIC_ASSIGN_OR_RETURN(CudaMemoryLimit limit, cuda_memory_limit_from_string(spec));
  ERIC_ASSIGN_OR_RETURN(ComputeDevice d, device_from_string(device));
  if (!limit.none() && d != ComputeDevice::kCuda) {
    return InvalidArgument("--cuda-memory-limit {} needs --device cuda (the encoder runs on {})", spec, device);
  }
  return limit;
}

// `--device`, `--cuda-dtype` and `--cuda-memory-limit` parsed and checked
// together: every command and process that takes them (encode, serve, engine,
// worker) goes through here, so they are refused alike everywhere.
struct DeviceOptions {
  ComputeDevice device = ComputeDevice::kCpu;
  DType cuda_dtype = DType::kBF16;
  CudaMemoryLimit cuda_memory_limit;
};
inline Result<DeviceOptions> parse_device_options(std::string_view device, std::string_view cuda_dtype,
                                                  std::string_view cuda_memory_limit) {
  DeviceOptions o;
  ERIC_ASSIGN_OR_RETURN(o.device, device_from_string(device));
  ERIC_ASSIGN_OR_RETURN(o.cuda_dtype, cuda_dtype_from_string(cuda_dtype));
  ERIC_ASSIGN_OR_RETURN(o.cuda_memory_limit, cuda_memory_limit_for_device(cuda_memory_limit, device));
  return o;
}

struct EncoderOptions {
  DType compute_dtype = DType::kF32;  // activations: f32 (bf16 where supported)
  int num_threads = 0;                // 0: the global pool
  // kCuda: weights uploaded to GPU `device_index` at load (worker rank r
  // uses GPU r) and every forward pass runs there in `cuda_dtype`.
  ComputeDevice device = ComputeDevice::kCpu;
  int device_index = 0;
  DType cuda_dtype = DType::kBF16;
  // Cap on the bytes eric holds on that GPU (--cuda-memory-limit; none by
  // default); set on the device's allocator before the weights go up.
  CudaMemoryLimit cuda_memory_limit;
  // Tensor parallelism: this process holds rank()'s shard of the weights
  // (column-parallel: QKV per head, MLP up/gate, merger fc1; row-parallel:
  // attention out-proj, MLP down, merger fc2, followed by all_reduce_sum).
  // Null means a single rank.
  std::shared_ptr<distributed::Collective> collective;

  void set_device(const DeviceOptions& d) {
    device = d.device;
    cuda_dtype = d.cuda_dtype;
    cuda_memory_limit = d.cuda_memory_limit;
  }
};

// Runs the encoder (vision/audio tower + projector). Items in one call share
// a modality; the result holds one [num_tokens, out_hidden] float32 tensor
// per item, in order.
class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual int64_t output_hidden_size() const = 0;
  virtual Result<std::vector<Tensor>> encode(const std::vector<const ProcessedItem*>& items) = 0;
  // Ok while the encoder can run more batches in this process; otherwise why
  // not (a GPU context that took a sticky error: only a new process recovers
  // it). Workers ask after each batch and stop when it fails, so the engine
  // restarts them.
  virtual Status health() const { return Status::Ok(); }
};

struct TestModelOptions {
  uint64_t seed = 0;
  bool real_dims = false;  // the published checkpoint's shapes instead of tiny ones
  DType dtype = DType::kF32;
  int num_shards = 2;  // safetensors shards (the last holds the non-encoder tensors when > 1)
};

struct ModelFamily {
  std::vector<std::string> model_types;  // e.g. {"qwen2_vl"}
  // Tensor-name prefixes of the encoder weights in the checkpoint (e.g. "visual.").
  std::vector<std::string> (*encoder_prefixes)(const ModelConfig& config) = nullptr;
  Result<std::unique_ptr<ModalityProcessor>> (*make_processor)(const ModelConfig& config) = nullptr;
  // `weights` holds the encoder tensors with the matched prefix removed
  // (e.g. "blocks.0.attn.qkv.weight" for "visual.blocks.0.attn.qkv.weight").
  Result<std::unique_ptr<Encoder>> (*load_encoder)(const ModelConfig& config, const WeightMap& weights,
                                                   const EncoderOptions& options) = nullptr;
  // Writes config.json, preprocessor_config.json and random-weight shards
  // under the real tensor names (`eric make-test-model`).
  Status (*write_test_model)(const std::string& model_type, const std::string& out_dir,
                             const TestModelOptions& options) = nullptr;
};

void register_model_family(const ModelFamily& family);
// The family serving `model_type`, or NotFound listing the known types.
Result<const ModelFamily*> find_model_family(std::string_view model_type);
std::vector<std::string> known_model_types();

struct FamilyRegistrar {
  explicit FamilyRegistrar(const ModelFamily& family) { register_model_family(family); }
};

}  // namespace eric::models

#define ERIC_REGISTER_MODEL_FAMILY(family) \
  static ::eric::models::FamilyRegistrar ERIC_CONCAT(eric_family_registrar_, __LINE__)(family)
