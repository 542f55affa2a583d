#include "hub/hub_client.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "hub/file_digest.h"
#include "hub/http_client.h"

namespace eric::hub {

namespace fs = std::filesystem;

struct HubClient::Counters {
  std::atomic<int64_t> metadata_requests{0};
  std::atomic<int64_t> bytes{0};
};

namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v ? std::string(v) : fallback;
}

bool env_true(const char* name) {
  std::string v = env_or(name, "");
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::toupper(c); });
  return v == "1" || v == "ON" || v == "YES" || v == "TRUE";
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  return s.substr(b);
}

// ETag: W/"<value>" or "<value>" -> <value>
std::string normalize_etag(std::string etag) {
  etag = trim(etag);
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return etag;
}

// A blob name from the server becomes a file name: refuse anything that
// could leave the blobs folder.
bool safe_etag(const std::string& etag) {
  return !etag.empty() && etag.size() <= 256 && etag.find('/') == std::string::npos && etag != "." &&
         etag != ".." && etag.find('\0') == std::string::npos;
}

std::string host_of(const std::string& url) {
  auto p = url.find("://");
  if (p == std::string::npos) return "";
  auto start = p + 3;
  auto end = url.find_first_of("/?#", start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

bool is_relative_redirect(const std::string& location) { return location.find("://") == std::string::npos; }

std::string join_redirect(const std::string& url, const std::string& location) {
  if (!location.empty() && location[0] == '/') {
    auto p = url.find("://");
    auto end = url.find('/', p + 3);
    return url.substr(0, end) + location;
  }
  auto slash = url.rfind('/');
  return url.substr(0, slash + 1) + location;
}

bool transient_status(long status) { return status == 429 || status >= 500; }

constexpr int64_t kProgressMinBytes = 1 << 20;

// An exclusive cross-process lock on <cache>/.locks/<repo folder>/<etag>.lock,
// the file huggingface_hub locks (filelock uses flock on Unix), so eric and
// Python never write the same blob at once.
class BlobLock {
 public:
  static Result<BlobLock> acquire(const std::string& path) {
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return IoError("{}: cannot open lock file", path);
    if (::flock(fd, LOCK_EX) != 0) {
      ::close(fd);
      return IoError("{}: cannot lock", path);
    }
    BlobLock l;
    l.fd_ = fd;
    return l;
  }
  BlobLock() = default;
  BlobLock(BlobLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  BlobLock& operator=(BlobLock&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~BlobLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }

 private:
  int fd_ = -1;
};

}  // namespace

HubOptions HubOptions::from_environment() {
  HubOptions o;
  o.endpoint = env_or("HF_ENDPOINT", "https://huggingface.co");
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  o.token = env_or("HF_TOKEN", env_or("HUGGING_FACE_HUB_TOKEN", ""));
  if (o.token.empty()) {
    std::string hf_home = env_or("HF_HOME", env_or("XDG_CACHE_HOME", env_or("HOME", "/tmp") + "/.cache") +
                                                "/huggingface");
    std::ifstream in(env_or("HF_TOKEN_PATH", hf_home + "/token"));
    if (in) {
      std::string t;
      std::getline(in, t);
      o.token = trim(t);
    }
  }
  o.cache_root = default_cache_root();
  o.offline = env_true("HF_HUB_OFFLINE");
  return o;
}

Result<RepoRef> parse_repo_ref(const std::string& text) {
  RepoRef ref;
  auto at = text.find('@');
  ref.repo_id = text.substr(0, at);
  ref.revision = at == std::string::npos ? "main" : text.substr(at + 1);
  auto valid_part = [](const std::string& part) {
    if (part.empty() || part.size() > 96) return false;
    if (!std::isalnum(static_cast<unsigned char>(part[0]))) return false;
    return std::all_of(part.begin(), part.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '-' || c == '_' || c == '.';
    });
  };
  auto slash = ref.repo_id.find('/');
  bool ok = slash != std::string::npos && ref.repo_id.find('/', slash + 1) == std::string::npos &&
            valid_part(ref.repo_id.substr(0, slash)) && valid_part(ref.repo_id.substr(slash + 1)) &&
            ref.repo_id.find("--") == std::string::npos && ref.repo_id.find("..") == std::string::npos;
  if (!ok) {
    return InvalidArgument(
        "'{}' is neither an existing folder nor a Hugging Face model id of the form org/name[@revision]", text);
  }
  if (ref.revision.empty() || ref.revision.find("..") != std::string::npos || ref.revision[0] == '/' ||
      ref.revision.size() > 256) {
    return InvalidArgument("invalid revision '{}' in '{}'", ref.revision, text);
  }
  return ref;
}

HubClient::HubClient(HubOptions options)
    : options_(std::move(options)), cache_(options_.cache_root), counters_(std::make_shared<Counters>()) {}

int64_t HubClient::metadata_requests() const { return counters_->metadata_requests.load(); }
int64_t HubClient::bytes_downloaded() const { return counters_->bytes.load(); }

std::vector<std::string> HubClient::auth_headers(const std::string& url) const {
  std::vector<std::string> h = {"Accept-Encoding: identity"};
  // The token goes only to the Hub itself, never to a content host it redirects to.
  if (!options_.token.empty() && host_of(url) == host_of(options_.endpoint)) {
    h.push_back("Authorization: Bearer " + options_.token);
  }
  return h;
}

Status HubClient::http_error(long status, const std::string& error_code, const std::string& message,
                             const RepoRef& ref, const std::string& file) const {
  std::string detail = message.empty() ? "" : " (" + message + ")";
  if (status == 401 || status == 403) {
    if (error_code == "RepoNotFound") {
      return NotFound("model repository '{}' not found on {}, or it is private: check the id, and set HF_TOKEN if "
                      "it is private{}",
                      ref.repo_id, options_.endpoint, detail);
    }
    return PermissionDenied(
        "access to model '{}' is restricted (HTTP {}): it is gated or private. Set HF_TOKEN to a token of an "
        "account that has accepted the licence on {}/{}{}",
        ref.repo_id, status, options_.endpoint, ref.repo_id, detail);
  }
  if (status == 404) {
    if (error_code == "RevisionNotFound") {
      return NotFound("revision '{}' not found in model '{}'{}", ref.revision, ref.repo_id, detail);
    }
    if (error_code == "EntryNotFound") {
      return NotFound("file '{}' not found in model '{}' at revision '{}'{}", file, ref.repo_id, ref.revision,
                      detail);
    }
    return NotFound("model repository '{}' (revision '{}') not found on {}{}", ref.repo_id, ref.revision,
                    options_.endpoint, detail);
  }
  return Unavailable("{} answered HTTP {} for '{}' of '{}'{}", options_.endpoint, status, file, ref.repo_id, detail);
}

Result<HubClient::Metadata> HubClient::fetch_metadata(const RepoRef& ref, const std::string& file, bool optional,
                                                     bool* missing) {
  *missing = false;
  std::string url = options_.endpoint + "/" + ref.repo_id + "/resolve/" + url_quote(ref.revision, false) + "/" +
                    url_quote(file, true);
  HttpOptions http;
  http.connect_timeout_ms = options_.connect_timeout_ms;
  int backoff = options_.initial_backoff_ms;
  for (int attempt = 1;; ++attempt) {
    std::string current = url;
    Result<HttpResponse> r = Status(ErrorCode::kInternal, "no request made");
    for (int hop = 0; hop < 10; ++hop) {
      http.headers = auth_headers(current);
      counters_->metadata_requests++;
      r = http_head(current, http);
      if (!r.ok() || r->status < 300 || r->status >= 400) break;
      std::string loc = r->header("location");
      if (loc.empty() || !is_relative_redirect(loc)) break;  // absolute: the content URL
      current = join_redirect(current, loc);                 // relative: a renamed repo
    }
    bool transient = !r.ok() ? r.status().code() == ErrorCode::kUnavailable : transient_status(r->status);
    if (transient && attempt < options_.max_attempts) {
      spdlog::warn("hub: {} for {} (attempt {}/{}), retrying in {} ms",
                   r.ok() ? fmt::format("HTTP {}", r->status) : r.status().message(), file, attempt,
                   options_.max_attempts, backoff);
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
      backoff *= 2;
      continue;
    }
    if (!r.ok()) return r.status();
    const HttpResponse& resp = *r;
    if (resp.status >= 400) {
      std::string code = resp.header("x-error-code");
      if (resp.status == 404 && optional && (code == "EntryNotFound" || code.empty())) {
        *missing = true;
        return Metadata{};
      }
      return http_error(resp.status, code, resp.header("x-error-message"), ref, file);
    }
    Metadata m;
    m.commit = resp.header("x-repo-commit");
    m.etag = normalize_etag(resp.header("x-linked-etag").empty() ? resp.header("etag") : resp.header("x-linked-etag"));
    std::string size = resp.header("x-linked-size").empty() ? resp.header("content-length")
                                                            : resp.header("x-linked-size");
    m.size = size.empty() ? -1 : std::strtoll(size.c_str(), nullptr, 10);
    m.location = resp.status >= 300 ? resp.header("location") : current;
    if (!is_commit_hash(m.commit)) {
      return DataLoss("{} did not send a commit (X-Repo-Commit) for '{}' of '{}': is HF_ENDPOINT a Hugging Face Hub?",
                      options_.endpoint, file, ref.repo_id);
    }
    if (!safe_etag(m.etag)) {
      return DataLoss("{} sent no usable ETag for '{}' of '{}'", options_.endpoint, file, ref.repo_id);
    }
    return m;
  }
}

Status HubClient::fetch_blob(const RepoRef& ref, const Metadata& meta, const std::string& file, Progress* progress) {
  const std::string blob = cache_.blob_path(ref.repo_id, meta.etag);
  const std::string incomplete = blob + ".incomplete";
  std::error_code ec;
  fs::create_directories(fs::path(blob).parent_path(), ec);
  if (ec) return IoError("{}: cannot create: {}", fs::path(blob).parent_path().string(), ec.message());
  HttpOptions http;
  http.connect_timeout_ms = options_.connect_timeout_ms;
  int backoff = options_.initial_backoff_ms;
  bool restarted = false;
  for (int attempt = 1;; ++attempt) {
    int64_t have = fs::exists(incomplete, ec) ? static_cast<int64_t>(fs::file_size(incomplete, ec)) : 0;
    if (meta.size >= 0 && have > meta.size) {
      fs::remove(incomplete, ec);
      have = 0;
    }
    if (have > 0 && attempt == 1) spdlog::info("hub: resuming {} of {} at byte {}", file, ref.repo_id, have);
    int64_t reported = 0;
    http.headers = auth_headers(meta.location);
    auto r = http_get_to_file(meta.location, http, incomplete, have, [&](int64_t received) {
      if (progress != nullptr) progress->add(received - reported);
      counters_->bytes += received - reported;
      reported = received;
      return true;
    });
    bool transient = !r.ok() ? r.status().code() == ErrorCode::kUnavailable : transient_status(r->status);
    if (r.ok() && r->status == 416 && !restarted) {  // our partial file is useless: start over
      fs::remove(incomplete, ec);
      restarted = true;
      continue;
    }
    if (r.ok() && (r->status == 200 || r->status == 206)) {
      int64_t size = static_cast<int64_t>(fs::file_size(incomplete, ec));
      if (meta.size < 0 || size == meta.size) break;
      transient = size < meta.size;  // the connection ended early: resume
      if (!transient) {
        fs::remove(incomplete, ec);
        return DataLoss("'{}' of '{}': downloaded {} bytes, the Hub announced {}", file, ref.repo_id, size,
                        meta.size);
      }
    }
    if (transient && attempt < options_.max_attempts) {
      spdlog::warn("hub: download of {} interrupted ({}), attempt {}/{}, retrying in {} ms", file,
                   r.ok() ? fmt::format("HTTP {}", r->status) : r.status().message(), attempt, options_.max_attempts,
                   backoff);
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
      backoff *= 2;
      continue;
    }
    if (!r.ok()) return r.status().with_context(fmt::format("downloading '{}' of '{}'", file, ref.repo_id));
    if (r->status >= 400) return http_error(r->status, r->header("x-error-code"), "", ref, file);
    return Unavailable("downloading '{}' of '{}' failed after {} attempts", file, ref.repo_id, attempt);
  }
  Status verified = verify_file_against_etag(incomplete, meta.etag);
  if (!verified.ok()) {
    fs::remove(incomplete, ec);  // never keep a corrupt blob
    return verified.with_context(fmt::format("'{}' of '{}' was removed", file, ref.repo_id));
  }
  fs::rename(incomplete, blob, ec);
  if (ec) return IoError("{}: cannot move into place: {}", blob, ec.message());
  return Status::Ok();
}

Result<std::string> HubClient::resolve_commit(const RepoRef& ref) {
  if (options_.offline) {
    auto commit = cache_.resolve_revision(ref.repo_id, ref.revision);
    if (!commit) {
      return NotFound("HF_HUB_OFFLINE=1 and revision '{}' of '{}' is not in the cache {}", ref.revision, ref.repo_id,
                      cache_.root());
    }
    return *commit;
  }
  bool missing = false;
  ERIC_ASSIGN_OR_RETURN(Metadata m, fetch_metadata(ref, "config.json", false, &missing));
  ERIC_RETURN_IF_ERROR(cache_.write_ref(ref.repo_id, ref.revision, m.commit));
  return m.commit;
}

Result<std::string> HubClient::download(const RepoRef& ref, const std::string& commit, const std::string& file,
                                        bool optional) {
  if (file.empty() || file.find("..") != std::string::npos || file[0] == '/') {
    return InvalidArgument("invalid file name '{}'", file);
  }
  if (options_.offline) {
    if (auto p = cache_.cached_file(ref.repo_id, commit, file)) return *p;
    if (optional) return std::string();
    return NotFound("HF_HUB_OFFLINE=1 and '{}' of '{}' (commit {}) is not in the cache {}", file, ref.repo_id, commit,
                    cache_.root());
  }
  RepoRef pinned{ref.repo_id, commit};  // every file from the same commit
  bool missing = false;
  ERIC_ASSIGN_OR_RETURN(Metadata meta, fetch_metadata(pinned, file, optional, &missing));
  if (missing) {
    ERIC_RETURN_IF_ERROR(cache_.mark_missing(ref.repo_id, commit, file));
    return std::string();
  }
  std::string blob = cache_.blob_path(ref.repo_id, meta.etag);
  std::error_code ec;
  if (!fs::exists(blob, ec)) {
    std::string lock_path = (fs::path(cache_.root()) / ".locks" / fs::path(cache_.repo_dir(ref.repo_id)).filename() /
                             (meta.etag + ".lock"))
                                .string();
    ERIC_ASSIGN_OR_RETURN(BlobLock lock, BlobLock::acquire(lock_path));
    if (!fs::exists(blob, ec)) {  // another process may have finished it meanwhile
      // Progress only for weight-sized files: configs would just add noise.
      std::unique_ptr<Progress> progress;
      if (meta.size >= kProgressMinBytes) {
        progress = std::make_unique<Progress>(fmt::format("downloading {}", file), meta.size);
      }
      ERIC_RETURN_IF_ERROR(fetch_blob(ref, meta, file, progress.get()));
    }
  }
  ERIC_RETURN_IF_ERROR(cache_.link_snapshot(ref.repo_id, commit, file, meta.etag));
  return cache_.snapshot_path(ref.repo_id, commit, file);
}

Status HubClient::download_all(const RepoRef& ref, const std::string& commit, const std::vector<std::string>& files) {
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status first_error;
  auto worker = [&] {
    for (;;) {
      size_t i = next++;
      if (i >= files.size()) return;
      auto r = download(ref, commit, files[i], false);
      if (!r.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok()) first_error = r.status();
      }
    }
  };
  size_t n = std::min<size_t>(files.size(), static_cast<size_t>(std::max(1, options_.max_parallel_downloads)));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < n; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  return first_error;
}

}  // namespace eric::hub
