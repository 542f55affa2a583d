#include "hub/hub_cache.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace eric::hub {

namespace fs = std::filesystem;

std::string default_cache_root() {
  if (const char* c = std::getenv("HF_HUB_CACHE"); c != nullptr && *c) return c;
  if (const char* h = std::getenv("HF_HOME"); h != nullptr && *h) return (fs::path(h) / "hub").string();
  const char* home = std::getenv("HOME");
  std::string base = home != nullptr && *home ? home : "/tmp";
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x) {
    return (fs::path(x) / "huggingface" / "hub").string();
  }
  return (fs::path(base) / ".cache" / "huggingface" / "hub").string();
}

bool is_commit_hash(const std::string& revision) {
  return revision.size() == 40 && std::all_of(revision.begin(), revision.end(), [](unsigned char c) {
           return std::isdigit(c) || (c >= 'a' && c <= 'f');
         });
}

std::string HubCache::repo_dir(const std::string& repo_id) const {
  std::string folder = "models--";
  for (char c : repo_id) {
    if (c == '/') folder += "--";
    else folder.push_back(c);
  }
  return (fs::path(root_) / folder).string();
}

std::string HubCache::blob_path(const std::string& repo_id, const std::string& etag) const {
  return (fs::path(repo_dir(repo_id)) / "blobs" / etag).string();
}

std::string HubCache::snapshot_dir(const std::string& repo_id, const std::string& commit) const {
  return (fs::path(repo_dir(repo_id)) / "snapshots" / commit).string();
}

std::string HubCache::snapshot_path(const std::string& repo_id, const std::string& commit,
                                    const std::string& file) const {
  return (fs::path(snapshot_dir(repo_id, commit)) / file).string();
}

std::optional<std::string> HubCache::resolve_revision(const std::string& repo_id, const std::string& revision) const {
  if (is_commit_hash(revision)) return revision;
  std::ifstream in(fs::path(repo_dir(repo_id)) / "refs" / revision);
  if (!in) return std::nullopt;
  std::string commit;
  std::getline(in, commit);
  while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) commit.pop_back();
  if (!is_commit_hash(commit)) return std::nullopt;
  return commit;
}

Status HubCache::write_ref(const std::string& repo_id, const std::string& revision, const std::string& commit) const {
  if (revision == commit) return Status::Ok();
  fs::path ref = fs::path(repo_dir(repo_id)) / "refs" / revision;
  std::error_code ec;
  fs::create_directories(ref.parent_path(), ec);
  if (ec) return IoError("{}: cannot create: {}", ref.parent_path().string(), ec.message());
  // Write-then-rename so a concurrent reader never sees half a hash.
  std::random_device rd;
  fs::path tmp = ref.string() + ".tmp" + std::to_string(rd());
  {
    std::ofstream out(tmp);
    out << commit;
    if (!out) return IoError("{}: cannot write", tmp.string());
  }
  fs::rename(tmp, ref, ec);
  if (ec) return IoError("{}: cannot write: {}", ref.string(), ec.message());
  return Status::Ok();
}

std::optional<std::string> HubCache::cached_file(const std::string& repo_id, const std::string& commit,
                                                 const std::string& file) const {
  std::string p = snapshot_path(repo_id, commit, file);
  std::error_code ec;
  if (fs::exists(p, ec) && fs::is_regular_file(p, ec)) return p;  // follows the symlink
  return std::nullopt;
}

bool HubCache::known_missing(const std::string& repo_id, const std::string& commit, const std::string& file) const {
  std::error_code ec;
  return fs::exists(fs::path(repo_dir(repo_id)) / ".no_exist" / commit / file, ec);
}

Status HubCache::mark_missing(const std::string& repo_id, const std::string& commit, const std::string& file) const {
  fs::path p = fs::path(repo_dir(repo_id)) / ".no_exist" / commit / file;
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  std::ofstream out(p);
  if (!out) return IoError("{}: cannot write", p.string());
  return Status::Ok();
}

Status HubCache::link_snapshot(const std::string& repo_id, const std::string& commit, const std::string& file,
                               const std::string& etag) const {
  fs::path link = snapshot_path(repo_id, commit, file);
  fs::path blob = blob_path(repo_id, etag);
  std::error_code ec;
  fs::create_directories(link.parent_path(), ec);
  if (ec) return IoError("{}: cannot create: {}", link.parent_path().string(), ec.message());
  fs::path target = fs::relative(blob, link.parent_path(), ec);
  if (ec) return IoError("cannot relate {} to {}: {}", blob.string(), link.string(), ec.message());
  fs::remove(link, ec);
  fs::create_symlink(target, link, ec);
  if (ec) return IoError("{}: cannot create symlink: {}", link.string(), ec.message());
  return Status::Ok();
}

}  // namespace eric::hub
