#include <gtest/gtest.h>

#include "sidecar/registry.h"
#include "sidecar/wire.h"

namespace eric::sidecar {
namespace {

Message sample() {
  Message m;
  m.type = MsgType::kPut;
  m.seq = 42;
  m.chunk = 3;
  m.rank = -1;
  m.offset = 8192;
  m.bytes = 2 * 3 * 4;
  m.timeout_ms = 1500;
  m.id = "req-1/img-0";
  m.dtype = "F32";
  m.shape = {2, 3};
  m.groups = {{0, 1}, {2}};
  return m;
}

Result<Message> decode_all(const std::string& bytes) {
  ERIC_ASSIGN_OR_RETURN(FrameHeader h, decode_frame_header(bytes));
  return decode_message_body(h, std::string_view(bytes).substr(kFrameHeaderBytes));
}

TEST(SidecarWire, RoundTripsEveryField) {
  Message m = sample();
  auto d = decode_all(encode_message(m));
  ASSERT_TRUE(d.ok()) << d.status().to_string();
  EXPECT_EQ(d->type, MsgType::kPut);
  EXPECT_EQ(d->seq, 42u);
  EXPECT_EQ(d->chunk, 3u);
  EXPECT_EQ(d->rank, -1);
  EXPECT_EQ(d->offset, 8192u);
  EXPECT_EQ(d->bytes, 24u);
  EXPECT_EQ(d->timeout_ms, 1500u);
  EXPECT_EQ(d->id, "req-1/img-0");
  EXPECT_EQ(d->dtype, "F32");
  EXPECT_EQ(d->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(d->groups, (std::vector<std::vector<int32_t>>{{0, 1}, {2}}));
  EXPECT_TRUE(validate_tensor(*d).ok());
}

TEST(SidecarWire, PayloadOnlyOnDataChunks) {
  Message m;
  m.type = MsgType::kXferData;
  m.payload_len = 4096;
  auto h = decode_frame_header(encode_message(m));
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->payload_len, 4096u);
  m.type = MsgType::kPut;
  auto bad = decode_frame_header(encode_message(m));
  EXPECT_FALSE(bad.ok());
  m.type = MsgType::kXferData;
  m.payload_len = kMaxPayloadBytes + 1;
  EXPECT_FALSE(decode_frame_header(encode_message(m)).ok());
}

TEST(SidecarWire, RejectsEveryTruncationAndCorruption) {
  const std::string good = encode_message(sample());
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(decode_all(good.substr(0, n)).ok()) << "prefix of " << n << " bytes decoded";
  }
  std::string bad_magic = good;
  bad_magic[0] ^= 1;
  EXPECT_NE(decode_all(bad_magic).status().message().find("magic"), std::string::npos);
  std::string bad_type = good;
  bad_type[6] = 99;
  EXPECT_FALSE(decode_all(bad_type).ok());
  // A body length that disagrees with the body.
  std::string trailing = good + "x";
  auto h = decode_frame_header(trailing);
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(decode_message_body(*h, std::string_view(trailing).substr(kFrameHeaderBytes)).ok());
}

TEST(SidecarWire, RejectsHugeCountsBeforeAllocating) {
  Message m = sample();
  m.groups = {{0}};
  std::string bytes = encode_message(m);
  // The single group's rank count sits 8 bytes before the end (u32 count, i32 rank).
  uint32_t huge = 4000;
  std::memcpy(bytes.data() + bytes.size() - 8, &huge, 4);
  auto d = decode_all(bytes);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("truncated inside group"), std::string::npos);
}

TEST(SidecarWire, ValidatesTensorDescriptions) {
  Message m = sample();
  m.bytes = 23;
  EXPECT_NE(validate_tensor(m).message().find("23 bytes"), std::string::npos);
  m = sample();
  m.dtype = "F33";
  EXPECT_NE(validate_tensor(m).message().find("unknown dtype"), std::string::npos);
  m = sample();
  m.shape = {-1, 3};
  EXPECT_FALSE(validate_tensor(m).ok());
  m = sample();
  m.shape = {int64_t{1} << 62, int64_t{1} << 62};
  EXPECT_FALSE(validate_tensor(m).ok());
  m = sample();
  m.shape = {0, 5};
  m.bytes = 0;
  EXPECT_TRUE(validate_tensor(m).ok());
}

