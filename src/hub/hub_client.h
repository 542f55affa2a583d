// Downloads files of a Hugging Face Hub model repository into the
// huggingface_hub cache (hub_cache.h), as hf_hub_download does: a HEAD on
// <endpoint>/<repo>/resolve/<revision>/<file> gives the commit
// (X-Repo-Commit), the blob name (X-Linked-Etag or ETag), the size and,
// for large files, a redirect to the content URL; the blob is downloaded
// once (resuming a .incomplete file with Range), checked against its
// digest, and linked into the snapshot folder.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "hub/hub_cache.h"
#include "hub/progress.h"

namespace eric::hub {

struct HubOptions {
  std::string endpoint;     // default: $HF_ENDPOINT or https://huggingface.co
  std::string token;        // default: $HF_TOKEN, else the token file huggingface_hub writes
  std::string cache_root;   // default: default_cache_root()
  bool offline = false;     // default: $HF_HUB_OFFLINE=1
  int max_parallel_downloads = 8;
  int max_attempts = 5;             // per request, for transient failures
  int initial_backoff_ms = 500;     // doubled after each failed attempt
  long connect_timeout_ms = 10'000;

  // Fills unset fields from the environment.
  static HubOptions from_environment();
};

struct RepoRef {
  std::string repo_id;   // "org/name"
  std::string revision;  // branch, tag or commit; default "main"
};

// "org/name" or "org/name@revision"; validates the characters like the Hub.
Result<RepoRef> parse_repo_ref(const std::string& text);

class HubClient {
 public:
  explicit HubClient(HubOptions options);

  const HubOptions& options() const { return options_; }
  const HubCache& cache() const { return cache_; }

  // Resolves the revision to a commit (a metadata request online; refs/ offline).
  Result<std::string> resolve_commit(const RepoRef& ref);

  // Makes `file` available in snapshots/<commit>/ and returns its path. When
  // `optional` and the file does not exist in the repo, returns "" instead of
  // an error.
  Result<std::string> download(const RepoRef& ref, const std::string& commit, const std::string& file, bool optional);

  // Downloads several files in parallel (bounded by max_parallel_downloads).
  Status download_all(const RepoRef& ref, const std::string& commit, const std::vector<std::string>& files);

  // Metadata requests made so far (HEAD), and content bytes downloaded.
  int64_t metadata_requests() const;
  int64_t bytes_downloaded() const;

 private:
  struct Metadata {
    std::string commit, etag, location;
    int64_t size = -1;
  };
  Result<Metadata> fetch_metadata(const RepoRef& ref, const std::string& file, bool optional, bool* missing);
  Status fetch_blob(const RepoRef& ref, const Metadata& meta, const std::string& file, Progress* progress);
  std::vector<std::string> auth_headers(const std::string& url) const;
  Status http_error(long status, const std::string& error_code, const std::string& message, const RepoRef& ref,
                    const std::string& file) const;

  HubOptions options_;
  HubCache cache_;
  struct Counters;
  std::shared_ptr<Counters> counters_;
};

}  // namespace eric::hub
