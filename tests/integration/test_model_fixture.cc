#include "test_model_fixture.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "serve_process.h"
#include "tensor/safetensors.h"

namespace eric::integration {

namespace fs = std::filesystem;

namespace {

// embeddings_0 .. embeddings_<count-1> of a file encode_images() wrote, as float32.
Result<std::vector<Tensor>> read_references(const std::string& path, size_t count) {
  ERIC_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::open(path));
  std::vector<Tensor> out;
  for (size_t i = 0; i < count; ++i) {
    ERIC_ASSIGN_OR_RETURN(Tensor t, file.get("embeddings_" + std::to_string(i)));
    ERIC_ASSIGN_OR_RETURN(Tensor f32, t.to(DType::kF32));
    out.push_back(std::move(f32));
  }
  return out;
}

}  // namespace

FixtureDir::FixtureDir(const std::string& name) : root_(std::string(ERIC_BINARY_DIR) + "/" + name) {
  fs::create_directories(root_);
  const std::string lock = root_ + "/lock";
  lock_fd_ = ::open(lock.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) throw std::system_error(errno, std::generic_category(), "cannot open the fixture lock " + lock);
  ::flock(lock_fd_, LOCK_EX);
}

FixtureDir::~FixtureDir() {
  ::flock(lock_fd_, LOCK_UN);
  ::close(lock_fd_);
}

bool FixtureDir::newer_than_eric(const std::string& path) const {
  std::error_code ec;
  return fs::exists(path) && fs::last_write_time(path, ec) > fs::last_write_time(eric_binary(), ec);
}

std::string FixtureDir::make_model(const std::vector<std::string>& extra_args) const {
  std::error_code ec;
  fs::remove_all(model(), ec);
  std::vector<std::string> argv = {eric_binary(), "make-test-model", "--arch", "qwen2_vl"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  argv.insert(argv.end(), {"--out", model()});
  if (run_command(argv, setup_log()) != 0) return "make-test-model failed, see " + setup_log();
  return "";
}

std::string FixtureDir::ensure_model(const std::vector<std::string>& extra_args) const {
  return newer_than_eric(model() + "/config.json") ? "" : make_model(extra_args);
}

std::string FixtureDir::encode_images(const std::vector<std::string>& images, const std::string& out) const {
  std::vector<std::string> argv = {eric_binary(), "encode", "--model", model(), "--out", out};
  for (const std::string& image : images) argv.insert(argv.end(), {"--image", image});
  if (run_command(argv, setup_log()) != 0) return "eric encode failed, see " + setup_log();
  return "";
}

Result<std::vector<Tensor>> FixtureDir::model_and_references(const std::vector<std::string>& images,
                                                             const std::function<void()>& write_images) const {
  const std::string refs = root_ + "/ref.safetensors";
  if (!newer_than_eric(refs)) {
    std::error_code ec;
    fs::remove(refs, ec);  // a failed remake must not leave the old references looking valid
    write_images();
    std::string error = make_model();
    if (error.empty()) error = encode_images(images, refs);
    if (!error.empty()) return Internal("{}", error);
  }
  return read_references(refs, images.size());
}

}  // namespace eric::integration
