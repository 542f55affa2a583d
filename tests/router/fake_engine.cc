#include "fake_engine.h"

#include <variant>

#include "engine/zmq_transport.h"

namespace eric::router::testing {

FakeEngine::FakeEngine(const std::string& run_dir) : endpoint_("ipc://" + run_dir + "/engine.sock") {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind(endpoint_);
  thread_ = std::thread([this] { loop(); });
}

FakeEngine::~FakeEngine() {
  stop_ = true;
  thread_.join();
}

engine::ItemResult FakeEngine::embed(const engine::EncodeItem& item) {
  double sum = 0;
  for (const auto& [name, t] : item.tensors) {
    if (name != "pixel_values") continue;
    auto f = t.to(DType::kF32);
    for (int64_t i = 0; i < f->numel(); ++i) sum += f->data<float>()[i];
  }
  std::vector<float> values;
  for (int64_t r = 0; r < item.num_tokens; ++r) {
    values.push_back(static_cast<float>(sum));
    values.push_back(static_cast<float>(r));
  }
  engine::ItemResult out;
  out.item_id = item.item_id;
  if (item.return_embedding) out.embedding = *Tensor::from_vector(values, Shape{item.num_tokens, 2});
  return out;
}

void FakeEngine::loop() {
  while (!stop_) {
    auto received = engine::receive_message(socket_, /*with_routing_id=*/true, std::chrono::milliseconds(20));
    if (!received.ok() || !received->has_value()) continue;
    engine::ReceivedMessage msg = std::move(**received);
    if (!msg.status.ok()) continue;
    if (auto* q = std::get_if<engine::StatusQuery>(&msg.message)) {
      engine::StatusReply reply;
      reply.request_id = q->request_id;
      reply.ready = ready;
      reply.workers_alive = ready ? 1 : 0;
      reply.workers_total = 1;
      reply.detail = ready ? "" : "worker 0 died";
      (void)engine::send_message(socket_, reply, msg.routing_id);
    } else if (auto* r = std::get_if<engine::EncodeRequest>(&msg.message)) {
      encodes_received++;
      if (!answer_encodes) continue;
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
      engine::EncodeResponse response;
      response.request_id = r->request_id;
      if (fail_code != 0) {
        response.code = static_cast<ErrorCode>(fail_code.load());
        response.error_message = "fake engine failure";
      } else {
        for (const auto& item : r->items) response.items.push_back(embed(item));
      }
      (void)engine::send_message(socket_, response, msg.routing_id);
    } else if (std::holds_alternative<engine::Shutdown>(msg.message)) {
      shutdowns_received++;
    }
  }
}

}  // namespace eric::router::testing
