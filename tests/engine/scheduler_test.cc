// Every batching and completion rule of the scheduler (see scheduler.h).
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <thread>

namespace eric::engine {
namespace {

EncodeItem item(std::string id, int64_t tokens, std::string modality = "image", std::string model = "m") {
  EncodeItem it;
  it.item_id = std::move(id);
  it.num_tokens = tokens;
  it.modality = std::move(modality);
  it.model_id = std::move(model);
  it.return_embedding = true;
  return it;
}

EncodeRequest request(uint64_t id, std::vector<EncodeItem> items) {
  EncodeRequest r;
  r.request_id = id;
  r.items = std::move(items);
  return r;
}

std::vector<std::string> ids(const Batch& b) {
  std::vector<std::string> out;
  for (const auto& e : b.entries) out.push_back(e.item.item_id);
  return out;
}

// One embedding per entry whose single value identifies the item.
ItemOutcomes embeddings_for(const Batch& b) {
  ItemOutcomes out;
  for (const auto& e : b.entries) {
    out.push_back(Tensor::from_vector<float>({static_cast<float>(e.item.num_tokens)}, {1, 1}).value());
  }
  return out;
}

TEST(SchedulerTest, EmptyQueueGivesNoBatch) {
  Scheduler s({4, 100});
  EXPECT_FALSE(s.next_batch().has_value());
  EXPECT_EQ(s.queue_length(), 0);
}

TEST(SchedulerTest, RejectsBadLimitsEmptyAndDuplicateRequests) {
  EXPECT_FALSE(Scheduler::validate({0, 10}).ok());
  EXPECT_FALSE(Scheduler::validate({1, 0}).ok());
  Scheduler s({4, 100});
  EXPECT_FALSE(s.add_request(request(1, {})).ok());
  ASSERT_TRUE(s.add_request(request(1, {item("a", 1)})).ok());
  Status dup = s.add_request(request(1, {item("b", 1)}));
  EXPECT_FALSE(dup.ok());
  EXPECT_NE(dup.message().find("already pending"), std::string::npos);
  EXPECT_FALSE(s.add_request(request(2, {item("c", -1)})).ok());
  EXPECT_EQ(s.queue_length(), 1);
}

TEST(SchedulerTest, OneModalityPerBatch) {
  Scheduler s({16, 1000});
  ASSERT_TRUE(s.add_request(request(1, {item("i1", 1), item("i2", 1), item("v1", 1, "video"), item("i3", 1)})).ok());
  auto b1 = s.next_batch();
  EXPECT_EQ(ids(*b1), (std::vector<std::string>{"i1", "i2"}));
  EXPECT_EQ(b1->modality, "image");
  auto b2 = s.next_batch();
  EXPECT_EQ(ids(*b2), (std::vector<std::string>{"v1"}));
  EXPECT_EQ(b2->modality, "video");
  auto b3 = s.next_batch();
  EXPECT_EQ(ids(*b3), (std::vector<std::string>{"i3"}));
  EXPECT_FALSE(s.next_batch().has_value());
}

TEST(SchedulerTest, OneModelPerBatch) {
  Scheduler s({16, 1000});
  ASSERT_TRUE(s.add_request(request(1, {item("a1", 1, "image", "A"), item("b1", 1, "image", "B")})).ok());
  ASSERT_TRUE(s.add_request(request(2, {item("a2", 1, "image", "A")})).ok());
  auto b1 = s.next_batch();
  EXPECT_EQ(ids(*b1), (std::vector<std::string>{"a1"}));
  EXPECT_EQ(b1->model_id, "A");
  // a2 is compatible with a1 but comes after b1: it is not pulled ahead.
  EXPECT_EQ(ids(*s.next_batch()), (std::vector<std::string>{"b1"}));
  EXPECT_EQ(ids(*s.next_batch()), (std::vector<std::string>{"a2"}));
}

TEST(SchedulerTest, FcfsOrderKeptAtBoundaries) {
  Scheduler s({3, 1000});
  for (uint64_t r = 1; r <= 3; ++r) {
    ASSERT_TRUE(s.add_request(request(r, {item(fmt::format("r{}a", r), 1), item(fmt::format("r{}b", r), 1)})).ok());
  }
  std::vector<std::string> order;
  while (auto b = s.next_batch()) {
    EXPECT_LE(b->size(), 3u);
    for (auto& id : ids(*b)) order.push_back(id);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"r1a", "r1b", "r2a", "r2b", "r3a", "r3b"}));
}

