// Round trips of every protocol message, and rejection of malformed input.
#include "engine/protocol.h"

#include <gtest/gtest.h>
#include <msgpack.hpp>

namespace eric::engine {
namespace {

Tensor f32(std::vector<float> v, Shape s) { return Tensor::from_vector<float>(v, std::move(s)).value(); }

EncodeRequest sample_request() {
  EncodeRequest req;
  req.request_id = 42;
  req.deadline_unix_ms = 1234567;
  EncodeItem a;
  a.item_id = "img-0";
  a.modality = "image";
  a.model_id = "Qwen/Qwen2-VL-2B-Instruct";
  a.num_tokens = 4;
  a.tensors.emplace_back("pixel_values", f32({1, 2, 3, 4, 5, 6}, {2, 3}));
  a.tensors.emplace_back("image_grid_thw", Tensor::from_vector<int64_t>({1, 2, 2}, {1, 3}).value());
  a.receiver_sidecar_ranks = {{0, 1}, {2}};
  a.return_embedding = true;
  EncodeItem b;
  b.item_id = "img-1";
  b.modality = "video";
  b.model_id = "m";
  b.num_tokens = 0;
  req.items = {a, b};
  return req;
}

// Simulates the wire: payloads become raw uint8 frames.
std::vector<Tensor> as_raw_frames(const std::vector<Tensor>& payloads) {
  std::vector<Tensor> raw;
  for (const Tensor& t : payloads) {
    Tensor r = Tensor::empty(DType::kU8, {static_cast<int64_t>(t.nbytes())}).value();
    if (t.nbytes() > 0) std::memcpy(r.mutable_raw_data(), t.raw_data(), t.nbytes());
    raw.push_back(r);
  }
  return raw;
}

Message round_trip(const Message& m, bool raw = true) {
  auto frames = encode_message(m);
  EXPECT_TRUE(frames.ok()) << frames.status().to_string();
  auto payloads = raw ? as_raw_frames(frames->payloads) : frames->payloads;
  auto decoded = decode_message(frames->header, payloads);
  EXPECT_TRUE(decoded.ok()) << decoded.status().to_string();
  return std::move(decoded).value();
}

TEST(ProtocolTest, EncodeRequestRoundTrip) {
  for (bool raw : {true, false}) {
    EncodeRequest in = sample_request();
    Message out = round_trip(in, raw);
    ASSERT_TRUE(std::holds_alternative<EncodeRequest>(out));
    const auto& req = std::get<EncodeRequest>(out);
    EXPECT_EQ(req.request_id, 42u);
    EXPECT_EQ(req.deadline_unix_ms, 1234567);
    ASSERT_EQ(req.items.size(), 2u);
    const EncodeItem& a = req.items[0];
    EXPECT_EQ(a.item_id, "img-0");
    EXPECT_EQ(a.modality, "image");
    EXPECT_EQ(a.model_id, "Qwen/Qwen2-VL-2B-Instruct");
    EXPECT_EQ(a.num_tokens, 4);
    EXPECT_TRUE(a.return_embedding);
    EXPECT_EQ(a.receiver_sidecar_ranks, (std::vector<std::vector<int32_t>>{{0, 1}, {2}}));
    ASSERT_EQ(a.tensors.size(), 2u);
    EXPECT_EQ(a.tensors[0].first, "pixel_values");
    EXPECT_EQ(a.tensors[0].second.dtype(), DType::kF32);
    EXPECT_EQ(a.tensors[0].second.shape(), (Shape{2, 3}));
    EXPECT_EQ(a.tensors[0].second.data<float>()[5], 6.0f);
    EXPECT_EQ(a.tensors[1].first, "image_grid_thw");
    EXPECT_EQ(a.tensors[1].second.dtype(), DType::kI64);
    EXPECT_EQ(a.tensors[1].second.data<int64_t>()[2], 2);
    EXPECT_EQ(req.items[1].modality, "video");
    EXPECT_FALSE(req.items[1].return_embedding);
    EXPECT_TRUE(req.items[1].tensors.empty());
  }
}

TEST(ProtocolTest, NonContiguousTensorIsSentContiguous) {
  EncodeRequest req;
  EncodeItem item;
  item.item_id = "x";
  item.modality = "image";
  item.model_id = "m";
  Tensor t = f32({1, 2, 3, 4, 5, 6}, {2, 3}).transpose(0, 1).value();  // [3, 2] strided
  item.tensors.emplace_back("pixel_values", t);
  req.items.push_back(item);
  Message out = round_trip(req);
  const Tensor& got = std::get<EncodeRequest>(out).items[0].tensors[0].second;
  EXPECT_EQ(got.shape(), (Shape{3, 2}));
  std::vector<float> v(got.data<float>(), got.data<float>() + 6);
  EXPECT_EQ(v, (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(ProtocolTest, EncodeResponseRoundTrip) {
  EncodeResponse in;
  in.request_id = 7;
  in.items.push_back({"a", f32({1.5f, -2.5f}, {1, 2})});
  in.items.push_back({"b", Tensor()});  // not returned
  Message out = round_trip(in);
  const auto& r = std::get<EncodeResponse>(out);
  EXPECT_EQ(r.request_id, 7u);
  EXPECT_EQ(r.code, ErrorCode::kOk);
  ASSERT_EQ(r.items.size(), 2u);
  EXPECT_EQ(r.items[0].item_id, "a");
  EXPECT_EQ(r.items[0].embedding.data<float>()[1], -2.5f);
  EXPECT_FALSE(r.items[1].embedding.defined());

  EncodeResponse err;
  err.request_id = 8;
  err.code = ErrorCode::kUnavailable;
  err.error_message = "worker 1 died";
  Message err_out = round_trip(err);
  const auto& e = std::get<EncodeResponse>(err_out);
  EXPECT_EQ(e.code, ErrorCode::kUnavailable);
  EXPECT_EQ(e.error_message, "worker 1 died");
  EXPECT_FALSE(e.restart_workers);
}

// A worker whose set cannot go on says so with its batch's answer (failed,
// or done just before the loss was found).
TEST(ProtocolTest, RestartWorkersRoundTrip) {
  EncodeResponse lost;
  lost.request_id = 9;
  lost.code = ErrorCode::kUnavailable;
  lost.error_message = "CUDA stream sync: cudaErrorIllegalAddress";
  lost.restart_workers = true;
  const Message lost_out = round_trip(lost);
  const auto& r = std::get<EncodeResponse>(lost_out);
  EXPECT_TRUE(r.restart_workers);
  EXPECT_EQ(r.code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.error_message, lost.error_message);

  EncodeResponse done_then_lost;
  done_then_lost.request_id = 10;
  done_then_lost.items.push_back({"a", f32({1.0f}, {1, 1})});
  done_then_lost.restart_workers = true;
  const Message done_out = round_trip(done_then_lost);
  const auto& d = std::get<EncodeResponse>(done_out);
  EXPECT_TRUE(d.restart_workers);
  EXPECT_EQ(d.code, ErrorCode::kOk);
  ASSERT_EQ(d.items.size(), 1u);
}

TEST(ProtocolTest, StatusAndShutdownRoundTrip) {
  EXPECT_EQ(std::get<StatusQuery>(round_trip(StatusQuery{9})).request_id, 9u);
  EXPECT_EQ(std::get<Shutdown>(round_trip(Shutdown{10})).request_id, 10u);
  StatusReply s{11, true, 2, 3, 17, "worker 2 restarting"};
  auto r = std::get<StatusReply>(round_trip(s));
  EXPECT_EQ(r.request_id, 11u);
  EXPECT_TRUE(r.ready);
  EXPECT_EQ(r.workers_alive, 2);
  EXPECT_EQ(r.workers_total, 3);
  EXPECT_EQ(r.queue_length, 17);
  EXPECT_EQ(r.detail, "worker 2 restarting");
}

// ---- malformed input ---------------------------------------------------

std::string header_of(const Message& m) { return encode_message(m).value().header; }

void expect_error(const Result<Message>& r, std::string_view needle) {
  ASSERT_FALSE(r.ok()) << "decoded although it should fail with '" << needle << "'";
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().to_string();
}

TEST(ProtocolTest, RejectsGarbageAndTrailingBytes) {
  expect_error(decode_message("", {}), "empty");
  expect_error(decode_message("\xc1", {}), "malformed msgpack");
  expect_error(decode_message("\x93\x01\x02", {}), "malformed msgpack");  // truncated array
  expect_error(decode_message("\x01", {}), "not a map");
  std::string h = header_of(StatusQuery{1}) + "x";
  expect_error(decode_message(h, {}), "trailing");
  // An array announcing 2^32-1 elements in 5 bytes must fail without allocating.
  expect_error(decode_message(std::string("\xdd\xff\xff\xff\xff", 5), {}), "malformed msgpack");
}

std::string make_header(const std::function<void(msgpack::packer<msgpack::sbuffer>&)>& fill) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> p(buf);
  fill(p);
  return std::string(buf.data(), buf.size());
}

TEST(ProtocolTest, RejectsUnknownVersionAndType) {
  auto h = make_header([](auto& p) {
    p.pack_map(3);
    p.pack("v"); p.pack(kProtocolVersion + 1);
    p.pack("type"); p.pack("status_query");
    p.pack("request_id"); p.pack(1);
  });
  expect_error(decode_message(h, {}), fmt::format("protocol version {} is not supported", kProtocolVersion + 1));
  h = make_header([](auto& p) {
    p.pack_map(3);
    p.pack("v"); p.pack(kProtocolVersion);
    p.pack("type"); p.pack("launch_missiles");
    p.pack("request_id"); p.pack(1);
  });
  expect_error(decode_message(h, {}), "unknown message type 'launch_missiles'");
  h = make_header([](auto& p) {
    p.pack_map(2);
    p.pack("v"); p.pack(kProtocolVersion);
    p.pack("type"); p.pack("status_query");
  });
  expect_error(decode_message(h, {}), "no field 'request_id'");
  EXPECT_FALSE(peek_request_id(h).has_value());
  h = make_header([](auto& p) {
    p.pack_map(3);
    p.pack("v"); p.pack(kProtocolVersion);
    p.pack("type"); p.pack("status_reply");
    p.pack("request_id"); p.pack(5);
  });
  expect_error(decode_message(h, {}), "no field 'ready'");
  EXPECT_EQ(peek_request_id(h), 5u);
}

TEST(ProtocolTest, RejectsPayloadCountMismatch) {
  auto frames = encode_message(sample_request()).value();
  auto raw = as_raw_frames(frames.payloads);
  auto fewer = raw;
  fewer.pop_back();
  expect_error(decode_message(frames.header, fewer), "only 1 were sent");
  auto more = raw;
  more.push_back(raw[0]);
  expect_error(decode_message(frames.header, more), "describes 2 tensors but 3 payload frames");
  expect_error(decode_message(header_of(StatusQuery{1}), raw), "describes 0 tensors but 2");
}

TEST(ProtocolTest, RejectsByteSizeDtypeAndShapeMismatch) {
  auto frames = encode_message(sample_request()).value();
  auto raw = as_raw_frames(frames.payloads);
  raw[0] = Tensor::zeros(DType::kU8, {23}).value();  // 24 bytes expected
  expect_error(decode_message(frames.header, raw), "(24 bytes) but the payload frame has 23 bytes");
  // A typed payload must match the header exactly.
  auto typed = frames.payloads;
  typed[0] = f32({1, 2, 3, 4, 5, 6}, {3, 2});
  expect_error(decode_message(frames.header, typed), "but the header says float32[2, 3]");
  typed[0] = Tensor::zeros(DType::kI32, {2, 3}).value();
  expect_error(decode_message(frames.header, typed), "but the header says float32");
}

TEST(ProtocolTest, RejectsBadTensorDescriptors) {
  auto item_with_tensor = [](std::string dtype, std::vector<int64_t> shape) {
    return make_header([&](auto& p) {
      p.pack_map(5);
      p.pack("v"); p.pack(kProtocolVersion);
      p.pack("type"); p.pack("encode_request");
      p.pack("request_id"); p.pack(3);
      p.pack("deadline_unix_ms"); p.pack(0);
      p.pack("items"); p.pack_array(1);
      p.pack_map(7);
      p.pack("id"); p.pack("it");
      p.pack("modality"); p.pack("image");
      p.pack("model_id"); p.pack("m");
      p.pack("num_tokens"); p.pack(1);
      p.pack("return_embedding"); p.pack(false);
      p.pack("receiver_sidecar_ranks"); p.pack_array(0);
      p.pack("tensors"); p.pack_array(1);
      p.pack_map(3);
      p.pack("name"); p.pack("t");
      p.pack("dtype"); p.pack(dtype);
      p.pack("shape"); p.pack(shape);
    });
  };
  auto one_byte = std::vector<Tensor>{Tensor::zeros(DType::kU8, {1}).value()};
  expect_error(decode_message(item_with_tensor("F99", {1}), one_byte), "unknown dtype 'F99'");
  expect_error(decode_message(item_with_tensor("U8", {-1}), one_byte), "negative dimension");
  expect_error(decode_message(item_with_tensor("U8", {1 << 30, 1 << 30}), one_byte), "too large");
  expect_error(decode_message(item_with_tensor("U8", {1, 1, 1, 1, 1, 1, 1, 1, 1}), one_byte), "rank 9");
  EXPECT_TRUE(decode_message(item_with_tensor("U8", {1}), one_byte).ok());
}

TEST(ProtocolTest, RejectsWrongFieldTypes) {
  auto h = make_header([](auto& p) {
    p.pack_map(8);
    p.pack("v"); p.pack(kProtocolVersion);
    p.pack("type"); p.pack("status_reply");
    p.pack("request_id"); p.pack(5);
    p.pack("ready"); p.pack(1);  // not a bool
    p.pack("workers_alive"); p.pack(1);
    p.pack("workers_total"); p.pack(1);
    p.pack("queue_length"); p.pack(1);
    p.pack("detail"); p.pack("");
  });
  expect_error(decode_message(h, {}), "ready is not a boolean");
  h = make_header([](auto& p) {
    p.pack_map(6);
    p.pack("v"); p.pack(kProtocolVersion);
    p.pack("type"); p.pack("encode_response");
    p.pack("request_id"); p.pack(5);
    p.pack("code"); p.pack(999);
    p.pack("error_message"); p.pack("");
    p.pack("items"); p.pack_array(0);
  });
  expect_error(decode_message(h, {}), "unknown error code 999");
}

TEST(ProtocolTest, MisalignedRawFramesAreCopiedAligned) {
  EncodeResponse in;
  in.request_id = 1;
  in.items.push_back({"a", f32({1, 2, 3}, {3})});
  auto frames = encode_message(in).value();
  // A uint8 view starting one byte into its storage: misaligned for float32.
  Tensor backing = Tensor::zeros(DType::kU8, {13}).value();
  std::memcpy(static_cast<uint8_t*>(backing.mutable_raw_data()) + 1, frames.payloads[0].raw_data(), 12);
  Tensor view = backing.slice(0, 1, 13).value();
  auto out = decode_message(frames.header, {view});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  const Tensor& e = std::get<EncodeResponse>(*out).items[0].embedding;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(e.raw_data()) % 4, 0u);
  EXPECT_EQ(e.data<float>()[2], 3.0f);
}

TEST(ProtocolTest, EncodeResponseCarriesTimingAndBatchSizes) {
  EncodeResponse in;
  in.request_id = 3;
  in.items = {{"a", Tensor()}, {"b", Tensor()}};
  in.queue_us = 1500;
  in.encode_us = 250000;
  in.batch_sizes = {4, 1};
  const auto r = std::get<EncodeResponse>(round_trip(in));
  EXPECT_EQ(r.queue_us, 1500);
  EXPECT_EQ(r.encode_us, 250000);
  EXPECT_EQ(r.batch_sizes, (std::vector<int32_t>{4, 1}));
}

TEST(ProtocolTest, RejectsBadTimingAndBatchSizes) {
  auto response = [](int64_t queue_us, std::vector<int64_t> sizes, int items) {
    return make_header([&](auto& p) {
      p.pack_map(9);
      p.pack("v"); p.pack(kProtocolVersion);
      p.pack("type"); p.pack("encode_response");
      p.pack("request_id"); p.pack(5);
      p.pack("code"); p.pack(0);
      p.pack("error_message"); p.pack("");
      p.pack("items"); p.pack_array(items);
      for (int i = 0; i < items; ++i) {
        p.pack_map(2);
        p.pack("id"); p.pack("x");
        p.pack("embedding"); p.pack_nil();
      }
      p.pack("queue_us"); p.pack(queue_us);
      p.pack("encode_us"); p.pack(7);
      p.pack("batch_sizes"); p.pack(sizes);
    });
  };
  EXPECT_TRUE(decode_message(response(0, {3, 3}, 2), {}).ok());
  EXPECT_TRUE(decode_message(response(0, {}, 2), {}).ok());
  expect_error(decode_message(response(-1, {}, 1), {}), "negative engine timing");
  expect_error(decode_message(response(0, {1}, 2), {}), "batch_sizes has 1 entries for 2 items");
  expect_error(decode_message(response(0, {0}, 1), {}), "batch_sizes[0] = 0 is out of range");
  expect_error(decode_message(response(0, {1 << 20}, 1), {}), "is out of range");
}

TEST(ProtocolTest, EncodeResponseCarriesPerItemErrorsOnlyWhenSet) {
  EncodeResponse in;
  in.request_id = 9;
  in.items.push_back({"ok", f32({1.0f}, {1, 1})});
  ItemResult failed{"late", Tensor()};
  failed.error_code = ErrorCode::kUnavailable;
  failed.error_message = "item 'late': sidecar delivery failed: sidecar 'b' is unreachable";
  in.items.push_back(failed);
  auto frames = encode_message(in);
  ASSERT_TRUE(frames.ok()) << frames.status().to_string();
  // Only the failed item carries the optional "error" field.
  ASSERT_NE(frames->header.find("error\x82"), std::string::npos);
  EXPECT_EQ(frames->header.find("error\x82"), frames->header.rfind("error\x82"));
  const auto r = std::get<EncodeResponse>(round_trip(in));
  EXPECT_EQ(r.code, ErrorCode::kOk);
  ASSERT_EQ(r.items.size(), 2u);
  EXPECT_FALSE(r.items[0].failed());
  EXPECT_EQ(r.items[0].embedding.data<float>()[0], 1.0f);
  EXPECT_TRUE(r.items[1].failed());
  EXPECT_EQ(r.items[1].error_code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.items[1].error_message, failed.error_message);
  EXPECT_FALSE(r.items[1].embedding.defined());
}

TEST(ProtocolTest, RejectsMalformedPerItemErrors) {
  // error: a callback packing the value of the item's "error" field.
  auto response = [](auto pack_error, bool with_embedding) {
    return make_header([&](auto& p) {
      p.pack_map(6);
      p.pack("v"); p.pack(kProtocolVersion);
      p.pack("type"); p.pack("encode_response");
      p.pack("request_id"); p.pack(5);
      p.pack("code"); p.pack(0);
      p.pack("error_message"); p.pack("");
      p.pack("items"); p.pack_array(1);
      p.pack_map(3);
      p.pack("id"); p.pack("x");
      p.pack("error"); pack_error(p);
      p.pack("embedding");
      if (with_embedding) {
        p.pack_map(3);
        p.pack("name"); p.pack("embedding");
        p.pack("dtype"); p.pack("F32");
        p.pack("shape"); p.pack(std::vector<int64_t>{1});
      } else {
        p.pack_nil();
      }
    });
  };
  auto error = [](uint64_t code, bool string_message) {
    return [=](auto& p) {
      p.pack_map(2);
      p.pack("code"); p.pack(code);
      p.pack("message");
      if (string_message) p.pack("no"); else p.pack(3);
    };
  };
  expect_error(decode_message(response([](auto& p) { p.pack("late"); }, false), {}), "items[0].error is not a map");
  expect_error(decode_message(response(error(0, true), false), {}), "items[0].error.code 0 is not an error code");
  expect_error(decode_message(response(error(999, true), false), {}), "items[0].error.code 999 is not an error code");
  expect_error(decode_message(response(error(9, false), false), {}), "message is not a string");
  auto one = Tensor::zeros(DType::kU8, {4}).value();
  expect_error(decode_message(response(error(9, true), true), {one}), "items[0] ('x') failed but carries an embedding");
}

}  // namespace
}  // namespace eric::engine
