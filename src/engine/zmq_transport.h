// Protocol messages over ZeroMQ sockets: one multipart message per protocol
// message, [routing id,] header, payload frames. Payloads are sent zero-copy
// (each frame keeps its Tensor alive until ZeroMQ is done with it) and
// received as tensors that borrow the frame memory (the zmq::message_t stays
// alive as long as any tensor viewing it).
#pragma once

#include <zmq.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/protocol.h"

namespace eric::engine {

// Sends `frames` as one multipart message, prefixed by `routing_id` when it is
// not empty (a ROUTER socket addressing a peer). Blocks at most as long as the
// socket's send timeout (ZMQ_SNDTIMEO); a full queue past it is Unavailable.
Status send_frames(zmq::socket_t& socket, Frames frames, std::string_view routing_id = {});
Status send_message(zmq::socket_t& socket, const Message& message, std::string_view routing_id = {});

struct ReceivedMessage {
  std::string routing_id;              // set on ROUTER sockets
  Status status;                       // decode failure (the message is then empty)
  std::optional<uint64_t> request_id;  // best effort, also when decoding failed
  Message message;
};

// Waits up to `timeout` for one multipart message. Returns nullopt when none
// arrived in time, an error when the socket failed; a message that arrived
// but does not decode comes back with `status` set (so the engine can answer
// it). `with_routing_id`: the first frame is the peer's routing id (ROUTER).
Result<std::optional<ReceivedMessage>> receive_message(zmq::socket_t& socket, bool with_routing_id,
                                                      std::chrono::milliseconds timeout);

// The payload frames of a received multipart message as 1-D uint8 tensors that
// borrow the frames' memory (exposed for tests and for the worker path).
std::vector<Tensor> frames_to_payloads(std::vector<zmq::message_t>& frames, size_t first);

}  // namespace eric::engine
