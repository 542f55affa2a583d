#include "engine/zmq_transport.h"

#include <zmq_addon.hpp>

#include <memory>

namespace eric::engine {

namespace {

// ZeroMQ calls this (possibly on its I/O thread) once it no longer needs the
// payload bytes; `hint` is the heap copy of the Tensor keeping them alive.
void release_tensor(void* /*data*/, void* hint) { delete static_cast<Tensor*>(hint); }

Status send_part(zmq::socket_t& socket, zmq::message_t& part, bool more) {
  try {
    auto sent = socket.send(part, more ? zmq::send_flags::sndmore : zmq::send_flags::none);
    if (!sent) return Unavailable("ZeroMQ send timed out (peer gone or not reading)");
    return Status::Ok();
  } catch (const zmq::error_t& e) {
    return Unavailable("ZeroMQ send failed: {}", e.what());
  }
}

}  // namespace

Status send_frames(zmq::socket_t& socket, Frames frames, std::string_view routing_id) {
  // Build every part first, so a failure cannot leave a half-sent multipart
  // message (ZeroMQ sends all parts atomically once the last is queued).
  std::vector<zmq::message_t> parts;
  parts.reserve(frames.payloads.size() + 2);
  if (!routing_id.empty()) parts.emplace_back(routing_id.data(), routing_id.size());
  parts.emplace_back(frames.header.data(), frames.header.size());
  for (Tensor& t : frames.payloads) {
    if (!t.is_contiguous()) return Internal("payload {} is not contiguous", t.describe());
    const size_t n = t.nbytes();
    if (n == 0) {
      parts.emplace_back();
      continue;
    }
    auto* keep = new Tensor(std::move(t));
    // zmq takes a non-const pointer but never writes through it.
    void* data = const_cast<void*>(keep->raw_data());
    parts.emplace_back(data, n, &release_tensor, keep);
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    ERIC_RETURN_IF_ERROR(send_part(socket, parts[i], i + 1 < parts.size()));
  }
  return Status::Ok();
}

Status send_message(zmq::socket_t& socket, const Message& message, std::string_view routing_id) {
  ERIC_ASSIGN_OR_RETURN(Frames frames, encode_message(message));
  return send_frames(socket, std::move(frames), routing_id);
}

std::vector<Tensor> frames_to_payloads(std::vector<zmq::message_t>& frames, size_t first) {
  std::vector<Tensor> payloads;
  for (size_t i = first; i < frames.size(); ++i) {
    auto msg = std::make_shared<zmq::message_t>(std::move(frames[i]));
    const size_t n = msg->size();
    void* data = msg->data();
    auto storage = Storage::borrow(data, n, std::shared_ptr<const void>(msg, msg.get()));
    auto t = Tensor::from_storage(std::move(storage), 0, DType::kU8, Shape{static_cast<int64_t>(n)});
    ERIC_CHECK(t.ok(), "wrapping a {}-byte frame: {}", n, t.status().to_string());
    payloads.push_back(std::move(t).value());
  }
  return payloads;
}

Result<std::optional<ReceivedMessage>> receive_message(zmq::socket_t& socket, bool with_routing_id,
                                                      std::chrono::milliseconds timeout) {
  std::vector<zmq::message_t> frames;
  try {
    zmq::pollitem_t item{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, timeout);
    if ((item.revents & ZMQ_POLLIN) == 0) return std::optional<ReceivedMessage>();
    // All parts of a multipart message arrive together, so this never blocks.
    auto n = zmq::recv_multipart(socket, std::back_inserter(frames), zmq::recv_flags::dontwait);
    if (!n) return std::optional<ReceivedMessage>();
  } catch (const zmq::error_t& e) {
    return Unavailable("ZeroMQ receive failed: {}", e.what());
  }
  ReceivedMessage out;
  size_t header_index = 0;
  if (with_routing_id) {
    if (frames.empty()) return std::optional<ReceivedMessage>();
    out.routing_id = frames[0].to_string();
    header_index = 1;
  }
  if (frames.size() <= header_index) {
    out.status = DataLoss("message has no header frame");
    return std::optional<ReceivedMessage>(std::move(out));
  }
  std::string_view header(static_cast<const char*>(frames[header_index].data()), frames[header_index].size());
  out.request_id = peek_request_id(header);
  auto payloads = frames_to_payloads(frames, header_index + 1);
  auto decoded = decode_message(header, std::move(payloads));
  if (decoded.ok()) {
    out.message = std::move(decoded).value();
  } else {
    out.status = decoded.status();
  }
  return std::optional<ReceivedMessage>(std::move(out));
}

}  // namespace eric::engine
