#include "router/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace eric::router {

namespace {
using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// 100 µs .. ~100 s, doubling: covers a cached small image and a long video.
Histogram::BucketBoundaries latency_buckets() {
  Histogram::BucketBoundaries b;
  for (double v = 1e-4; v < 200; v *= 2) b.push_back(v);
  return b;
}
}  // namespace

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  responses_ = &BuildCounter().Name("eric_http_responses_total").Help("HTTP responses by status code").Register(*registry_);
  items_ = &BuildCounter()
                .Name("eric_embedding_items_total")
                .Help("Items received in valid /embeddings requests")
                .Register(*registry_)
                .Add({});
  request_items_ = &BuildHistogram()
                        .Name("eric_request_items")
                        .Help("Items per accepted /embeddings request")
                        .Register(*registry_)
                        .Add({}, Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256});
  preprocess_seconds_ = &BuildHistogram()
                             .Name("eric_preprocess_seconds")
                             .Help("Per-item preprocessing time: media load, decode, model processor")
                             .Register(*registry_)
                             .Add({}, latency_buckets());
  engine_seconds_ = &BuildHistogram()
                         .Name("eric_engine_seconds")
                         .Help("Per-request engine round trip (queueing plus encoding) seen by the router")
                         .Register(*registry_)
                         .Add({}, latency_buckets());
  request_seconds_ = &BuildHistogram()
                          .Name("eric_request_seconds")
                          .Help("Per-request time from arrival to answer")
                          .Register(*registry_)
                          .Add({}, latency_buckets());
  engine_queue_seconds_ = &BuildHistogram()
                               .Name("eric_engine_queue_seconds")
                               .Help("Per-request time in the engine spent waiting for a batch (before and between "
                                     "the batches of its items)")
                               .Register(*registry_)
                               .Add({}, latency_buckets());
  engine_encode_seconds_ = &BuildHistogram()
                                .Name("eric_engine_encode_seconds")
                                .Help("Per-request run time of the engine batches that carried its items")
                                .Register(*registry_)
                                .Add({}, latency_buckets());
  batch_size_ = &BuildHistogram()
                     .Name("eric_batch_size")
                     .Help("Items in the engine batch, observed once per item that ran in it")
                     .Register(*registry_)
                     .Add({}, Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256});
  deadline_exceeded_ = &BuildCounter()
                            .Name("eric_deadline_exceeded_total")
                            .Help("Requests answered 504 because their deadline (--request-timeout) passed")
                            .Register(*registry_)
                            .Add({});
  queue_length_ = &BuildGauge()
                       .Name("eric_queue_length")
                       .Help("Requests accepted by the router and not yet answered")
                       .Register(*registry_)
                       .Add({});
  engine_up_ = &BuildGauge()
                    .Name("eric_engine_up")
                    .Help("1 while the engine process is alive and ready")
                    .Register(*registry_)
                    .Add({});
}

void Metrics::count_response(int http_status) { responses_->Add({{"code", std::to_string(http_status)}}).Increment(); }
void Metrics::count_items(int64_t n) { items_->Increment(static_cast<double>(n)); }
void Metrics::observe_request_items(int64_t n) { request_items_->Observe(static_cast<double>(n)); }
void Metrics::observe_preprocess_seconds(double s) { preprocess_seconds_->Observe(s); }
void Metrics::observe_engine_seconds(double s) { engine_seconds_->Observe(s); }
void Metrics::observe_request_seconds(double s) { request_seconds_->Observe(s); }
void Metrics::observe_engine_queue_seconds(double s) { engine_queue_seconds_->Observe(s); }
void Metrics::observe_engine_encode_seconds(double s) { engine_encode_seconds_->Observe(s); }
void Metrics::observe_batch_size(int64_t items) { batch_size_->Observe(static_cast<double>(items)); }
void Metrics::count_deadline_exceeded() { deadline_exceeded_->Increment(); }
void Metrics::set_queue_length(int64_t requests) { queue_length_->Set(static_cast<double>(requests)); }
void Metrics::set_engine_up(bool up) { engine_up_->Set(up ? 1.0 : 0.0); }

std::string Metrics::serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace eric::router
