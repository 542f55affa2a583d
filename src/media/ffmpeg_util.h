// Small RAII and I/O helpers over FFmpeg's C API, shared by the video (and
// later audio) decoders: an AVIOContext that reads from a memory buffer, owned
// pointers with the right free functions, and error strings.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace eric::media::ffmpeg {

struct FormatContextDeleter {
  void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* p) const { avcodec_free_context(&p); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* p) const { av_frame_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* p) const { sws_freeContext(p); }
};
struct IoContextDeleter {
  void operator()(AVIOContext* p) const;
};
using FormatContextPtr = std::unique_ptr<AVFormatContext, FormatContextDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;
using IoContextPtr = std::unique_ptr<AVIOContext, IoContextDeleter>;

// The bytes being read and the read position. Must outlive the AVIOContext.
struct MemoryInput {
  const uint8_t* data = nullptr;
  int64_t size = 0;
  int64_t pos = 0;
};

// A read-only, seekable AVIOContext over `input` (no copy of the bytes).
Result<IoContextPtr> make_memory_io(MemoryInput* input);

// av_strerror as a std::string.
std::string error_string(int averror);

// Quietens FFmpeg's logging (it writes to stderr on every broken input, which
// a server receives routinely); errors are reported through Status instead.
void quiet_logging_once();

}  // namespace eric::media::ffmpeg
