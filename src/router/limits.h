// Every bound the server puts on what a client can make it do, in one place:
// `eric serve` sets them from its options, /info reports them, and each part
// of the request path enforces its own. Errors name the limit's option and
// value, so a client (or operator) knows which knob was hit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/status.h"

namespace eric::router {

struct RequestLimits {
  // HTTP (enforced by HttpServer before the handler runs).
  size_t max_body_bytes = 256u << 20;   // 413; --max-body-bytes
  size_t max_header_bytes = 16u << 10;  // 431; --max-header-bytes (request line + fields)
  size_t max_connections = 1024;        // open connections; one more gets 503; --max-connections

  // Request schema (parse_embeddings_request).
  size_t max_items_per_request = 256;   // 400; --max-items-per-request

  // Per item, after loading (enforced while decoding/preprocessing).
  int64_t max_image_pixels = 50'000'000;  // decoded width*height; 413; --max-image-pixels
  int64_t max_video_frames = 768;         // frames decoded from one video; --max-video-frames
  double max_audio_seconds = 600;         // length of one audio clip; --max-audio-seconds

  // Remote media (MediaLoader, http(s) and data: URIs).
  int64_t max_download_bytes = 256ll << 20;  // 413; --max-download-bytes
  int download_timeout_ms = 60'000;          // 504; --download-timeout-ms (whole transfer, redirects included)
  int download_connect_timeout_ms = 10'000;  // 504; --download-connect-timeout-ms

  // Admission: work accepted and not yet answered. Past either bound new
  // /embeddings requests get 429 with Retry-After instead of queueing.
  int64_t max_queued_requests = 512;    // --max-queued-requests
  int64_t max_queued_items = 4096;      // --max-queued-items
  int retry_after_seconds = 1;          // the Retry-After header of a 429
};

// Refuses limits that cannot work (zero or negative bounds, a request limit
// above the queue bound, ...), naming the option.
Status validate_limits(const RequestLimits& limits);

}  // namespace eric::router
