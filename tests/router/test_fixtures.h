// Fakes shared by the router tests: a processor and an image loader that
// need no real model or media, and a temporary run folder.
#pragma once

#include <string>

#include "../common/temp_dir.h"
#include "media/image.h"
#include "models/model.h"
#include "router/processor_pool.h"

namespace eric::router::testing {

// "pixel_values": the image as float32 [h*w, 3]; num_tokens = ceil(h*w/64).
// max_pixels below the image's pixel count is refused (InvalidArgument).
class FakeProcessor : public models::ModalityProcessor {
 public:
  std::vector<models::Modality> modalities() const override { return {models::Modality::kImage}; }
  Result<models::ProcessedItem> process_image(const media::RgbImage& image,
                                              const models::ProcessorOptions& options) const override;
};

// "test://WxH/V": a W x H image filled with byte V; "test://missing": NotFound;
// "test://garbage": DataLoss (like an undecodable file).
ImageLoader fake_image_loader();

// A fresh private folder, removed by the destructor.
using eric::testing::TempDir;

}  // namespace eric::router::testing
