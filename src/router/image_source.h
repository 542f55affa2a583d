// The server's media loaders: MediaLoader (URL policy: allowed local folders,
// private-network guard) followed by decode_image or the video decoder.
#pragma once

#include "media/image_decoder.h"
#include "media/media_loader.h"
#include "media/video_decoder.h"
#include "router/processor_pool.h"

namespace eric::router {

// `decode` bounds the decoded size (max_pixels, checked from the header).
ImageLoader make_image_loader(media::MediaLoaderOptions options, media::DecodeOptions decode = {});

// What one video item may cost the server; stricter than the decoder's
// defaults (which suit the trusted CLI). 768 frames is transformers'
// max_frames default for these models; 2^29 pixels (1.5 GiB of RGB) holds 32
// frames of 4K or 768 frames of 640x1024. Each video decodes on its pool
// thread only (threads = 1): the pool already runs items in parallel.
media::VideoDecodeOptions server_video_decode_options();

// The server's VideoLoader: media::load_and_decode_video through a MediaLoader
// with the same URL policy, within `decode`'s limits.
VideoLoader make_video_loader(media::MediaLoaderOptions options,
                              media::VideoDecodeOptions decode = server_video_decode_options());

}  // namespace eric::router
