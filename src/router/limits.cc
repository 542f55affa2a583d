#include "router/limits.h"

namespace eric::router {

Status validate_limits(const RequestLimits& l) {
  if (l.max_body_bytes < 1) return InvalidArgument("--max-body-bytes must be at least 1");
  // Below ~1 KiB no real client's request line and Host fit.
  if (l.max_header_bytes < 1024) {
    return InvalidArgument("--max-header-bytes must be at least 1024, got {}", l.max_header_bytes);
  }
  if (l.max_header_bytes > (64u << 20)) {
    return InvalidArgument("--max-header-bytes must be at most 64 MiB, got {}", l.max_header_bytes);
  }
  if (l.max_connections < 1) return InvalidArgument("--max-connections must be at least 1");
  if (l.max_items_per_request < 1) return InvalidArgument("--max-items-per-request must be at least 1");
  if (l.max_image_pixels < 1) return InvalidArgument("--max-image-pixels must be at least 1, got {}", l.max_image_pixels);
  if (l.max_video_frames < 1) return InvalidArgument("--max-video-frames must be at least 1, got {}", l.max_video_frames);
  if (!(l.max_audio_seconds > 0)) return InvalidArgument("--max-audio-seconds must be positive, got {}", l.max_audio_seconds);
  if (l.max_download_bytes < 1) {
    return InvalidArgument("--max-download-bytes must be at least 1, got {}", l.max_download_bytes);
  }
  if (l.download_timeout_ms < 1) {
    return InvalidArgument("--download-timeout-ms must be at least 1, got {}", l.download_timeout_ms);
  }
  if (l.download_connect_timeout_ms < 1) {
    return InvalidArgument("--download-connect-timeout-ms must be at least 1, got {}", l.download_connect_timeout_ms);
  }
  if (l.max_queued_requests < 1) {
    return InvalidArgument("--max-queued-requests must be at least 1, got {}", l.max_queued_requests);
  }
  // A request bigger than the whole queue could never be admitted: it would
  // get 429 forever instead of a clear 400.
  if (l.max_queued_items < static_cast<int64_t>(l.max_items_per_request)) {
    return InvalidArgument("--max-queued-items ({}) must be at least --max-items-per-request ({})", l.max_queued_items,
                           l.max_items_per_request);
  }
  if (l.retry_after_seconds < 1) {
    return InvalidArgument("--retry-after-seconds must be at least 1, got {}", l.retry_after_seconds);
  }
  return Status::Ok();
}

}  // namespace eric::router
