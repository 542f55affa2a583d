#include "media/ffmpeg_util.h"

#include <algorithm>
#include <cstring>
#include <mutex>

namespace eric::media::ffmpeg {

namespace {

constexpr int kIoBufferSize = 64 * 1024;

int read_packet(void* opaque, uint8_t* buf, int buf_size) {
  auto* in = static_cast<MemoryInput*>(opaque);
  const int64_t left = in->size - in->pos;
  if (left <= 0) return AVERROR_EOF;
  const int n = static_cast<int>(std::min<int64_t>(left, buf_size));
  std::memcpy(buf, in->data + in->pos, static_cast<size_t>(n));
  in->pos += n;
  return n;
}

int64_t seek(void* opaque, int64_t offset, int whence) {
  auto* in = static_cast<MemoryInput*>(opaque);
  if (whence & AVSEEK_SIZE) return in->size;
  int64_t target = 0;
  switch (whence & ~AVSEEK_FORCE) {
    case SEEK_SET: target = offset; break;
    case SEEK_CUR: target = in->pos + offset; break;
    case SEEK_END: target = in->size + offset; break;
    default: return AVERROR(EINVAL);
  }
  if (target < 0 || target > in->size) return AVERROR(EINVAL);
  in->pos = target;
  return target;
}

}  // namespace

void IoContextDeleter::operator()(AVIOContext* p) const {
  if (p == nullptr) return;
  av_freep(&p->buffer);  // FFmpeg may have replaced the buffer we gave it
  avio_context_free(&p);
}

Result<IoContextPtr> make_memory_io(MemoryInput* input) {
  auto* buffer = static_cast<uint8_t*>(av_malloc(kIoBufferSize));
  if (buffer == nullptr) return ResourceExhausted("out of memory allocating a {}-byte I/O buffer", kIoBufferSize);
  AVIOContext* io = avio_alloc_context(buffer, kIoBufferSize, /*write_flag=*/0, input, read_packet, nullptr, seek);
  if (io == nullptr) {
    av_free(buffer);
    return ResourceExhausted("out of memory allocating an AVIOContext");
  }
  io->seekable = AVIO_SEEKABLE_NORMAL;
  return IoContextPtr(io);
}

std::string error_string(int averror) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(averror, buf, sizeof(buf));
  return buf;
}

void quiet_logging_once() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_level(AV_LOG_QUIET); });
}

}  // namespace eric::media::ffmpeg
