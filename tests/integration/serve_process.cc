#include "serve_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "router/http_client.h"

namespace eric::integration {

namespace fs = std::filesystem;

std::string eric_binary() { return std::string(ERIC_BINARY_DIR) + "/eric"; }

namespace {

pid_t spawn(const std::vector<std::string>& argv, const std::string& log, const std::string& runtime_dir,
            bool own_group) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    if (own_group) ::setpgid(0, 0);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    if (!runtime_dir.empty()) ::setenv("XDG_RUNTIME_DIR", runtime_dir.c_str(), 1);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

int run_command(const std::vector<std::string>& argv, const std::string& log) {
  pid_t pid = spawn(argv, log, "", false);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

void write_test_bmp(const std::string& path, int width, int height, int seed) {
  const int row_bytes = (width * 3 + 3) / 4 * 4;
  const uint32_t data_size = static_cast<uint32_t>(row_bytes * height);
  std::string out(54 + data_size, '\0');
  auto put32 = [&](size_t at, uint32_t v) { std::memcpy(&out[at], &v, 4); };
  auto put16 = [&](size_t at, uint16_t v) { std::memcpy(&out[at], &v, 2); };
  out[0] = 'B';
  out[1] = 'M';
  put32(2, 54 + data_size);
  put32(10, 54);
  put32(14, 40);
  put32(18, static_cast<uint32_t>(width));
  put32(22, static_cast<uint32_t>(height));
  put16(26, 1);
  put16(28, 24);
  put32(34, data_size);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      size_t at = 54 + static_cast<size_t>(y) * row_bytes + static_cast<size_t>(x) * 3;
      out[at + 0] = static_cast<char>((x * 7 + y * 3 + seed * 31) & 255);
      out[at + 1] = static_cast<char>((x * y + seed * 17) & 255);
      out[at + 2] = static_cast<char>(((x ^ y) * 5 + seed * 53) & 255);
    }
  }
  std::ofstream(path, std::ios::binary) << out;
}

namespace {
// pid -> (ppid, state) for every process.
std::map<pid_t, std::pair<pid_t, char>> process_table() {
  std::map<pid_t, std::pair<pid_t, char>> table;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = '?';
    pid_t ppid = 0;
    rest >> state >> ppid;
    table[std::stoi(name)] = {ppid, state};
  }
  return table;
}
}  // namespace

std::vector<pid_t> descendants(pid_t root) {
  auto table = process_table();
  std::vector<pid_t> out;
  for (const auto& [pid, info] : table) {
    for (pid_t p = info.first; p > 1;) {
      if (p == root) {
        out.push_back(pid);
        break;
      }
      auto it = table.find(p);
      if (it == table.end()) break;
      p = it->second.first;
    }
  }
  return out;
}

std::vector<pid_t> children(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& [pid, info] : process_table()) {
    if (info.first == parent && info.second != 'Z') out.push_back(pid);
  }
  return out;
}

bool process_alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

ServeProcess::ServeProcess(std::vector<std::string> args, std::string log_path, std::string runtime_dir)
    : log_path_(std::move(log_path)) {
  port_ = free_port();
  std::vector<std::string> argv = {eric_binary(), "serve", "--port", std::to_string(port_)};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = spawn(argv, log_path_, runtime_dir, /*own_group=*/true);
}

ServeProcess::~ServeProcess() {
  if (pid_ > 0) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
      ::killpg(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
}

std::string ServeProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool ServeProcess::wait_healthy(std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    auto client = router::HttpClient::connect("127.0.0.1", port_, std::chrono::seconds(5));
    if (client.ok()) {
      auto r = (*client)->get("/health");
      if (r.ok() && r->status == 200) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::optional<int> ServeProcess::stop(int sig, std::chrono::seconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  ::kill(pid_, sig);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

}  // namespace eric::integration