TEST(SchedulerTest, MaxBatchSizeRespected) {
  Scheduler s({2, 1000});
  ASSERT_TRUE(s.add_request(request(1, {item("a", 1), item("b", 1), item("c", 1), item("d", 1), item("e", 1)})).ok());
  EXPECT_EQ(s.queue_length(), 5);
  EXPECT_EQ(ids(*s.next_batch()), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s.queue_length(), 3);
  EXPECT_EQ(ids(*s.next_batch()), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(ids(*s.next_batch()), (std::vector<std::string>{"e"}));
  EXPECT_EQ(s.queue_length(), 0);
}

TEST(SchedulerTest, TokenBudgetRespectedWithoutSkipping) {
  Scheduler s({16, 10});
  // 4 + 5 = 9 fits; + 3 = 12 does not; the 1-token item after it must not
  // be pulled ahead of it.
  ASSERT_TRUE(s.add_request(request(1, {item("a", 4), item("b", 5), item("c", 3), item("d", 1)})).ok());
  auto b1 = s.next_batch();
  EXPECT_EQ(ids(*b1), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(b1->num_tokens, 9);
  auto b2 = s.next_batch();
  EXPECT_EQ(ids(*b2), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(b2->num_tokens, 4);
}

TEST(SchedulerTest, ExactlyTheTokenBudgetFits) {
  Scheduler s({16, 10});
  ASSERT_TRUE(s.add_request(request(1, {item("a", 4), item("b", 6), item("c", 1)})).ok());
  EXPECT_EQ(ids(*s.next_batch()), (std::vector<std::string>{"a", "b"}));
}

TEST(SchedulerTest, OversizedItemRunsAlone) {
  Scheduler s({16, 10});
  ASSERT_TRUE(s.add_request(request(1, {item("small", 2), item("huge", 50), item("after", 1)})).ok());
  EXPECT_EQ(ids(*s.next_batch()), (std::vector<std::string>{"small"}));
  auto b = s.next_batch();
  EXPECT_EQ(ids(*b), (std::vector<std::string>{"huge"}));
  EXPECT_EQ(b->num_tokens, 50);
  EXPECT_EQ(ids(*s.next_batch()), (std::vector<std::string>{"after"}));
}

TEST(SchedulerTest, RequestSpanningBatchesCompletesOnlyWhenAllItemsDone) {
  Scheduler s({2, 1000});
  ASSERT_TRUE(s.add_request(request(1, {item("a", 1), item("b", 2), item("c", 3)})).ok());
  ASSERT_TRUE(s.add_request(request(2, {item("d", 4)})).ok());
  auto b1 = s.next_batch();  // a, b
  auto b2 = s.next_batch();  // c, d
  EXPECT_TRUE(s.complete_batch(*b1, embeddings_for(*b1)).empty());
  EXPECT_EQ(s.pending_requests(), 2);
  auto done = s.complete_batch(*b2, embeddings_for(*b2));
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].request_id, 1u);
  EXPECT_EQ(done[0].code, ErrorCode::kOk);
  ASSERT_EQ(done[0].items.size(), 3u);
  // Results come back in request order with the right embedding each.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(done[0].items[i].item_id, std::string(1, static_cast<char>('a' + i)));
    EXPECT_EQ(done[0].items[i].embedding.data<float>()[0], static_cast<float>(i + 1));
  }
  EXPECT_EQ(done[1].request_id, 2u);
  EXPECT_EQ(s.pending_requests(), 0);
}

TEST(SchedulerTest, EmbeddingOnlyKeptWhenRequested) {
  Scheduler s({4, 100});
  EncodeItem keep = item("keep", 1);
  EncodeItem drop = item("drop", 1);
  drop.return_embedding = false;
  ASSERT_TRUE(s.add_request(request(1, {keep, drop})).ok());
  auto b = s.next_batch();
  auto done = s.complete_batch(*b, embeddings_for(*b));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].items[0].embedding.defined());
  EXPECT_FALSE(done[0].items[1].embedding.defined());
}

