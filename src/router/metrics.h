// Prometheus metrics of the router (prometheus-cpp core, text exposition on
// GET /metrics). Everything is thread-safe.
//
// The router sees requests, items, preprocessing and the engine round trip;
// the split of that round trip into queueing and encoding, and the engine's
// batch sizes, are only known inside the engine and are not carried by the
// protocol, so they are not exported here.
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
  prometheus::Gauge* queue_length_;
  prometheus::Gauge* engine_up_;
};

}  // namespace eric::router
