// The server's media loaders: MediaLoader (URL policy: allowed local folders,
// private-network guard) followed by decode_image or the video decoder.
#pragma once

#include "media/image_decoder.h"
#include "media/media_loader.h"
#include "router/processor_pool.h"

namespace eric::router {

// `decode` bounds the decoded size (max_pixels, checked from the header).
ImageLoader make_image_loader(media::MediaLoaderOptions options, media::DecodeOptions decode = {});

// The server's VideoLoader: media::load_and_decode_video through a MediaLoader
// with the same URL policy. Each video decodes on its pool thread only
// (VideoDecodeOptions::threads = 1): the pool already runs items in parallel.
VideoLoader make_video_loader(media::MediaLoaderOptions options);

}  // namespace eric::router
