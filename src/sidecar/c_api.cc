// libericsidecar: the C ABI over SidecarClient (eric_sidecar.h).
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "sidecar/client.h"
#include "sidecar/eric_sidecar.h"

struct eric_sidecar {
  std::unique_ptr<eric::sidecar::SidecarClient> client;
  std::mutex mu;
  // Views handed out and not yet marked done: their dtype/shape storage.
  std::map<std::pair<std::string, uint32_t>, eric::sidecar::ItemView> views;
};

namespace {

// The ABI's codes are eric's ErrorCode values; pin them.
static_assert(ERIC_SIDECAR_INVALID_ARGUMENT == static_cast<int>(eric::ErrorCode::kInvalidArgument));
static_assert(ERIC_SIDECAR_NOT_FOUND == static_cast<int>(eric::ErrorCode::kNotFound));
static_assert(ERIC_SIDECAR_DATA_LOSS == static_cast<int>(eric::ErrorCode::kDataLoss));
static_assert(ERIC_SIDECAR_RESOURCE_EXHAUSTED == static_cast<int>(eric::ErrorCode::kResourceExhausted));
static_assert(ERIC_SIDECAR_UNAVAILABLE == static_cast<int>(eric::ErrorCode::kUnavailable));
static_assert(ERIC_SIDECAR_TIMEOUT == static_cast<int>(eric::ErrorCode::kDeadlineExceeded));

thread_local std::string g_last_error;

int fail(const eric::Status& st) {
  g_last_error = st.message();
  return static_cast<int>(st.code());
}

int fail_invalid(const char* what) {
  g_last_error = what;
  return ERIC_SIDECAR_INVALID_ARGUMENT;
}

eric::sidecar::Millis ms(int32_t timeout_ms) { return eric::sidecar::Millis(timeout_ms < 0 ? 0 : timeout_ms); }

}  // namespace

extern "C" {

int eric_sidecar_abi_version(void) { return ERIC_SIDECAR_ABI_VERSION; }

const char* eric_sidecar_last_error(void) { return g_last_error.c_str(); }

int eric_sidecar_open(const char* socket_path, int32_t rank, int32_t timeout_ms, eric_sidecar** out) {
  if (socket_path == nullptr || out == nullptr) return fail_invalid("eric_sidecar_open: null argument");
  *out = nullptr;
  auto c = eric::sidecar::SidecarClient::connect(socket_path, rank, ms(timeout_ms));
  if (!c.ok()) return fail(c.status());
  auto* h = new eric_sidecar;
  h->client = std::move(c).value();
  *out = h;
  return 0;
}

int eric_sidecar_recv(eric_sidecar* h, const char* id, uint32_t chunk, int32_t timeout_ms, eric_sidecar_view* out) {
  if (h == nullptr || id == nullptr || out == nullptr) return fail_invalid("eric_sidecar_recv: null argument");
  auto v = h->client->recv(id, chunk, ms(timeout_ms));
  if (!v.ok()) return fail(v.status());
  std::lock_guard<std::mutex> lock(h->mu);
  auto& kept = h->views[{v->id, v->chunk}];
  kept = std::move(v).value();
  out->data = kept.data;
  out->nbytes = kept.bytes;
  out->dtype = kept.dtype.c_str();
  out->ndim = static_cast<int32_t>(kept.shape.size());
  out->shape = kept.shape.data();
  return 0;
}

int eric_sidecar_mark_done(eric_sidecar* h, const char* id, uint32_t chunk) {
  if (h == nullptr || id == nullptr) return fail_invalid("eric_sidecar_mark_done: null argument");
  eric::Status st = h->client->done(id, chunk);
  if (!st.ok()) return fail(st);
  std::lock_guard<std::mutex> lock(h->mu);
  h->views.erase({id, chunk});
  return 0;
}

int eric_sidecar_send(eric_sidecar* h, const char* id, uint32_t chunk, const char* dtype, const int64_t* shape,
                      int32_t ndim, const void* data, uint64_t nbytes, const int32_t* ranks,
                      const int32_t* group_sizes, int32_t ngroups, int32_t timeout_ms) {
  if (h == nullptr || id == nullptr || dtype == nullptr || (ndim > 0 && shape == nullptr) || ndim < 0 ||
      (nbytes > 0 && data == nullptr) || ngroups < 0 || (ngroups > 0 && (ranks == nullptr || group_sizes == nullptr))) {
    return fail_invalid("eric_sidecar_send: null or negative argument");
  }
  std::vector<std::vector<int32_t>> groups;
  size_t at = 0;
  for (int32_t g = 0; g < ngroups; ++g) {
    if (group_sizes[g] < 0) return fail_invalid("eric_sidecar_send: negative group size");
    groups.emplace_back(ranks + at, ranks + at + group_sizes[g]);
    at += static_cast<size_t>(group_sizes[g]);
  }
  std::vector<int64_t> dims(shape, shape + ndim);
  eric::Status st = h->client->send(id, chunk, dtype, dims, data, nbytes, groups, ms(timeout_ms));
  return st.ok() ? 0 : fail(st);
}

int eric_sidecar_stats(eric_sidecar* h, char* buf, size_t len) {
  if (h == nullptr || buf == nullptr || len == 0) return fail_invalid("eric_sidecar_stats: null argument");
  auto s = h->client->stats();
  if (!s.ok()) return fail(s.status());
  size_t n = std::min(len - 1, s->size());
  std::memcpy(buf, s->data(), n);
  buf[n] = '\0';
  return 0;
}

void eric_sidecar_close(eric_sidecar* h) { delete h; }

}  // extern "C"
