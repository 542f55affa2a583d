// Helpers the model tests share (included by relative path, as
// tests/common/temp_dir.h): running an Encoder on a batch, reading the
// make-test-model arguments of tests/data/goldens/manifest.json, and turning a
// decoded-frames tensor back into images.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "media/image.h"
#include "models/model.h"
#include "tensor/dtype.h"
#include "tensor/tensor.h"

namespace eric::models::test_util {

// enc.encode() on `items` in order; a failure is a test failure (and no outputs).
inline std::vector<Tensor> encode(Encoder& enc, const std::vector<ProcessedItem>& items) {
  std::vector<const ProcessedItem*> ptrs;
  for (const auto& i : items) ptrs.push_back(&i);
  auto r = enc.encode(ptrs);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? *r : std::vector<Tensor>{};
}

// "--arch A --seed S --dims tiny --dtype D", the manifest's `make_test_model`
// (how tools/reference made the golden's checkpoint), as TestModelOptions. Only
// the tiny dims exist on the C++ side, so any other is a test failure.
inline TestModelOptions parse_make_test_model(const std::string& args) {
  std::istringstream ss(args);
  std::string key, value;
  TestModelOptions o;
  while (ss >> key >> value) {
    if (key == "--seed") o.seed = std::stoull(value);
    if (key == "--dtype") o.dtype = dtype_from_string(value).value();
    if (key == "--dims") {
      EXPECT_EQ(value, "tiny") << args;
    }
  }
  return o;
}

// A uint8 [frames, height, width, 3] tensor (the goldens' decoded frames) as images.
inline std::vector<media::RgbImage> frames_from(const Tensor& t) {
  const auto& s = t.shape();
  std::vector<media::RgbImage> frames;
  for (int64_t f = 0; f < s[0]; ++f) {
    media::RgbImage img(static_cast<int>(s[2]), static_cast<int>(s[1]));
    std::memcpy(img.pixels.data(), t.data<uint8_t>() + f * s[1] * s[2] * 3, img.pixels.size());
    frames.push_back(std::move(img));
  }
  return frames;
}

}  // namespace eric::models::test_util
