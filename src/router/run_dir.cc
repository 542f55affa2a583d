#include "router/run_dir.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace eric::router {

namespace fs = std::filesystem;

namespace {
constexpr const char* kPrefix = "eric-";
constexpr const char* kOwnerFile = "owner.pid";

bool process_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }
}  // namespace

std::string run_dir_base() {
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && xdg[0] == '/' && ::access(xdg, W_OK | X_OK) == 0) return xdg;
  return "/tmp";
}

Result<std::string> create_run_dir(const std::string& base) {
  std::string pattern = base + "/" + kPrefix + "XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    return IoError("cannot create a run folder under {}: {}", base, std::strerror(errno));
  }
  std::string dir(buf.data());  // mkdtemp creates it with mode 0700
  std::ofstream owner(dir + "/" + kOwnerFile);
  owner << ::getpid() << "\n";
  if (!owner) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    return IoError("cannot write {}/{}", dir, kOwnerFile);
  }
  return dir;
}

std::vector<std::string> remove_stale_run_dirs(const std::string& base) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(base, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0 || !entry.is_directory(ec)) continue;
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) != 0 || st.st_uid != ::getuid()) continue;  // never touch others' folders
    std::ifstream owner(entry.path() / kOwnerFile);
    long pid = 0;
    if (!(owner >> pid)) {
      // No owner yet: a server may be between mkdtemp and writing the file;
      // only folders that old enough are abandoned.
      if (::time(nullptr) - st.st_mtime < 60) continue;
    } else if (process_alive(static_cast<pid_t>(pid))) {
      continue;
    }
    if (remove_run_dir(entry.path().string()).ok()) removed.push_back(entry.path().string());
  }
  return removed;
}

Status remove_run_dir(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return IoError("cannot remove run folder {}: {}", path, ec.message());
  return Status::Ok();
}

}  // namespace eric::router
