// file:// URLs, readable only inside the folders given with
// --allowed-local-media-path. Both the folders and the target are
// canonicalised (symlinks resolved, '.' and '..' removed) before the
// containment check, so neither '..' nor a symlink can lead outside. The
// file is then opened without following a final symlink and read through
// that descriptor, bounded by max_bytes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "media/loader_parts.h"

namespace eric::media {
namespace {

namespace fs = std::filesystem;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
    const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) return InvalidArgument("file:// URL has a malformed percent-escape at offset {}", i);
    const char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') return InvalidArgument("file:// URL contains an escaped NUL byte");
    out += c;
    i += 2;
  }
  return out;
}

// True when `path` is `root` or below it, comparing whole components.
bool is_within(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // a trailing separator gives an empty last component
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> canonicalize_roots(const std::vector<std::string>& paths) {
  std::vector<std::string> roots;
  for (const std::string& p : paths) {
    if (p.empty()) continue;
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(fs::absolute(p, ec), ec);
    if (ec) continue;
    roots.push_back(canonical.lexically_normal().string());
  }
  return roots;
}

Result<LoadedMedia> load_local_file(std::string_view url, const std::vector<std::string>& canonical_roots,
                                    int64_t max_bytes) {
  if (canonical_roots.empty()) {
    return PermissionDenied(
        "file:// URLs are disabled: start eric with --allowed-local-media-path DIR to allow files under DIR ({})",
        describe_url(url));
  }
  std::string_view rest = url.substr(7);  // after "file://"
  if (rest.substr(0, 9) == "localhost") rest.remove_prefix(9);
  if (rest.empty() || rest[0] != '/') {
    return InvalidArgument("file:// URL must hold an absolute path (file:///path/to/file): {}", describe_url(url));
  }
  const size_t query = rest.find_first_of("?#");
  ERIC_ASSIGN_OR_RETURN(std::string decoded, percent_decode(rest.substr(0, query)));

  std::error_code ec;
  const fs::path target = fs::canonical(fs::path(decoded), ec);
  if (ec) return NotFound("file {} cannot be opened: {}", decoded, ec.message());
  bool allowed = false;
  for (const std::string& root : canonical_roots) allowed = allowed || is_within(target, fs::path(root));
  if (!allowed) {
    return PermissionDenied("file {} (resolved to {}) is outside every --allowed-local-media-path folder", decoded,
                            target.string());
  }

  const int fd = ::open(target.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return NotFound("file {} cannot be opened: {}", target.string(), std::strerror(errno));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  // A folder on the way may have been swapped for a symlink between the
  // check above and open(): check what was actually opened.
  const fs::path opened = fs::read_symlink(fs::path("/proc/self/fd") / std::to_string(fd), ec);
  bool opened_inside = false;
  for (const std::string& root : canonical_roots) opened_inside = opened_inside || (!ec && is_within(opened, fs::path(root)));
  if (!opened_inside) {
    return PermissionDenied("file {} changed while being opened and now lies outside every --allowed-local-media-path "
                            "folder",
                            decoded);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return InvalidArgument("{} is not a regular file", target.string());
  }
  if (st.st_size > max_bytes) {
    return ResourceExhausted("file {} has {} bytes, above the limit of {} bytes (--max-download-bytes)",
                             target.string(), st.st_size, max_bytes);
  }
  LoadedMedia media;
  media.bytes.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < media.bytes.size()) {
    const ssize_t n = ::read(fd, media.bytes.data() + done, media.bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("reading {} failed: {}", target.string(), std::strerror(errno));
    if (n == 0) break;  // the file shrank while being read
    done += static_cast<size_t>(n);
  }
  media.bytes.resize(done);
  return media;
}

}  // namespace eric::media
