// A fake Hugging Face Hub on loopback for tests: the resolve endpoint (HEAD
// and GET) with the Hub's headers (X-Repo-Commit, ETag, X-Linked-Etag,
// X-Linked-Size, X-Error-Code), LFS files redirected to a content URL with
// Range support, a gated repo, and fault injection (dropped connections,
// truncated bodies, corrupt content, 500s).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace eric::testing {

class FakeHub {
 public:
  FakeHub();
  ~FakeHub();

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Adds a file at `commit`; `revision` (e.g. "main") points at commit.
  void add_file(const std::string& repo, const std::string& revision, const std::string& commit,
                const std::string& path, const std::string& content, bool lfs);
  void set_gated(const std::string& repo, const std::string& token);

  // Faults (each applies to the next N matching requests).
  void drop_connections(int n);                        // close without answering
  void fail_with_500(int n);
  void truncate_content(int n, double fraction);       // LFS content GETs end early
  void corrupt_content(const std::string& sha256);     // serve wrong bytes for this blob

  struct Request {
    std::string method, path, range;
  };
  std::vector<Request> requests() const;
  int count(const std::string& method, const std::string& path_substring) const;
  int64_t content_bytes_served() const { return content_bytes_.load(); }

 private:
  struct File {
    std::string content, sha256, git_sha1;
    bool lfs = false;
  };
  struct Repo {
    std::map<std::string, std::string> refs;                        // revision -> commit
    std::map<std::string, std::map<std::string, File>> commits;     // commit -> path -> file
    std::string gate_token;                                          // non-empty: gated
  };
  void serve();
  void handle(int fd);
  std::string respond(const std::string& method, const std::string& target,
                      const std::map<std::string, std::string>& headers, int fd, bool* already_sent);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::vector<std::thread> handlers_;
  mutable std::mutex mu_;
  std::map<std::string, Repo> repos_;
  std::map<std::string, const File*> blobs_;  // sha256 -> file (LFS content URL)
  std::vector<Request> log_;
  int drop_ = 0, fail500_ = 0, truncate_ = 0;
  double truncate_fraction_ = 0.5;
  std::map<std::string, bool> corrupt_;
  std::atomic<int64_t> content_bytes_{0};
};

std::string sha256_hex(const std::string& data);
std::string git_blob_sha1_hex(const std::string& data);

}  // namespace eric::testing