TEST(SchedulerTest, FailedBatchFailsEveryRequestInItOnceAndDropsTheirQueuedItems) {
  Scheduler s({2, 1000});
  ASSERT_TRUE(s.add_request(request(1, {item("a", 1), item("b", 1), item("c", 1)})).ok());
  ASSERT_TRUE(s.add_request(request(2, {item("d", 1)})).ok());
  auto b1 = s.next_batch();  // a, b (both of request 1)
  auto done = s.complete_batch(*b1, Unavailable("worker 1 died"));
  ASSERT_EQ(done.size(), 1u);  // request 1 once, although two of its items failed
  EXPECT_EQ(done[0].request_id, 1u);
  EXPECT_EQ(done[0].code, ErrorCode::kUnavailable);
  EXPECT_EQ(done[0].error_message, "worker 1 died");
  // c (request 1) was dropped from the queue; d (request 2) is untouched.
  EXPECT_EQ(s.queue_length(), 1);
  auto b2 = s.next_batch();
  EXPECT_EQ(ids(*b2), (std::vector<std::string>{"d"}));
  auto done2 = s.complete_batch(*b2, embeddings_for(*b2));
  ASSERT_EQ(done2.size(), 1u);
  EXPECT_EQ(done2[0].code, ErrorCode::kOk);
}

TEST(SchedulerTest, FailureOfALaterBatchAfterPartialSuccess) {
  Scheduler s({1, 1000});
  ASSERT_TRUE(s.add_request(request(1, {item("a", 1), item("b", 1)})).ok());
  auto b1 = s.next_batch();
  auto b2 = s.next_batch();
  EXPECT_TRUE(s.complete_batch(*b1, embeddings_for(*b1)).empty());
  auto done = s.complete_batch(*b2, Internal("boom"));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].code, ErrorCode::kInternal);
  EXPECT_TRUE(done[0].items.empty());
  EXPECT_EQ(s.pending_requests(), 0);
}

TEST(SchedulerTest, AFailedItemFailsOnlyItsOwnRequestOnceAndItsBatchMatesSucceed) {
  Scheduler s({3, 1000});
  ASSERT_TRUE(s.add_request(request(1, {item("a1", 1)})).ok());
  ASSERT_TRUE(s.add_request(request(2, {item("b1", 2), item("b2", 3), item("b3", 4)})).ok());
  auto b = s.next_batch();
  ASSERT_EQ(ids(*b), (std::vector<std::string>{"a1", "b1", "b2"}));  // b3 stays queued
  ItemOutcomes out = embeddings_for(*b);
  // Both of request 2's items in the batch fail on their own (e.g. their
  // sidecar receivers are unknown); request 1's item succeeded.
  out[1] = NotFound("item 'b1': sidecar delivery failed: receiver rank 7 is not served");
  out[2] = Unavailable("item 'b2': sidecar delivery failed: sidecar 'b' is unreachable");
  auto done = s.complete_batch(*b, std::move(out));
  ASSERT_EQ(done.size(), 2u);  // request 2 once, although two of its items failed
  EXPECT_EQ(done[0].request_id, 1u);
  EXPECT_EQ(done[0].code, ErrorCode::kOk) << done[0].error_message;
  ASSERT_EQ(done[0].items.size(), 1u);
  ASSERT_TRUE(done[0].items[0].embedding.defined());
  EXPECT_EQ(done[0].items[0].embedding.data<float>()[0], 1.0f);
  EXPECT_EQ(done[1].request_id, 2u);
  EXPECT_EQ(done[1].code, ErrorCode::kNotFound);  // the first failed item's error
  EXPECT_EQ(done[1].error_message, "item 'b1': sidecar delivery failed: receiver rank 7 is not served");
  EXPECT_TRUE(done[1].items.empty());
  // b3 (request 2) left the queue with its request; nothing is pending.
  EXPECT_EQ(s.queue_length(), 0);
  EXPECT_EQ(s.pending_requests(), 0);
}

TEST(SchedulerTest, WrongNumberOfEmbeddingsIsAnError) {
  Scheduler s({4, 100});
  ASSERT_TRUE(s.add_request(request(1, {item("a", 1), item("b", 1)})).ok());
  auto b = s.next_batch();
  auto done = s.complete_batch(*b, ItemOutcomes{});
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].code, ErrorCode::kInternal);
  EXPECT_NE(done[0].error_message.find("0 embeddings for a batch of 2"), std::string::npos);
}

