// TempDir: the one scratch-folder helper of the tests (every test binary
// includes this header rather than writing its own mkdtemp/remove_all pair).
#pragma once

#include <stdlib.h>  // mkdtemp

#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace eric::testing {

// A fresh private folder /tmp/<prefix>-XXXXXX (mkdtemp: mode 0700, a name no
// other test or run can hold), removed with everything in it at scope exit.
// It is under /tmp rather than $TMPDIR because tests bind ipc:// sockets
// inside, and a Unix socket path must stay under 108 bytes. A prefix may not
// start with "eric-": the server sweeps /tmp/eric-* folders it thinks are
// stale run folders (router/run_dir.cc), and would take a test's with them.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "eric_test") {
    if (prefix.rfind("eric-", 0) == 0) {
      throw std::invalid_argument("test folder prefix '" + std::string(prefix) + "' is the server's run-folder prefix");
    }
    std::string pattern = "/tmp/" + std::string(prefix) + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "cannot create the test folder " + pattern);
    }
    path_ = pattern;
  }
  ~TempDir() {
    if (keep_) return;
    std::error_code ec;  // a destructor must not throw; a leftover folder is harmless
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The folder as a string, for APIs that take one.
  std::string str() const { return path_.string(); }
  // A path inside the folder (nothing is created).
  std::string file(std::string_view name) const { return (path_ / name).string(); }
  // Leave the folder behind, e.g. so a failed test's logs can be read.
  void keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

}  // namespace eric::testing
