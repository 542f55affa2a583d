#include "distributed/shm_segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace eric::distributed {

namespace {

constexpr std::string_view kPrefix = "eric-";

Result<std::string> random_hex() {
  uint64_t r = 0;
  if (getrandom(&r, sizeof(r), 0) != static_cast<ssize_t>(sizeof(r))) {
    return IoError("getrandom failed: {}", std::strerror(errno));
  }
  return fmt::format("{:016x}", r);
}

Result<void*> map_fd(int fd, size_t bytes, const std::string& name) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return IoError("mmap of shared memory {} ({} bytes) failed: {}", name, bytes, std::strerror(errno));
  return p;
}

}  // namespace

Result<ShmSegment> ShmSegment::create(std::string_view tag, size_t bytes) {
  if (bytes == 0) return InvalidArgument("shared memory segment '{}' of 0 bytes", tag);
  ERIC_ASSIGN_OR_RETURN(std::string rnd, random_hex());
  std::string name = fmt::format("/{}{}-{}-{}", kPrefix, getpid(), tag, rnd);
  int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return IoError("shm_open({}) failed: {}", name, std::strerror(errno));
  // Freshly created shm objects read as zeros after ftruncate.
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    int err = errno;
    close(fd);
    shm_unlink(name.c_str());
    return ResourceExhausted("cannot size shared memory {} to {} bytes: {}", name, bytes, std::strerror(err));
  }
  auto p = map_fd(fd, bytes, name);
  close(fd);
  if (!p.ok()) {
    shm_unlink(name.c_str());
    return p.status();
  }
  ShmSegment s;
  s.name_ = std::move(name);
  s.data_ = *p;
  s.size_ = bytes;
  s.owner_ = true;
  return s;
}

Result<ShmSegment> ShmSegment::open(const std::string& name) {
  int fd = shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) return NotFound("cannot open shared memory {}: {}", name, std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size <= 0) {
    close(fd);
    return IoError("shared memory {} is empty or unreadable", name);
  }
  auto p = map_fd(fd, static_cast<size_t>(st.st_size), name);
  close(fd);
  if (!p.ok()) return p.status();
  ShmSegment s;
  s.name_ = name;
  s.data_ = *p;
  s.size_ = static_cast<size_t>(st.st_size);
  return s;
}

ShmSegment::ShmSegment(ShmSegment&& o) noexcept { *this = std::move(o); }

ShmSegment& ShmSegment::operator=(ShmSegment&& o) noexcept {
  if (this != &o) {
    reset();
    name_ = std::move(o.name_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    owner_ = std::exchange(o.owner_, false);
  }
  return *this;
}

ShmSegment::~ShmSegment() { reset(); }

void ShmSegment::unlink() {
  if (owner_ && !name_.empty()) {
    shm_unlink(name_.c_str());
    owner_ = false;
  }
}

void ShmSegment::reset() {
  unlink();
  if (data_ != nullptr) munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
  name_.clear();
}

int cleanup_stale_shm_segments() {
  DIR* dir = opendir("/dev/shm");
  if (dir == nullptr) return 0;
  int removed = 0;
  while (struct dirent* e = readdir(dir)) {
    std::string_view n(e->d_name);
    if (n.substr(0, kPrefix.size()) != kPrefix) continue;
    std::string_view rest = n.substr(kPrefix.size());
    size_t dash = rest.find('-');
    if (dash == std::string_view::npos || dash == 0 || dash > 9) continue;
    pid_t pid = 0;
    bool numeric = true;
    for (char c : rest.substr(0, dash)) {
      if (c < '0' || c > '9') { numeric = false; break; }
      pid = pid * 10 + (c - '0');
    }
    if (!numeric || pid <= 0) continue;
    // EPERM means the process exists (owned by someone else): leave it.
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::string name("/");
    name.append(n);
    if (shm_unlink(name.c_str()) == 0) {
      spdlog::info("removed stale shared memory {} (creator pid {} is gone)", name, pid);
      ++removed;
    }
  }
  closedir(dir);
  return removed;
}

}  // namespace eric::distributed
