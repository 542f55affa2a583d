#include "sidecar/client.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace eric::sidecar {

namespace {
// The sidecar answers a blocking request (recv, put) at its timeout; allow
// this much on top before deciding the sidecar itself is stuck.
constexpr Millis kAnswerSlack{5000};
}  // namespace

Result<std::unique_ptr<SidecarClient>> SidecarClient::connect(const std::string& socket_path, int32_t rank,
                                                              Millis connect_timeout) {
  ERIC_ASSIGN_OR_RETURN(auto conn, connect_unix(socket_path, connect_timeout));
  std::unique_ptr<SidecarClient> c(new SidecarClient());
  c->conn_ = std::move(conn);
  c->rank_ = rank;
  Message hello;
  hello.type = MsgType::kHello;
  hello.rank = rank;
  ERIC_ASSIGN_OR_RETURN(Message ok, c->call(hello, connect_timeout));
  if (ok.type != MsgType::kHelloOk) return DataLoss("sidecar answered hello with '{}'", msg_type_name(ok.type));
  // Only names this sidecar created are accepted: never map an arbitrary object.
  if (ok.text.rfind("/eric-", 0) != 0 || ok.text.find('/', 1) != std::string::npos) {
    return DataLoss("sidecar named an unexpected arena '{}'", ok.text);
  }
  const bool writable = rank < 0;
  int fd = shm_open(ok.text.c_str(), writable ? O_RDWR : O_RDONLY, 0);
  if (fd < 0) return Unavailable("cannot open the sidecar arena {}: {}", ok.text, std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < ok.bytes) {
    close(fd);
    return DataLoss("sidecar arena {} is smaller than announced ({} bytes)", ok.text, ok.bytes);
  }
  void* p = mmap(nullptr, ok.bytes, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return IoError("cannot map the sidecar arena {}: {}", ok.text, std::strerror(errno));
  c->base_ = p;
  c->size_ = ok.bytes;
  c->arena_name_ = ok.text;
  return c;
}

SidecarClient::~SidecarClient() {
  if (base_ != nullptr) munmap(base_, size_);
}

Result<Message> SidecarClient::call(Message m, Millis answer_timeout) {
  std::lock_guard<std::mutex> lock(mu_);
  m.seq = next_seq_++;
  if (lost_) return Unavailable("the connection to {} was lost earlier", conn_->peer());
  Status sent = conn_->send(m, Millis(10000));
  auto answer = sent.ok() ? conn_->receive(answer_timeout + kAnswerSlack, Millis(10000)) : Result<Message>(sent);
  if (!answer.ok()) {
    lost_ = true;
    conn_->shutdown();  // out of step with the sidecar now; later calls fail fast
    return answer.status().with_context(fmt::format("sidecar {} request", msg_type_name(m.type)));
  }
  if (answer->seq != m.seq) {
    lost_ = true;
    return DataLoss("sidecar answered request {} with {}", m.seq, answer->seq);
  }
  ERIC_RETURN_IF_ERROR(status_of(*answer));
  return answer;
}

Result<uint64_t> SidecarClient::alloc(const std::string& id, uint32_t chunk, uint64_t bytes, Millis timeout) {
  Message m;
  m.type = MsgType::kAlloc;
  m.id = id;
  m.chunk = chunk;
  m.bytes = bytes;
  m.timeout_ms = static_cast<uint32_t>(timeout.count());
  ERIC_ASSIGN_OR_RETURN(Message ok, call(m, timeout));
  if (ok.offset + bytes > size_ || ok.offset + bytes < bytes) {
    return DataLoss("sidecar allocated [{}, +{}) outside its arena of {} bytes", ok.offset, bytes, size_);
  }
  return ok.offset;
}

Status SidecarClient::put(const std::string& id, uint32_t chunk, const std::string& dtype,
                          const std::vector<int64_t>& shape, uint64_t offset, uint64_t bytes,
                          const std::vector<std::vector<int32_t>>& groups, Millis timeout) {
  Message m;
  m.type = MsgType::kPut;
  m.id = id;
  m.chunk = chunk;
  m.dtype = dtype;
  m.shape = shape;
  m.offset = offset;
  m.bytes = bytes;
  m.groups = groups;
  m.timeout_ms = static_cast<uint32_t>(timeout.count());
  ERIC_ASSIGN_OR_RETURN(Message ok, call(m, timeout));
  return Status::Ok();
}

Status SidecarClient::free(uint64_t offset) {
  Message m;
  m.type = MsgType::kFree;
  m.offset = offset;
  ERIC_ASSIGN_OR_RETURN(Message ok, call(m, Millis(5000)));
  return Status::Ok();
}

Status SidecarClient::send(const std::string& id, uint32_t chunk, const std::string& dtype,
                           const std::vector<int64_t>& shape, const void* data, uint64_t bytes,
                           const std::vector<std::vector<int32_t>>& groups, Millis timeout) {
  if (rank_ >= 0) return InvalidArgument("a consumer client cannot send");
  ERIC_ASSIGN_OR_RETURN(uint64_t off, alloc(id, chunk, bytes, timeout));
  if (bytes > 0) std::memcpy(arena_data() + off, data, bytes);
  return put(id, chunk, dtype, shape, off, bytes, groups, timeout);
}

Result<ItemView> SidecarClient::recv(const std::string& id, uint32_t chunk, Millis timeout) {
  Message m;
  m.type = MsgType::kRecv;
  m.id = id;
  m.chunk = chunk;
  m.timeout_ms = static_cast<uint32_t>(timeout.count());
  ERIC_ASSIGN_OR_RETURN(Message item, call(m, timeout));
  if (item.type != MsgType::kItem) return DataLoss("sidecar answered recv with '{}'", msg_type_name(item.type));
  ERIC_RETURN_IF_ERROR(validate_tensor(item));
  if (item.offset > size_ || item.bytes > size_ - item.offset) {
    return DataLoss("sidecar pointed item '{}' outside its arena", id);
  }
  ItemView v;
  v.id = item.id;
  v.chunk = item.chunk;
  v.dtype = item.dtype;
  v.shape = item.shape;
  v.data = arena_data() + item.offset;
  v.bytes = item.bytes;
  return v;
}

Status SidecarClient::done(const std::string& id, uint32_t chunk) {
  Message m;
  m.type = MsgType::kDone;
  m.id = id;
  m.chunk = chunk;
  ERIC_ASSIGN_OR_RETURN(Message ok, call(m, Millis(5000)));
  return Status::Ok();
}

Result<std::string> SidecarClient::stats() {
  Message m;
  m.type = MsgType::kStats;
  ERIC_ASSIGN_OR_RETURN(Message r, call(m, Millis(5000)));
  return r.text;
}

}  // namespace eric::sidecar
