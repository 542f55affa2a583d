// The server's ImageLoader: MediaLoader (URL policy: allowed local folders,
// private-network guard) followed by decode_image.
#pragma once

#include "media/media_loader.h"
#include "router/processor_pool.h"

namespace eric::router {

ImageLoader make_image_loader(media::MediaLoaderOptions options);

}  // namespace eric::router