TEST(SidecarWire, ErrorsCarryCodeAndText) {
  Message e = error_message(7, ResourceExhausted("arena full for item 'x'"));
  auto d = decode_all(encode_message(e));
  ASSERT_TRUE(d.ok());
  Status st = status_of(*d);
  EXPECT_EQ(st.code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(st.message(), "arena full for item 'x'");
  EXPECT_TRUE(status_of(ok_message(1)).ok());
}

TEST(SidecarRegistry, ParsesJsonAndRoutesGroupsPerNode) {
  auto reg = RankRegistry::from_json(
      R"({"sidecars":[{"name":"a","address":"127.0.0.1:1","ranks":[0,1]},{"name":"b","address":"127.0.0.1:2","ranks":[2,3]}]})",
      "test");
  ASSERT_TRUE(reg.ok()) << reg.status().to_string();
  EXPECT_EQ(reg->serving(3)->name, "b");
  EXPECT_EQ(reg->serving(4), nullptr);
  auto routes = reg->route({{0, 1}, {2, 3}, {1, 2}});
  ASSERT_TRUE(routes.ok());
  ASSERT_EQ(routes->size(), 2u);
  EXPECT_EQ((*routes)[0].node, "a");
  EXPECT_EQ((*routes)[0].groups, (std::vector<std::vector<int32_t>>{{0, 1}, {1}}));
  EXPECT_EQ((*routes)[1].node, "b");
  EXPECT_EQ((*routes)[1].groups, (std::vector<std::vector<int32_t>>{{2, 3}, {2}}));
  auto unknown = reg->route({{0}, {9}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("rank 9 (group 1)"), std::string::npos);
  EXPECT_FALSE(reg->route({{}}).ok());
}

TEST(SidecarRegistry, RejectsBadTables) {
  auto dup_rank = RankRegistry::from_json(
      R"({"sidecars":[{"name":"a","address":"h:1","ranks":[0]},{"name":"b","address":"h:2","ranks":[0]}]})", "f.json");
  ASSERT_FALSE(dup_rank.ok());
  EXPECT_NE(dup_rank.status().message().find("rank 0 is served by both 'a' and 'b'"), std::string::npos);
  EXPECT_FALSE(RankRegistry::from_json(R"({"sidecars":[{"name":"a","address":"h:1","ranks":[0]},{"name":"a","address":"h:2","ranks":[1]}]})", "f").ok());
  EXPECT_FALSE(RankRegistry::from_json(R"({"sidecars":[{"name":"a","ranks":[0]}]})", "f").ok());
  EXPECT_FALSE(RankRegistry::from_json(R"({"sidecars":[{"name":"a","address":"h:1","ranks":[-1]}]})", "f").ok());
  EXPECT_FALSE(RankRegistry::from_json(R"({"sidecars":[{"name":"a","address":"h:1","ranks":["0"]}]})", "f").ok());
  EXPECT_FALSE(RankRegistry::from_json("[1,2]", "f").ok());
  EXPECT_FALSE(RankRegistry::from_json("{", "f").ok());
  EXPECT_FALSE(RankRegistry::load_file("/nonexistent/registry.json").ok());
}

TEST(SidecarRegistry, ParsesRankListsAndPeerFlags) {
  auto r = parse_rank_list("0,2-4,7");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<int32_t>{0, 2, 3, 4, 7}));
  EXPECT_FALSE(parse_rank_list("1,x").ok());
  EXPECT_FALSE(parse_rank_list("4-2").ok());
  EXPECT_FALSE(parse_rank_list("1,").ok());
  auto p = parse_peer_flag("node-b@127.0.0.1:7602=2,3");
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->name, "node-b");
  EXPECT_EQ(p->address, "127.0.0.1:7602");
  EXPECT_EQ(p->ranks, (std::vector<int32_t>{2, 3}));
  EXPECT_FALSE(parse_peer_flag("node-b=1").ok());
  EXPECT_FALSE(parse_peer_flag("@h:1=1").ok());
}

}  // namespace
}  // namespace eric::sidecar
