#include "media/video_decoder.h"

extern "C" {
#include <libavutil/avstring.h>
#include <libavutil/imgutils.h>
}

#include <algorithm>
#include <cmath>
#include <cstring>

#include "media/ffmpeg_util.h"

namespace eric::media {

namespace {

using namespace ffmpeg;

// libavformat demuxer names (AVInputFormat::name lists, matched with
// av_match_list) and libavcodec decoder names this path accepts. Everything
// else is refused before it is parsed further, which keeps the attack surface
// to the demuxers and decoders videos actually arrive in.
constexpr const char* kFormatWhitelist = "mov,mp4,matroska,webm,gif,avi";
constexpr const char* kCodecWhitelist = "h264,hevc,vp8,vp9,libvpx,libvpx-vp9,av1,libdav1d,gif,mjpeg,mpeg4";

bool codec_supported(AVCodecID id) {
  switch (id) {
    case AV_CODEC_ID_H264:
    case AV_CODEC_ID_HEVC:
    case AV_CODEC_ID_VP8:
    case AV_CODEC_ID_VP9:
    case AV_CODEC_ID_AV1:
    case AV_CODEC_ID_GIF:
    case AV_CODEC_ID_MJPEG:
    case AV_CODEC_ID_MPEG4:
      return true;
    default:
      return false;
  }
}

double r2d(AVRational r) { return r.num == 0 || r.den == 0 ? 0.0 : static_cast<double>(r.num) / r.den; }

// The demuxer state. Not movable: the AVIOContext points at `input`.
struct Container {
  MemoryInput input;
  IoContextPtr io;
  FormatContextPtr fmt;  // declared after io: closed first
  int stream = -1;
  Container() = default;
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;
};

Status check_frame_size(int64_t width, int64_t height, const VideoDecodeOptions& o) {
  if (width > 0 && height > 0 && width * height > o.max_pixels_per_frame) {
    return ResourceExhausted("video frames are {}x{} = {} pixels, above the limit of {} pixels per frame", width,
                             height, width * height, o.max_pixels_per_frame);
  }
  return Status::Ok();
}

// Opens the container from memory, finds the video stream and reads the
// stream parameters, refusing unsupported formats and codecs and oversized
// frames from the headers, before any frame is decoded for output.
Status open_container(std::string_view bytes, const VideoDecodeOptions& o, Container& c) {
  c.input = MemoryInput{reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int64_t>(bytes.size()), 0};
  ERIC_ASSIGN_OR_RETURN(c.io, make_memory_io(&c.input));

  const AVInputFormat* ifmt = nullptr;
  int r = av_probe_input_buffer2(c.io.get(), &ifmt, "", nullptr, 0, 0);
  if (r < 0 || ifmt == nullptr) {
    return DataLoss("not a recognised video container ({} bytes; {})", bytes.size(), error_string(r));
  }
  if (!av_match_list(ifmt->name, kFormatWhitelist, ',')) {
    return Unimplemented("video container '{}' is not supported (supported: MP4/MOV, Matroska/WebM, GIF, AVI)",
                         ifmt->name);
  }

  AVFormatContext* f = avformat_alloc_context();
  if (f == nullptr) return ResourceExhausted("out of memory allocating an AVFormatContext");
  f->pb = c.io.get();
  f->flags |= AVFMT_FLAG_CUSTOM_IO;
  f->format_whitelist = av_strdup(kFormatWhitelist);
  f->codec_whitelist = av_strdup(kCodecWhitelist);
  r = avformat_open_input(&f, nullptr, ifmt, nullptr);  // frees f on failure
  if (r < 0) return DataLoss("cannot read the {} container header: {}", ifmt->name, error_string(r));
  c.fmt.reset(f);

  // The first video stream that is not a cover picture (OpenCV takes the first video stream).
  for (unsigned i = 0; i < f->nb_streams; ++i) {
    const AVStream* st = f->streams[i];
    if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      c.stream = static_cast<int>(i);
      break;
    }
  }
  if (c.stream < 0) return DataLoss("the {} container holds no video stream", ifmt->name);
  AVStream* st = f->streams[c.stream];
  if (st->codecpar->codec_id != AV_CODEC_ID_NONE && !codec_supported(st->codecpar->codec_id)) {
    return Unimplemented("video codec '{}' is not supported (supported: H.264, H.265, VP8, VP9, AV1, GIF, MJPEG, "
                         "MPEG-4 Part 2)",
                         avcodec_get_name(st->codecpar->codec_id));
  }
  // Header checks before libavformat probes frames: size and announced length.
  ERIC_RETURN_IF_ERROR(check_frame_size(st->codecpar->width, st->codecpar->height, o));
  if (st->nb_frames > o.max_total_frames) {
    return ResourceExhausted("video header announces {} frames, above the limit of {}", st->nb_frames,
                             o.max_total_frames);
  }
  if (f->duration != AV_NOPTS_VALUE && f->duration > 0 &&
      static_cast<double>(f->duration) / AV_TIME_BASE > o.max_duration_s) {
    return ResourceExhausted("video lasts {:.1f} s, above the limit of {:.0f} s",
                             static_cast<double>(f->duration) / AV_TIME_BASE, o.max_duration_s);
  }

