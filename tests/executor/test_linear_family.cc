#include "test_linear_family.h"

#include <fstream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "models/model.h"
#include "tensor/safetensors.h"

namespace eric::testing {

namespace {

using models::EncoderOptions;
using models::ModelConfig;
using models::ProcessedItem;

class NoProcessor final : public models::ModalityProcessor {
 public:
  std::vector<models::Modality> modalities() const override { return {models::Modality::kImage}; }
  Result<ProcessedItem> process_image(const media::RgbImage&, const models::ProcessorOptions&) const override {
    return Unimplemented("the test linear model has no image processor");
  }
};

class LinearEncoder final : public models::Encoder {
 public:
  LinearEncoder(Tensor weight, int64_t lo, int64_t hi, std::shared_ptr<distributed::Collective> coll)
      : weight_(std::move(weight)), lo_(lo), hi_(hi), coll_(std::move(coll)) {}
  int64_t output_hidden_size() const override { return weight_.dim(0); }

  Result<std::vector<Tensor>> encode(const std::vector<const ProcessedItem*>& items) override {
    std::vector<Tensor> out;
    const int64_t in = weight_.dim(1), hid = weight_.dim(0);
    for (const ProcessedItem* item : items) {
      const Tensor* x = item->find("pixel_values");
      if (x == nullptr) return InvalidArgument("item has no pixel_values");
      ERIC_RETURN_IF_ERROR(x->expect_dtype(DType::kF32, "pixel_values"));
      if (x->rank() != 2 || x->dim(1) != in) return InvalidArgument("pixel_values must be [rows, {}]", in);
      const float* xd = x->data<float>();
      if (x->numel() > 0 && xd[0] < 0) std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(-xd[0])));
      const int64_t rows = x->dim(0);
      ERIC_ASSIGN_OR_RETURN(Tensor y, Tensor::zeros(DType::kF32, {rows, hid}));
      float* yd = y.mutable_data<float>();
      const float* w = weight_.data<float>();
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t h = 0; h < hid; ++h) {
          float s = 0;
          for (int64_t k = lo_; k < hi_; ++k) s += xd[r * in + k] * w[h * in + k];
          yd[r * hid + h] = s;
        }
      }
      if (coll_) ERIC_RETURN_IF_ERROR(coll_->all_reduce_sum(y));
      out.push_back(std::move(y));
    }
    return out;
  }

 private:
  Tensor weight_;
  int64_t lo_, hi_;
  std::shared_ptr<distributed::Collective> coll_;
};

std::vector<std::string> prefixes(const ModelConfig&) { return {"visual."}; }

Result<std::unique_ptr<models::ModalityProcessor>> make_processor(const ModelConfig&) {
  return std::unique_ptr<models::ModalityProcessor>(new NoProcessor());
}

Result<std::unique_ptr<models::Encoder>> load_encoder(const ModelConfig& config, const WeightMap& weights,
                                                      const EncoderOptions& options) {
  auto it = weights.find("proj.weight");
  if (it == weights.end()) return NotFound("test linear model: no visual.proj.weight");
  ERIC_ASSIGN_OR_RETURN(Tensor w, it->second.to(DType::kF32));
  const int64_t in = w.dim(1);
  int rank = 0, world = 1;
  if (options.collective) {
    rank = options.collective->rank();
    world = options.collective->world_size();
  }
  return std::unique_ptr<models::Encoder>(
      new LinearEncoder(w, in * rank / world, in * (rank + 1) / world, world > 1 ? options.collective : nullptr));
}

const models::ModelFamily kFamily{{kTestLinearModelType}, &prefixes, &make_processor, &load_encoder, nullptr};
ERIC_REGISTER_MODEL_FAMILY(kFamily);

}  // namespace

void write_test_linear_model(const std::string& dir, int in_features, int out_features, uint64_t seed) {
  nlohmann::json cfg = {{"model_type", kTestLinearModelType}, {"in_features", in_features}, {"out_features", out_features}};
  std::ofstream(dir + "/config.json") << cfg.dump();
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> w(static_cast<size_t>(in_features) * out_features);
  for (float& v : w) v = u(rng);
  Tensor wt = Tensor::from_vector<float>(w, {out_features, in_features}).value();
  ERIC_CHECK(write_safetensors(dir + "/model.safetensors", {{"visual.proj.weight", wt}}).ok(), "{}", "writing test model");
}

Tensor test_linear_reference(const std::string& dir, const Tensor& x) {
  auto f = SafetensorsFile::open(dir + "/model.safetensors");
  ERIC_CHECK(f.ok(), "{}", f.status().to_string());
  Tensor w = f->get("visual.proj.weight").value();
  const int64_t rows = x.dim(0), in = w.dim(1), hid = w.dim(0);
  Tensor y = Tensor::zeros(DType::kF32, {rows, hid}).value();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t h = 0; h < hid; ++h) {
      double s = 0;
      for (int64_t k = 0; k < in; ++k) s += double(x.data<float>()[r * in + k]) * w.data<float>()[h * in + k];
      y.mutable_data<float>()[r * hid + h] = static_cast<float>(s);
    }
  }
  return y;
}

}  // namespace eric::testing
