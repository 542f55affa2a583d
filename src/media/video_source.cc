// From a request URL to decoded video frames: Cornserve's
// data:video/jpeg;base64,<f1>,<f2>,... frame lists cannot go through
// MediaLoader::load (the commas are not base64), so they are recognised by
// their prefix first; everything else is fetched and demuxed.
#include <cctype>

#include "media/media_loader.h"
#include "media/video_decoder.h"

namespace eric::media {

namespace {

bool is_jpeg_frame_list_uri(std::string_view url) {
  constexpr std::string_view kPrefix = "data:video/jpeg";
  if (url.size() <= kPrefix.size()) return false;
  for (size_t i = 0; i < kPrefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(url[i])) != kPrefix[i]) return false;
  }
  return url[kPrefix.size()] == ';' || url[kPrefix.size()] == ',';
}

}  // namespace

Result<DecodedVideo> load_and_decode_video(const MediaLoader& loader, std::string_view url,
                                           const FrameSelection& selection, const VideoDecodeOptions& options) {
  if (is_jpeg_frame_list_uri(url)) {
    ERIC_ASSIGN_OR_RETURN(std::vector<std::string> frames,
                          MediaLoader::split_jpeg_frame_list(url, options.max_input_bytes));
    return decode_jpeg_frame_list(frames, selection, options);
  }
  ERIC_ASSIGN_OR_RETURN(LoadedMedia media, loader.load(url));
  return decode_video(media.bytes, selection, options);
}

}  // namespace eric::media