  // Only the video stream is of interest: libavformat skips the others' packets.
  for (unsigned i = 0; i < f->nb_streams; ++i) {
    if (static_cast<int>(i) != c.stream) f->streams[i]->discard = AVDISCARD_ALL;
  }
  // avformat_find_stream_info may decode a few frames to learn the pixel
  // format; the probing decoder gets the same pixel limit and one thread.
  std::vector<AVDictionary*> stream_opts(f->nb_streams, nullptr);
  const std::string max_pixels = std::to_string(std::min<int64_t>(o.max_pixels_per_frame, INT32_MAX));
  for (auto& d : stream_opts) {
    av_dict_set(&d, "max_pixels", max_pixels.c_str(), 0);
    av_dict_set(&d, "threads", "1", 0);
  }
  r = avformat_find_stream_info(f, stream_opts.data());
  for (auto& d : stream_opts) av_dict_free(&d);
  if (r < 0) return DataLoss("cannot read the {} stream parameters: {}", ifmt->name, error_string(r));
  if (!codec_supported(st->codecpar->codec_id)) {
    return Unimplemented("video codec '{}' is not supported (supported: H.264, H.265, VP8, VP9, AV1, GIF, MJPEG, "
                         "MPEG-4 Part 2)",
                         avcodec_get_name(st->codecpar->codec_id));
  }
  if (st->codecpar->width <= 0 || st->codecpar->height <= 0) {
    return DataLoss("the {} video stream has no frame size (broken or truncated stream)", ifmt->name);
  }
  return check_frame_size(st->codecpar->width, st->codecpar->height, o);
}

// OpenCV's CvCapture_FFMPEG::get_fps: the stream's average frame rate, else
// the inverse of its time base.
double stream_fps(const AVStream* st) {
  double fps = r2d(st->avg_frame_rate);
  if (fps < 1e-6) {
    const double tb = r2d(st->time_base);
    fps = tb > 0.0 ? 1.0 / tb : 0.0;
  }
  return fps;
}

// OpenCV's get_total_frames: nb_frames, else floor(duration_s * fps + 0.5)
// with the container's duration (or the stream's).
int64_t header_frame_count(const AVFormatContext* f, const AVStream* st, double fps) {
  if (st->nb_frames > 0) return st->nb_frames;
  double sec = f->duration == AV_NOPTS_VALUE ? 0.0 : static_cast<double>(f->duration) / AV_TIME_BASE;
  if (sec < 1e-6 && st->duration != AV_NOPTS_VALUE) sec = static_cast<double>(st->duration) * r2d(st->time_base);
  const double n = std::floor(sec * fps + 0.5);
  if (!std::isfinite(n) || n <= 0.0) return 0;
  return n > 9e18 ? INT64_MAX : static_cast<int64_t>(n);
}

// When the container announces no length (live-recorded WebM, some GIFs):
// the number of video packets, found by demuxing only (no decoding).
Result<int64_t> count_packets(Container& c, const VideoDecodeOptions& o) {
  PacketPtr pkt(av_packet_alloc());
  if (!pkt) return ResourceExhausted("out of memory allocating an AVPacket");
  int64_t n = 0;
  for (;;) {
    const int r = av_read_frame(c.fmt.get(), pkt.get());
    if (r == AVERROR_EOF) break;
    if (r < 0) return DataLoss("broken video stream while counting frames: {}", error_string(r));
    if (pkt->stream_index == c.stream) ++n;
    av_packet_unref(pkt.get());
    if (n > o.max_total_frames) {
      return ResourceExhausted("video has more than {} frames (the limit)", o.max_total_frames);
    }
  }
  return n;
}

// Converts one decoded frame to packed RGB the way OpenCV's retrieveFrame
// does (swscale, SWS_BICUBIC, default colour matrix/range handling), straight
// into the output image.
Status convert_to_rgb(const AVFrame* frame, SwsPtr& sws, RgbImage& out) {
  if (frame->width <= 0 || frame->height <= 0) return DataLoss("decoded video frame has no size");
  const auto fmt = static_cast<AVPixelFormat>(frame->format);
  sws.reset(sws_getCachedContext(sws.release(), frame->width, frame->height, fmt, frame->width, frame->height,
                                 AV_PIX_FMT_RGB24, SWS_BICUBIC, nullptr, nullptr, nullptr));
  if (!sws) {
    return Unimplemented("cannot convert video frames of pixel format '{}' to RGB",
                         av_get_pix_fmt_name(fmt) ? av_get_pix_fmt_name(fmt) : "unknown");
  }
  out = RgbImage(frame->width, frame->height);
  uint8_t* dst[4] = {out.pixels.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {frame->width * 3, 0, 0, 0};
  const int rows = sws_scale(sws.get(), frame->data, frame->linesize, 0, frame->height, dst, dst_stride);
  if (rows != frame->height) return DataLoss("video frame conversion to RGB failed");
  return Status::Ok();
}

}  // namespace

bool is_jpeg_frame_list(std::string_view mime_type) {
  constexpr std::string_view kJpeg = "video/jpeg";
  if (mime_type.size() != kJpeg.size()) return false;
  for (size_t i = 0; i < kJpeg.size(); ++i) {
    const char ch = mime_type[i];
    if ((ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch) != kJpeg[i]) return false;
  }
  return true;
}

Status check_selected_pixels(size_t frames, int64_t width, int64_t height, const VideoDecodeOptions& o) {
  // width and height are at most the per-frame limit's and frames at most
  // max_selected_frames when this runs, so the product fits in int64.
  const int64_t pixels = static_cast<int64_t>(frames) * std::max<int64_t>(width, 0) * std::max<int64_t>(height, 0);
  if (pixels > o.max_selected_pixels) {
    return ResourceExhausted("{} frames of {}x{} selected = {} pixels, above the limit of {} pixels per video", frames,
                             width, height, pixels, o.max_selected_pixels);
  }
  return Status::Ok();
}

Result<DecodedVideo> decode_video(std::string_view bytes, const FrameSelection& selection,
                                  const VideoDecodeOptions& o) {
  quiet_logging_once();
  if (bytes.empty()) return InvalidArgument("video input is empty (0 bytes)");
  if (static_cast<int64_t>(bytes.size()) > o.max_input_bytes) {
    return ResourceExhausted("video input has {} bytes, above the limit of {}", bytes.size(), o.max_input_bytes);
  }

  auto c = std::make_unique<Container>();
  ERIC_RETURN_IF_ERROR(open_container(bytes, o, *c));
  AVFormatContext* f = c->fmt.get();
  AVStream* st = f->streams[c->stream];

  DecodedVideo out;
  out.container = f->iformat->name;
  out.source_fps = stream_fps(st);
  out.width = st->codecpar->width;
  out.height = st->codecpar->height;
  out.total_frames = header_frame_count(f, st, out.source_fps);
  if (out.total_frames > o.max_total_frames) {
    return ResourceExhausted("video header announces {} frames, above the limit of {}", out.total_frames,
                             o.max_total_frames);
  }
  if (out.total_frames == 0) {
    // Count by demuxing, then start again from the beginning on a fresh demuxer.
    ERIC_ASSIGN_OR_RETURN(out.total_frames, count_packets(*c, o));
    if (out.total_frames == 0) return DataLoss("the {} video stream holds zero frames", out.container);
    c = std::make_unique<Container>();
    ERIC_RETURN_IF_ERROR(open_container(bytes, o, *c));
    f = c->fmt.get();
    st = f->streams[c->stream];
  }
  out.duration_s = out.source_fps > 0.0 ? static_cast<double>(out.total_frames) / out.source_fps : 0.0;
  if (out.duration_s > o.max_duration_s) {
    return ResourceExhausted("video lasts {:.1f} s, above the limit of {:.0f} s", out.duration_s, o.max_duration_s);
  }

  auto indices = select_frame_indices(out.total_frames, out.source_fps, selection);
  if (!indices.ok()) return indices.status().with_context(out.container + " video");
  out.frame_indices = std::move(*indices);
  if (static_cast<int64_t>(out.frame_indices.size()) > o.max_selected_frames) {
    return ResourceExhausted("{} frames selected, above the limit of {}", out.frame_indices.size(),
                             o.max_selected_frames);
  }
  ERIC_RETURN_IF_ERROR(check_selected_pixels(out.frame_indices.size(), out.width, out.height, o));
  const int64_t last_needed = out.frame_indices.back();
  if (last_needed + 1 > o.max_frames_to_decode) {
    return ResourceExhausted("reaching frame {} needs {} frames decoded, above the limit of {}", last_needed,
                             last_needed + 1, o.max_frames_to_decode);
  }

  const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
  if (codec == nullptr) {
    return Unimplemented("no decoder for video codec '{}' in this FFmpeg build",
                         avcodec_get_name(st->codecpar->codec_id));
  }
  out.codec = codec->name;
  CodecContextPtr dec(avcodec_alloc_context3(codec));
  if (!dec) return ResourceExhausted("out of memory allocating a decoder");
  int r = avcodec_parameters_to_context(dec.get(), st->codecpar);
  if (r < 0) return DataLoss("bad {} codec parameters: {}", out.codec, error_string(r));
  dec->pkt_timebase = st->time_base;
  dec->max_pixels = std::min<int64_t>(o.max_pixels_per_frame, INT32_MAX);
  dec->thread_count = std::max(0, o.threads);
  dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  AVDictionary* dec_opts = nullptr;
  av_dict_set(&dec_opts, "codec_whitelist", kCodecWhitelist, 0);
  r = avcodec_open2(dec.get(), codec, &dec_opts);
  av_dict_free(&dec_opts);
  if (r < 0) return DataLoss("cannot open the {} decoder: {}", out.codec, error_string(r));

  PacketPtr pkt(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  if (!pkt || !frame) return ResourceExhausted("out of memory allocating packet/frame");
  SwsPtr sws;
  out.frames.resize(out.frame_indices.size());
  size_t next = 0;        // position in frame_indices of the next frame to keep
  int64_t frame_no = 0;   // presentation-order number of the next decoded frame
  int last_error = 0;     // a decode error, reported if the stream then ends early

  // Takes every frame the decoder has ready; true once all selected frames are in.
  auto drain = [&]() -> Result<bool> {
    for (;;) {
      const int rr = avcodec_receive_frame(dec.get(), frame.get());
      if (rr == AVERROR(EAGAIN) || rr == AVERROR_EOF) return false;
      if (rr < 0) {
        last_error = rr;  // a broken frame: OpenCV skips it too
        return false;
      }
      while (next < out.frame_indices.size() && out.frame_indices[next] == frame_no) {
        ERIC_RETURN_IF_ERROR(check_frame_size(frame->width, frame->height, o));
        ERIC_RETURN_IF_ERROR(convert_to_rgb(frame.get(), sws, out.frames[next]));
        ++next;
      }
      av_frame_unref(frame.get());
      ++frame_no;
      if (next == out.frame_indices.size()) return true;
    }
  };

  bool done = false;
  while (!done) {
    r = av_read_frame(f, pkt.get());
    if (r == AVERROR_EOF) break;
    if (r < 0) {
      last_error = r;
      break;
    }
    if (pkt->stream_index != c->stream) {
      av_packet_unref(pkt.get());
      continue;
    }
    r = avcodec_send_packet(dec.get(), pkt.get());
    av_packet_unref(pkt.get());
    if (r < 0 && r != AVERROR(EAGAIN)) last_error = r;
    ERIC_ASSIGN_OR_RETURN(done, drain());
  }
  if (!done) {
    avcodec_send_packet(dec.get(), nullptr);  // flush the frames the decoder still holds
    ERIC_ASSIGN_OR_RETURN(done, drain());
  }
  if (!done) {
    if (frame_no == 0) {
      return DataLoss("the {} video stream ({}) yielded no decodable frame{}", out.container, out.codec,
                      last_error ? ": " + error_string(last_error) : std::string());
    }
    return DataLoss(
        "the {} video stream ({}) ended after {} decodable frames, but its header announces {} and frame {} was "
        "selected (truncated or broken stream{})",
        out.container, out.codec, frame_no, out.total_frames, out.frame_indices[next],
        last_error ? ": " + error_string(last_error) : std::string());
  }
  // Frames keep the size of the frame they came from; a size change mid-stream is refused.
  for (const RgbImage& img : out.frames) {
    if (img.width != out.frames.front().width || img.height != out.frames.front().height) {
      return Unimplemented("video changes frame size mid-stream ({}x{} then {}x{})", out.frames.front().width,
                           out.frames.front().height, img.width, img.height);
    }
  }
  out.width = out.frames.front().width;
  out.height = out.frames.front().height;
  return out;
}

}  // namespace eric::media
