// The huggingface_hub cache layout, shared with Python:
//   <root>/models--<org>--<name>/
//     refs/<revision>              commit hash of a branch/tag
//     blobs/<etag>                 file contents, named by ETag
//     blobs/<etag>.incomplete      a download in progress (resumable)
//     snapshots/<commit>/<file>    relative symlink to ../../blobs/<etag>
//     .no_exist/<commit>/<file>    empty marker: the file does not exist there
// Root: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
#pragma once

#include <optional>
#include <string>

#include "common/status.h"

namespace eric::hub {

std::string default_cache_root();
bool is_commit_hash(const std::string& revision);

class HubCache {
 public:
  explicit HubCache(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }

  std::string repo_dir(const std::string& repo_id) const;  // models--org--name
  std::string blob_path(const std::string& repo_id, const std::string& etag) const;
  std::string snapshot_dir(const std::string& repo_id, const std::string& commit) const;
  std::string snapshot_path(const std::string& repo_id, const std::string& commit, const std::string& file) const;

  // Commit for a revision: the revision itself when it is a commit hash, else refs/<revision>.
  std::optional<std::string> resolve_revision(const std::string& repo_id, const std::string& revision) const;
  Status write_ref(const std::string& repo_id, const std::string& revision, const std::string& commit) const;

  // The snapshot file when cached (following its symlink to an existing blob).
  std::optional<std::string> cached_file(const std::string& repo_id, const std::string& commit,
                                         const std::string& file) const;
  bool known_missing(const std::string& repo_id, const std::string& commit, const std::string& file) const;
  Status mark_missing(const std::string& repo_id, const std::string& commit, const std::string& file) const;

  // Points snapshots/<commit>/<file> at blobs/<etag> with a relative symlink.
  Status link_snapshot(const std::string& repo_id, const std::string& commit, const std::string& file,
                       const std::string& etag) const;

 private:
  std::string root_;
};

}  // namespace eric::hub
