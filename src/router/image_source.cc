#include "router/image_source.h"

#include <memory>

#include "media/image_decoder.h"

namespace eric::router {

ImageLoader make_image_loader(media::MediaLoaderOptions options) {
  // MediaLoader::load is const and thread-safe; one instance serves every pool thread.
  auto loader = std::make_shared<const media::MediaLoader>(std::move(options));
  return [loader](const std::string& url) -> Result<media::RgbImage> {
    ERIC_ASSIGN_OR_RETURN(media::LoadedMedia media, loader->load(url));
    auto image = media::decode_image(media.bytes);
    if (!image.ok()) return image.status().with_context("cannot decode the image");
    return image;
  };
}

}  // namespace eric::router
