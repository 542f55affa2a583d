// Reads media command-line arguments: a URL with a scheme (http:, https:,
// data:, file:) goes through MediaLoader; anything else is a local path read
// directly, since the CLI user is trusted. Shared by preprocess and encode,
// with the video frame-selection options both offer.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "common/status.h"
#include "media/frame_selection.h"
#include "media/video_decoder.h"
#include "models/model.h"

namespace eric::cli {

Result<std::string> read_media_argument(const std::string& path_or_url);

// A video file path or URL (including Cornserve's data:video/jpeg;base64,
// frame lists), decoding only the frames `selection` picks.
Result<media::DecodedVideo> read_video_argument(const std::string& path_or_url, const media::FrameSelection& selection);

// --max-num-frames, --fps, --min-frames, --max-frames into `sampling`.
void add_video_sampling_options(CLI::App* cmd, models::VideoSamplingOptions& sampling);

// Decodes the video the model's frame selection picks and runs its video
// processor; errors name the argument.
Result<models::ProcessedItem> preprocess_video_argument(const models::ModalityProcessor& processor,
                                                        const std::string& path_or_url,
                                                        const models::VideoSamplingOptions& sampling,
                                                        const models::ProcessorOptions& options);

}  // namespace eric::cli
