// Which frames of a video are kept, decided from the frame count (and frame
// rate) alone, before any frame is decoded.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace eric::media {

struct FrameSelection {
  enum class Mode {
    // Cornserve's Eric (router/processor.py VideoLoader): when the video has more
    // than max_num_frames frames, np.linspace(0, total - 1, max_num_frames,
    // dtype=int); otherwise every frame. max_num_frames <= 0 keeps every frame.
    kLinspace,
    // transformers' Qwen2VLVideoProcessor.sample_frames with `fps`: about `fps`
    // frames per second of video, clamped to [min_frames, max_frames] and to the
    // frame count, rounded down to a multiple of frame_factor, picked by
    // torch.arange(0, total, total / n).int().
    kFps,
  };
  Mode mode = Mode::kLinspace;
  int64_t max_num_frames = 32;  // kLinspace
  double fps = 2.0;             // kFps: frames sampled per second of video
  int64_t min_frames = 4;       // kFps
  int64_t max_frames = 768;     // kFps
  int64_t frame_factor = 2;     // kFps: the model's temporal_patch_size
};

// Indices (0-based, in presentation order, strictly increasing) of the frames
// to keep from a video of `total_frames` frames at `source_fps` frames per
// second (only kFps reads it). Errors: total_frames < 1, kFps without a
// positive source_fps, invalid settings, or a kFps count that rounds to zero.
Result<std::vector<int64_t>> select_frame_indices(int64_t total_frames, double source_fps,
                                                  const FrameSelection& selection);

}  // namespace eric::media
