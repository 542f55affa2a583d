#include "cli/media_argument.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <fstream>
#include <sstream>

#include "media/media_loader.h"

namespace eric::cli {

namespace {
// "scheme:" prefix of at least two characters ("C:" style and bare names are paths).
bool is_url(const std::string& s) {
  const auto colon = s.find(':');
  if (colon == std::string::npos || colon < 2) return false;
  for (size_t i = 0; i < colon; ++i) {
    const char c = s[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.')) return false;
  }
  return true;
}

Result<std::string> read_local_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open media file '{}'", path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) return IoError("error reading media file '{}'", path);
  return ss.str();
}
}  // namespace

Result<std::string> read_media_argument(const std::string& path_or_url) {
  if (is_url(path_or_url)) {
    media::MediaLoader loader(media::MediaLoaderOptions{});
    ERIC_ASSIGN_OR_RETURN(media::LoadedMedia loaded, loader.load(path_or_url));
    return std::move(loaded.bytes);
  }
  return read_local_file(path_or_url);
}

Result<media::DecodedVideo> read_video_argument(const std::string& path_or_url, const media::FrameSelection& selection) {
  if (is_url(path_or_url)) {
    // load_and_decode_video recognises data:video/jpeg frame lists itself.
    media::MediaLoader loader(media::MediaLoaderOptions{});
    return media::load_and_decode_video(loader, path_or_url, selection);
  }
  ERIC_ASSIGN_OR_RETURN(std::string bytes, read_local_file(path_or_url));
  return media::decode_video(bytes, selection);
}

void add_video_sampling_options(CLI::App* cmd, models::VideoSamplingOptions& sampling) {
  cmd->add_option("--max-num-frames", sampling.max_num_frames,
                  "video: keep at most N frames, chosen by linspace as Cornserve does (default 32; 0: all)");
  cmd->add_option("--fps", sampling.fps, "video: sample about this many frames per second (transformers' fps mode)");
  cmd->add_option("--min-frames", sampling.min_frames, "video, with --fps: at least this many frames");
  cmd->add_option("--max-frames", sampling.max_frames, "video, with --fps: at most this many frames");
}

Result<models::ProcessedItem> preprocess_video_argument(const models::ModalityProcessor& processor,
                                                        const std::string& path_or_url,
                                                        const models::VideoSamplingOptions& sampling,
                                                        const models::ProcessorOptions& options) {
  auto selection = processor.video_frame_selection(sampling);
  if (!selection.ok()) return selection.status().with_context(path_or_url);
  auto video = read_video_argument(path_or_url, *selection);
  if (!video.ok()) return video.status().with_context(path_or_url);
  spdlog::info("{}: {}/{} {}x{}, {} frames at {:.3g} fps; kept {}", path_or_url, video->container, video->codec,
               video->width, video->height, video->total_frames, video->source_fps, video->frames.size());
  auto item = processor.process_video(video->frames, options);
  if (!item.ok()) return item.status().with_context(path_or_url);
  return item;
}

}  // namespace eric::cli
