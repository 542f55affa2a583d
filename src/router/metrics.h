// Prometheus metrics of the router (prometheus-cpp core, text exposition on
// GET /metrics). Everything is thread-safe.
//
// The router sees requests, items, preprocessing and the engine round trip;
// the engine's answers add the split of its time into queueing and encoding
// and the size of the batch each item ran in (EncodeResponse).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace eric::router {

class Metrics {
 public:
  Metrics();

  void count_response(int http_status);
  void count_items(int64_t n);
  void observe_request_items(int64_t n);       // items per accepted request
  void observe_preprocess_seconds(double s);   // per item: load + decode + processor
  void observe_engine_seconds(double s);       // per request: engine queue + encode, as seen by the router
  void observe_request_seconds(double s);      // per request: arrival to answer
  void observe_engine_queue_seconds(double s);  // per request: waiting in the engine (before/between its batches)
  void observe_engine_encode_seconds(double s); // per request: run time of the batches that carried its items
  void observe_batch_size(int64_t items);       // per item: size of the engine batch it ran in
  void count_deadline_exceeded();               // requests answered 504 by the router's deadline
  void set_queue_length(int64_t requests);     // requests accepted and not yet answered
  void set_engine_up(bool up);

  // Prometheus text format.
  std::string serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* responses_;
  prometheus::Counter* items_;
  prometheus::Histogram* request_items_;
  prometheus::Histogram* preprocess_seconds_;
  prometheus::Histogram* engine_seconds_;
  prometheus::Histogram* request_seconds_;
  prometheus::Histogram* engine_queue_seconds_;
  prometheus::Histogram* engine_encode_seconds_;
  prometheus::Histogram* batch_size_;
  prometheus::Counter* deadline_exceeded_;
  prometheus::Gauge* queue_length_;
  prometheus::Gauge* engine_up_;
};

}  // namespace eric::router
