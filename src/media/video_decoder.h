// Video decoding for the video modality: container bytes (MP4/MOV with H.264
// or H.265, WebM/MKV with VP8/VP9, animated GIF, ...) to the selected frames
// as 8-bit RGB, through FFmpeg's libavformat/libavcodec/libswscale, read
// straight from memory (no temporary files). Cornserve's
// data:video/jpeg;base64,<f1>,<f2>,... frame lists are decoded with the
// Pillow-exact image decoder instead.
//
// Frame numbering follows Cornserve's Eric, which reads videos with OpenCV's
// cv2.VideoCapture: the frame count is the stream's nb_frames, or, when the
// container does not store it, floor(duration_s * fps + 0.5); frames are
// numbered in presentation order as the decoder returns them. The frame
// indices are chosen from that count before decoding (frame_selection.h);
// only the frames up to the last selected one are decoded, and only the
// selected ones are converted to RGB (OpenCV's conversion: swscale, BICUBIC,
// the swscale defaults for colour matrix and range).
//
// Usage (what `--video` / "modality": "video" wire to):
//   Result<DecodedVideo> v = load_and_decode_video(loader, url, FrameSelection{}, VideoDecodeOptions{});
//   then qwen2_vl::VideoProcessor::process_video(v->frames, processor_options).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "media/frame_selection.h"
#include "media/image.h"

namespace eric::media {

class MediaLoader;

// Limits checked from the container and codec headers before frames are
// decoded; exceeding one is ResourceExhausted naming the limit.
struct VideoDecodeOptions {
  int64_t max_total_frames = 1'000'000;     // frame count announced by the container
  int64_t max_frames_to_decode = 200'000;   // frames decoded to reach the last selected one
  int64_t max_pixels_per_frame = 8192ll * 4320;  // width * height of the coded frames (8K)
  double max_duration_s = 4.0 * 3600.0;     // container duration
  int64_t max_selected_frames = 4096;       // frames kept (RGB buffers held at once)
  // Pixels of all kept frames together (frames kept x width x height; 3 bytes
  // each in RGB): bounds the memory one video holds. The default is no
  // tighter than the two limits above; servers set it lower.
  int64_t max_selected_pixels = 4096ll * 8192 * 4320;
  int64_t max_input_bytes = 1ll << 30;      // encoded size
  // Decoder threads: 0 lets FFmpeg pick (one per core); 1 decodes on the
  // calling thread only (better when many videos are decoded concurrently).
  int threads = 0;
};

struct DecodedVideo {
  std::vector<RgbImage> frames;        // the selected frames, in order
  std::vector<int64_t> frame_indices;  // their indices among all frames (same length as frames)
  int64_t total_frames = 0;            // frame count used for selection
  double source_fps = 0.0;             // average frame rate (0 when unknown, e.g. JPEG frame lists)
  double duration_s = 0.0;             // total_frames / source_fps, as Cornserve reports it (0 if fps unknown)
  int width = 0;                       // frame size
  int height = 0;
  std::string container;               // libavformat demuxer name, or "jpeg_frame_list"
  std::string codec;                   // libavcodec decoder name, or "jpeg"
};

// Decodes the selected frames of a video held in `bytes`.
// Errors: InvalidArgument (empty input, bad selection), DataLoss (not a
// recognised container, broken or truncated stream, fewer frames than the
// header announced), Unimplemented (container or codec outside the supported
// list: mov/mp4, matroska/webm, gif, avi; h264, hevc, vp8, vp9, av1, gif,
// mjpeg, mpeg4), ResourceExhausted (a VideoDecodeOptions limit).
Result<DecodedVideo> decode_video(std::string_view bytes, const FrameSelection& selection = {},
                                  const VideoDecodeOptions& options = {});

// Cornserve's JPEG frame list (MediaLoader::split_jpeg_frame_list's output):
// the frames chosen by `selection` are decoded with decode_image (Pillow's
// pixels). A frame list carries no timing, so FrameSelection::Mode::kFps is
// InvalidArgument. All frames must have the same size. (Cornserve keeps every
// frame of a list; with the default kLinspace selection lists of up to
// max_num_frames frames are kept whole, longer ones are subsampled.)
Result<DecodedVideo> decode_jpeg_frame_list(const std::vector<std::string>& jpeg_frames,
                                            const FrameSelection& selection = {},
                                            const VideoDecodeOptions& options = {});

// A request URL to frames: data:video/jpeg;base64,<f1>,<f2>,... frame lists
// (recognised by that prefix, any case) go through
// MediaLoader::split_jpeg_frame_list + decode_jpeg_frame_list with
// options.max_input_bytes as the size cap; any other URL (http(s), data:
// with a container, file://) through loader.load + decode_video. Errors of
// the loader (PermissionDenied, NotFound, ...) pass through unchanged.
Result<DecodedVideo> load_and_decode_video(const MediaLoader& loader, std::string_view url,
                                           const FrameSelection& selection = {},
                                           const VideoDecodeOptions& options = {});

// ResourceExhausted when `frames` frames of width x height exceed
// options.max_selected_pixels (checked before the frames are decoded).
Status check_selected_pixels(size_t frames, int64_t width, int64_t height, const VideoDecodeOptions& options);

// True for the MIME type of Cornserve's frame lists ("video/jpeg", any case).
bool is_jpeg_frame_list(std::string_view mime_type);

}  // namespace eric::media
