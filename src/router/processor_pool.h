// Preprocessing off the I/O threads: a fixed pool of threads that load each
// item's media, decode it (an image, or a video's selected frames) and run
// the model's processor. The items of one
// request run in parallel; the request's callback fires once, on a pool
// thread, with every processed item in request order or with the first
// failure, which names the item.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/thread_pool.h"
#include "media/image.h"
#include "media/video_decoder.h"
#include "models/model.h"
#include "router/api_request.h"

namespace eric::router {

// Fetches and decodes one URL into RGB (MediaLoader + decode_image in the
// server; tests pass their own).
using ImageLoader = std::function<Result<media::RgbImage>(const std::string& url)>;

// Fetches a video URL and decodes the frames `selection` picks
// (media::load_and_decode_video in the server).
using VideoLoader =
    std::function<Result<media::DecodedVideo>(const std::string& url, const media::FrameSelection& selection)>;

struct PreprocessedRequest {
  std::vector<models::ProcessedItem> items;  // in request order
  std::vector<double> seconds;               // per item: load + decode + process
};

class ProcessorPool {
 public:
  using Done = std::function<void(Result<PreprocessedRequest>)>;

  // `processor` must outlive the pool. Without a `video_loader`, video items
  // fail as unsupported.
  ProcessorPool(int workers, ImageLoader loader, const models::ModalityProcessor* processor,
                VideoLoader video_loader = {});
  ~ProcessorPool();  // finishes queued work first

  void process(std::shared_ptr<const EmbeddingsRequest> request, Done done);

  // Runs other CPU work of the request path (e.g. encoding large answers)
  // on the same threads, off the I/O and engine-client threads.
  void post(std::function<void()> task);

  // Items queued or running.
  int64_t pending_items() const;

 private:
  Result<models::ProcessedItem> process_one(const EmbeddingItemRequest& item) const;
  Result<models::ProcessedItem> process_video(const EmbeddingItemRequest& item, const models::ProcessorOptions& options) const;

  ImageLoader loader_;
  VideoLoader video_loader_;
  const models::ModalityProcessor* processor_;
  std::shared_ptr<std::atomic<int64_t>> pending_;
  ThreadPool pool_;  // last: destroyed (joined) first
};

}  // namespace eric::router
