#include "router/image_source.h"

#include <memory>

#include "media/image_decoder.h"
#include "media/video_decoder.h"

namespace eric::router {

ImageLoader make_image_loader(media::MediaLoaderOptions options, media::DecodeOptions decode) {
  // MediaLoader::load is const and thread-safe; one instance serves every pool thread.
  auto loader = std::make_shared<const media::MediaLoader>(std::move(options));
  return [loader, decode](const std::string& url) -> Result<media::RgbImage> {
    ERIC_ASSIGN_OR_RETURN(media::LoadedMedia media, loader->load(url));
    auto image = media::decode_image(media.bytes, decode);
    if (!image.ok() && image.status().code() == ErrorCode::kResourceExhausted) {
      return image.status().with_context(fmt::format("image refused (limit --max-image-pixels {})", decode.max_pixels));
    }
    if (!image.ok()) return image.status().with_context("cannot decode the image");
    return image;
  };
}

media::VideoDecodeOptions server_video_decode_options() {
  media::VideoDecodeOptions o;
  o.max_selected_frames = 768;
  o.max_selected_pixels = int64_t{1} << 29;
  o.threads = 1;
  return o;
}

VideoLoader make_video_loader(media::MediaLoaderOptions options, media::VideoDecodeOptions decode) {
  auto loader = std::make_shared<const media::MediaLoader>(std::move(options));
  return [loader, decode](const std::string& url, const media::FrameSelection& selection) -> Result<media::DecodedVideo> {
    auto video = media::load_and_decode_video(*loader, url, selection, decode);
    if (!video.ok() && video.status().code() == ErrorCode::kResourceExhausted) {
      return video.status().with_context("video refused (limit of the server)");
    }
    if (!video.ok()) return video.status().with_context("cannot decode the video");
    return video;
  };
}

}  // namespace eric::router
