#include "fake_hub.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

namespace eric::testing {

namespace {

std::string hex_digest(const EVP_MD* md, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
    s.push_back(kHex[out[i] >> 4]);
    s.push_back(kHex[out[i] & 15]);
  }
  return s;
}

void send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

std::string status_line(int code) {
  switch (code) {
    case 200: return "HTTP/1.1 200 OK\r\n";
    case 206: return "HTTP/1.1 206 Partial Content\r\n";
    case 302: return "HTTP/1.1 302 Found\r\n";
    case 401: return "HTTP/1.1 401 Unauthorized\r\n";
    case 404: return "HTTP/1.1 404 Not Found\r\n";
    case 416: return "HTTP/1.1 416 Range Not Satisfiable\r\n";
    default: return "HTTP/1.1 500 Internal Server Error\r\n";
  }
}

}  // namespace

std::string sha256_hex(const std::string& data) { return hex_digest(EVP_sha256(), data); }
std::string git_blob_sha1_hex(const std::string& data) {
  std::string prefixed = "blob " + std::to_string(data.size());
  prefixed.push_back('\0');
  return hex_digest(EVP_sha1(), prefixed + data);
}

FakeHub::FakeHub() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  ::listen(listen_fd_, 64);
  acceptor_ = std::thread([this] { serve(); });
}

FakeHub::~FakeHub() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> handlers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    handlers.swap(handlers_);
  }
  for (auto& t : handlers) t.join();
}

void FakeHub::add_file(const std::string& repo, const std::string& revision, const std::string& commit,
                       const std::string& path, const std::string& content, bool lfs) {
  std::lock_guard<std::mutex> lock(mu_);
  Repo& r = repos_[repo];
  r.refs[revision] = commit;
  File& f = r.commits[commit][path];
  f.content = content;
  f.lfs = lfs;
  f.sha256 = sha256_hex(content);
  f.git_sha1 = git_blob_sha1_hex(content);
  if (lfs) blobs_[f.sha256] = &f;
}

void FakeHub::set_gated(const std::string& repo, const std::string& token) {
  std::lock_guard<std::mutex> lock(mu_);
  repos_[repo].gate_token = token;
}

void FakeHub::drop_connections(int n) { std::lock_guard<std::mutex> lock(mu_); drop_ = n; }
void FakeHub::fail_with_500(int n) { std::lock_guard<std::mutex> lock(mu_); fail500_ = n; }
void FakeHub::truncate_content(int n, double fraction) {
  std::lock_guard<std::mutex> lock(mu_);
  truncate_ = n;
  truncate_fraction_ = fraction;
}
void FakeHub::corrupt_content(const std::string& sha256) { std::lock_guard<std::mutex> lock(mu_); corrupt_[sha256] = true; }

std::vector<FakeHub::Request> FakeHub::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

int FakeHub::count(const std::string& method, const std::string& path_substring) const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& r : log_) n += r.method == method && r.path.find(path_substring) != std::string::npos;
  return n;
}

void FakeHub::serve() {
  while (!stopping_) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) return;
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    handlers_.emplace_back([this, fd] { handle(fd); });
  }
}

