#include "test_fixtures.h"

#include <cstdio>
#include <filesystem>

namespace eric::router::testing {

Result<models::ProcessedItem> FakeProcessor::process_image(const media::RgbImage& image,
                                                           const models::ProcessorOptions& options) const {
  const int64_t pixels = static_cast<int64_t>(image.width) * image.height;
  if (options.max_pixels && pixels > *options.max_pixels) {
    return InvalidArgument("image has {} pixels, more than max_pixels {}", pixels, *options.max_pixels);
  }
  models::ProcessedItem item;
  item.modality = models::Modality::kImage;
  ERIC_ASSIGN_OR_RETURN(Tensor pv, Tensor::empty(DType::kF32, Shape{pixels, 3}));
  float* out = pv.mutable_data<float>();
  for (size_t i = 0; i < image.pixels.size(); ++i) out[i] = image.pixels[i];
  item.tensors.emplace_back("pixel_values", pv);
  item.num_tokens = (pixels + 63) / 64;
  return item;
}

ImageLoader fake_image_loader() {
  return [](const std::string& url) -> Result<media::RgbImage> {
    if (url == "test://missing") return NotFound("no such test image");
    if (url == "test://garbage") return DataLoss("not an image: unknown magic bytes");
    int w = 0, h = 0, v = 0;
    if (std::sscanf(url.c_str(), "test://%dx%d/%d", &w, &h, &v) != 3 || w <= 0 || h <= 0) {
      return InvalidArgument("bad test url '{}'", url);
    }
    media::RgbImage image(w, h);
    std::fill(image.pixels.begin(), image.pixels.end(), static_cast<uint8_t>(v));
    return image;
  };
}

}  // namespace eric::router::testing
