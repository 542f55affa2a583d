// WebP through libwebp. Pillow opens every WebP with WebPAnimDecoder (RGBA,
// not premultiplied) and shows its first frame. For a still image that is
// the demuxed frame's plain decode, done here straight into the RGB buffer;
// animated files go through WebPAnimDecoder like Pillow, so the first frame
// is composed on the canvas the same way.
#include <webp/decode.h>
#include <webp/demux.h>

#include <memory>

#include "media/format_decoders.h"

namespace eric::media {
namespace {

const char* vp8_status_name(VP8StatusCode code) {
  switch (code) {
    case VP8_STATUS_OK: return "ok";
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "data is truncated";
  }
  return "unknown error";
}

Result<RgbImage> decode_animated_first_frame(std::string_view bytes, int width, int height) {
  WebPData data{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
  WebPAnimDecoderOptions anim_options;
  if (!WebPAnimDecoderOptionsInit(&anim_options)) return Internal("WebP: WebPAnimDecoderOptionsInit failed");
  anim_options.color_mode = MODE_RGBA;
  anim_options.use_threads = 0;
  std::unique_ptr<WebPAnimDecoder, decltype(&WebPAnimDecoderDelete)> decoder(
      WebPAnimDecoderNew(&data, &anim_options), &WebPAnimDecoderDelete);
  if (!decoder) return DataLoss("WebP animation could not be parsed (corrupt or truncated)");
  WebPAnimInfo info;
  if (!WebPAnimDecoderGetInfo(decoder.get(), &info)) return DataLoss("WebP animation has no readable header");
  if (static_cast<int>(info.canvas_width) != width || static_cast<int>(info.canvas_height) != height) {
    return DataLoss("WebP animation canvas {}x{} disagrees with its header {}x{}", info.canvas_width,
                    info.canvas_height, width, height);
  }
  uint8_t* rgba = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderGetNext(decoder.get(), &rgba, &timestamp) || rgba == nullptr) {
    return DataLoss("WebP animation's first frame could not be decoded");
  }
  RgbImage image(width, height);
  const size_t n = static_cast<size_t>(width) * static_cast<size_t>(height);
  for (size_t i = 0; i < n; ++i) {
    image.pixels[3 * i] = rgba[4 * i];
    image.pixels[3 * i + 1] = rgba[4 * i + 1];
    image.pixels[3 * i + 2] = rgba[4 * i + 2];
  }
  return image;
}

}  // namespace

Result<RgbImage> decode_webp(std::string_view bytes, const DecodeOptions& options) {
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  WebPBitstreamFeatures features;
  VP8StatusCode code = WebPGetFeatures(data, bytes.size(), &features);
  if (code != VP8_STATUS_OK) return DataLoss("WebP header could not be read: {}", vp8_status_name(code));
  ERIC_RETURN_IF_ERROR(check_image_dimensions("WebP", features.width, features.height, options));
  if (features.has_animation) return decode_animated_first_frame(bytes, features.width, features.height);

  // The bitstream is taken from the container the way Pillow's
  // WebPAnimDecoder takes it (WebPDemux, frame 1), so files whose RIFF
  // structure Pillow rejects, or whose chunk sizes cut the bitstream short,
  // fail here too; WebPDecode on the whole file would be more lenient.
  WebPData whole{data, bytes.size()};
  std::unique_ptr<WebPDemuxer, decltype(&WebPDemuxDelete)> demux(WebPDemux(&whole), &WebPDemuxDelete);
  if (!demux) return DataLoss("WebP container could not be parsed (corrupt or truncated RIFF chunks)");
  WebPIterator frame;
  if (!WebPDemuxGetFrame(demux.get(), 1, &frame)) return DataLoss("WebP file has no image frame");
  const WebPData fragment = frame.fragment;
  const bool full_canvas = frame.x_offset == 0 && frame.y_offset == 0 && frame.width == features.width &&
                           frame.height == features.height;
  WebPDemuxReleaseIterator(&frame);
  if (!full_canvas) return DataLoss("WebP still image frame does not cover its canvas");

  WebPDecoderConfig config;
  if (!WebPInitDecoderConfig(&config)) return Internal("WebP: WebPInitDecoderConfig failed");
  RgbImage image(features.width, features.height);
  config.output.colorspace = MODE_RGB;
  config.output.is_external_memory = 1;
  config.output.u.RGBA.rgba = image.pixels.data();
  config.output.u.RGBA.stride = features.width * 3;
  config.output.u.RGBA.size = image.pixels.size();
  code = WebPDecode(fragment.bytes, fragment.size, &config);
  WebPFreeDecBuffer(&config.output);
  if (code != VP8_STATUS_OK) return DataLoss("WebP decoding failed: {}", vp8_status_name(code));
  return image;
}

}  // namespace eric::media