void FakeHub::handle(int fd) {
  // One request per connection (we answer with Connection: close).
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  std::istringstream in(req);
  std::string method, target, version, line;
  in >> method >> target >> version;
  std::getline(in, line);
  std::map<std::string, std::string> headers;
  while (std::getline(in, line) && line != "\r" && !line.empty()) {
    auto c = line.find(':');
    if (c == std::string::npos) continue;
    std::string k = line.substr(0, c), v = line.substr(c + 1);
    for (auto& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    headers[k] = v;
  }
  bool sent = false;
  std::string response = respond(method, target, headers, fd, &sent);
  if (!sent) send_all(fd, response);
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

std::string FakeHub::respond(const std::string& method, const std::string& target,
                             const std::map<std::string, std::string>& headers, int fd, bool* already_sent) {
  std::unique_lock<std::mutex> lock(mu_);
  auto header = [&](const std::string& k) {
    auto it = headers.find(k);
    return it == headers.end() ? std::string() : it->second;
  };
  log_.push_back({method, target, header("range")});
  if (drop_ > 0) {
    --drop_;
    *already_sent = true;
    return "";
  }
  if (fail500_ > 0) {
    --fail500_;
    return status_line(500) + "Content-Length: 0\r\nConnection: close\r\n\r\n";
  }
  auto error = [](int code, const std::string& error_code) {
    return status_line(code) + "X-Error-Code: " + error_code + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  };
  // Content URL: /cdn/<sha256>
  if (target.rfind("/cdn/", 0) == 0) {
    auto it = blobs_.find(target.substr(5));
    if (it == blobs_.end()) return error(404, "EntryNotFound");
    std::string content = it->second->content;
    if (corrupt_.count(it->first) && !content.empty()) content[content.size() / 2] ^= 0x5a;
    size_t from = 0;
    std::string range = header("range");
    if (range.rfind("bytes=", 0) == 0) from = std::stoull(range.substr(6));
    if (from > content.size()) return error(416, "");
    std::string body = content.substr(from);
    std::string head = status_line(from > 0 ? 206 : 200) + "Content-Length: " + std::to_string(body.size()) +
                       "\r\nConnection: close\r\n";
    if (from > 0) {
      head += "Content-Range: bytes " + std::to_string(from) + "-" + std::to_string(content.size() - 1) + "/" +
              std::to_string(content.size()) + "\r\n";
    }
    head += "\r\n";
    if (method == "HEAD") return head;
    size_t send_bytes = body.size();
    if (truncate_ > 0) {
      --truncate_;
      send_bytes = static_cast<size_t>(static_cast<double>(body.size()) * truncate_fraction_);
    }
    content_bytes_ += static_cast<int64_t>(send_bytes);
    lock.unlock();
    send_all(fd, head + body.substr(0, send_bytes));
    *already_sent = true;
    return "";
  }
  // Resolve URL: /<org>/<name>/resolve/<revision>/<path>
  auto pos = target.find("/resolve/");
  if (pos == std::string::npos) return error(404, "");
  std::string repo = target.substr(1, pos - 1);
  std::string rest = target.substr(pos + 9);
  auto slash = rest.find('/');
  std::string revision = rest.substr(0, slash), path = slash == std::string::npos ? "" : rest.substr(slash + 1);
  for (std::string* s : {&revision, &path}) {  // undo percent-encoding
    std::string out;
    for (size_t i = 0; i < s->size(); ++i) {
      if ((*s)[i] == '%' && i + 2 < s->size()) {
        out.push_back(static_cast<char>(std::stoi(s->substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        out.push_back((*s)[i]);
      }
    }
    *s = out;
  }
  auto r = repos_.find(repo);
  if (r == repos_.end()) return error(401, "RepoNotFound");
  if (!r->second.gate_token.empty() && header("authorization") != "Bearer " + r->second.gate_token) {
    return error(401, "GatedRepo");
  }
  std::string commit = revision;
  if (auto ref = r->second.refs.find(revision); ref != r->second.refs.end()) commit = ref->second;
  auto c = r->second.commits.find(commit);
  if (c == r->second.commits.end()) return error(404, "RevisionNotFound");
  auto f = c->second.find(path);
  if (f == c->second.end()) return error(404, "EntryNotFound");
  const File& file = f->second;
  std::string common = "X-Repo-Commit: " + commit + "\r\nConnection: close\r\n";
  if (file.lfs) {
    return status_line(302) + common + "ETag: \"" + file.git_sha1 + "\"\r\nX-Linked-Etag: \"" + file.sha256 +
           "\"\r\nX-Linked-Size: " + std::to_string(file.content.size()) + "\r\nLocation: http://127.0.0.1:" +
           std::to_string(port_) + "/cdn/" + file.sha256 + "\r\nContent-Length: 0\r\n\r\n";
  }
  std::string head = status_line(200) + common + "ETag: \"" + file.git_sha1 + "\"\r\nContent-Length: " +
                     std::to_string(file.content.size()) + "\r\n\r\n";
  if (method == "HEAD") return head;
  content_bytes_ += static_cast<int64_t>(file.content.size());
  return head + file.content;
}

}  // namespace eric::testing
