#include "router/processor_pool.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>

namespace eric::router {

namespace {

// Collects the per-item results of one request and fires its callback once.
struct RequestState {
  std::shared_ptr<const EmbeddingsRequest> request;
  ProcessorPool::Done done;
  std::mutex mu;
  std::vector<std::optional<models::ProcessedItem>> items;
  std::vector<double> seconds;
  std::optional<Status> failure;  // the failure of the lowest-index failed item
  size_t failed_index = 0;
  std::atomic<size_t> remaining{0};

  void finish_item(size_t index, Result<models::ProcessedItem> result, double s) {
    {
      std::lock_guard<std::mutex> lock(mu);
      seconds[index] = s;
      if (result.ok()) {
        items[index] = std::move(result).value();
      } else if (!failure || index < failed_index) {
        // Report the first failing item in request order, so answers are stable.
        failure = result.status();
        failed_index = index;
      }
    }
    if (remaining.fetch_sub(1) != 1) return;
    if (failure) return done(*failure);
    PreprocessedRequest out;
    out.items.reserve(items.size());
    for (auto& item : items) out.items.push_back(std::move(*item));
    out.seconds = std::move(seconds);
    done(std::move(out));
  }
};

}  // namespace

ProcessorPool::ProcessorPool(int workers, ImageLoader loader, const models::ModalityProcessor* processor,
                             VideoLoader video_loader)
    : loader_(std::move(loader)),
      video_loader_(std::move(video_loader)),
      processor_(processor),
      pending_(std::make_shared<std::atomic<int64_t>>(0)),
      // ThreadPool(n) runs n-1 workers (the caller of parallel_for is the n-th).
      pool_(std::max(1, workers) + 1) {}

ProcessorPool::~ProcessorPool() = default;

void ProcessorPool::post(std::function<void()> task) { pool_.submit(std::move(task)); }

int64_t ProcessorPool::pending_items() const { return pending_->load(); }

Result<models::ProcessedItem> ProcessorPool::process_one(const EmbeddingItemRequest& item) const {
  models::ProcessorOptions options;
  options.min_pixels = item.min_pixels;
  options.max_pixels = item.max_pixels;
  if (item.modality == "video") return process_video(item, options);
  if (item.modality != "image") {
    return Unimplemented("item '{}': modality '{}' is not supported by this server's preprocessing yet", item.id,
                         item.modality);
  }
  auto image = loader_(item.url);
  if (!image.ok()) return image.status().with_context(fmt::format("item '{}': cannot load '{}'", item.id, item.url));
  auto processed = processor_->process_image(*image, options);
  if (!processed.ok()) return processed.status().with_context(fmt::format("item '{}': preprocessing failed", item.id));
  return processed;
}

Result<models::ProcessedItem> ProcessorPool::process_video(const EmbeddingItemRequest& item,
                                                           const models::ProcessorOptions& options) const {
  if (!video_loader_) return Unimplemented("item '{}': this server does not decode videos", item.id);
  // The frames to decode are chosen from the container's frame count before
  // any decoding work is spent.
  models::VideoSamplingOptions sampling;
  sampling.max_num_frames = item.max_num_frames;
  sampling.fps = item.fps;
  sampling.min_frames = item.min_frames;
  sampling.max_frames = item.max_frames;
  auto selection = processor_->video_frame_selection(sampling);
  if (!selection.ok()) return selection.status().with_context(fmt::format("item '{}'", item.id));
  auto video = video_loader_(item.url, *selection);
  if (!video.ok()) return video.status().with_context(fmt::format("item '{}': cannot load '{}'", item.id, item.url));
  auto processed = processor_->process_video(video->frames, options);
  if (!processed.ok()) return processed.status().with_context(fmt::format("item '{}': preprocessing failed", item.id));
  return processed;
}

void ProcessorPool::process(std::shared_ptr<const EmbeddingsRequest> request, Done done) {
  auto state = std::make_shared<RequestState>();
  size_t n = request->items.size();
  state->request = request;
  state->done = std::move(done);
  state->items.resize(n);
  state->seconds.assign(n, 0.0);
  state->remaining = n;
  pending_->fetch_add(static_cast<int64_t>(n));
  for (size_t i = 0; i < n; ++i) {
    pool_.submit([this, state, i, pending = pending_] {
      auto start = std::chrono::steady_clock::now();
      Result<models::ProcessedItem> result = process_one(state->request->items[i]);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      pending->fetch_sub(1);
      state->finish_item(i, std::move(result), s);
    });
  }
}

}  // namespace eric::router