TEST(SchedulerTest, FailAllAnswersEveryPendingRequest) {
  Scheduler s({1, 100});
  ASSERT_TRUE(s.add_request(request(3, {item("a", 1)})).ok());
  ASSERT_TRUE(s.add_request(request(4, {item("b", 1), item("c", 1)})).ok());
  auto in_flight = s.next_batch();
  auto done = s.fail_all(Unavailable("engine shutting down"));
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].request_id, 3u);
  EXPECT_EQ(done[1].request_id, 4u);
  EXPECT_EQ(s.queue_length(), 0);
  // The in-flight batch finishing later answers nothing twice.
  EXPECT_TRUE(s.complete_batch(*in_flight, embeddings_for(*in_flight)).empty());
}

TEST(SchedulerTest, ExpiredRequestsFailWithDeadlineExceededAndLeaveTheQueue) {
  Scheduler s({4, 1000});
  EncodeRequest late = request(1, {item("a", 1), item("b", 1)});
  late.deadline_unix_ms = 1000;
  EncodeRequest timely = request(2, {item("c", 1)});
  timely.deadline_unix_ms = 5000;
  ASSERT_TRUE(s.add_request(std::move(late)).ok());
  ASSERT_TRUE(s.add_request(std::move(timely)).ok());
  ASSERT_TRUE(s.add_request(request(3, {item("d", 1)})).ok());  // no deadline
  EXPECT_TRUE(s.expire(999).empty());
  auto expired = s.expire(1000);  // the deadline itself counts as passed
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].request_id, 1u);
  EXPECT_EQ(expired[0].code, ErrorCode::kDeadlineExceeded);
  EXPECT_NE(expired[0].error_message.find("deadline"), std::string::npos);
  // Its items never reach a batch; the others keep their order.
  auto b = s.next_batch();
  EXPECT_EQ(ids(*b), (std::vector<std::string>{"c", "d"}));
  // A request expiring while its batch runs is answered once, now.
  auto again = s.expire(6000);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].request_id, 2u);
  auto done = s.complete_batch(*b, embeddings_for(*b));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].request_id, 3u);
  EXPECT_TRUE(s.expire(1LL << 60).empty());  // request 3 had none
}

TEST(SchedulerTest, ResponsesCarryBatchSizesAndEncodeTime) {
  Scheduler s({2, 1000});
  ASSERT_TRUE(s.add_request(request(1, {item("a", 1), item("b", 1), item("c", 1)})).ok());
  ASSERT_TRUE(s.add_request(request(2, {item("d", 1)})).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // real time in the engine > fake run times
  auto b1 = s.next_batch();  // a, b
  EXPECT_TRUE(s.complete_batch(*b1, embeddings_for(*b1), std::chrono::microseconds(3000)).empty());
  auto b2 = s.next_batch();  // c, d
  auto done = s.complete_batch(*b2, embeddings_for(*b2), std::chrono::microseconds(500));
  ASSERT_EQ(done.size(), 2u);
  const EncodeResponse& r1 = done[0].request_id == 1 ? done[0] : done[1];
  const EncodeResponse& r2 = done[0].request_id == 1 ? done[1] : done[0];
  EXPECT_EQ(r1.batch_sizes, (std::vector<int32_t>{2, 2, 2}));
  EXPECT_EQ(r2.batch_sizes, (std::vector<int32_t>{2}));
  // Encode time is the sum of its batches' run times; the rest of its time
  // in the engine is queueing.
  EXPECT_EQ(r1.encode_us, 3500);
  EXPECT_EQ(r2.encode_us, 500);
  EXPECT_GE(r1.queue_us, 30000 - 3500);
  EXPECT_GE(r2.queue_us, 30000 - 500);
  EXPECT_LT(r1.queue_us, 10'000'000);
  // A failed request carries its timing but no batch sizes.
  ASSERT_TRUE(s.add_request(request(3, {item("e", 1)})).ok());
  auto b3 = s.next_batch();
  auto failed = s.complete_batch(*b3, Internal("boom"), std::chrono::microseconds(10));
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_TRUE(failed[0].batch_sizes.empty());
}

}  // namespace
}  // namespace eric::engine
