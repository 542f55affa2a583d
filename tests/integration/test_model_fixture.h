// FixtureDir: the folder in which an integration test binary keeps what its
// tests share (the tiny `eric make-test-model` checkpoint, images, reference
// embeddings), made once per build tree rather than once per test. ctest runs
// test processes in parallel, so whoever fills the folder holds its lock file;
// and what is older than the eric binary is remade, because a rebuilt eric may
// write other weights or embeddings.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "tensor/tensor.h"

namespace eric::integration {

class FixtureDir {
 public:
  // Creates <build tree>/<name>/ and blocks until this process holds its lock.
  explicit FixtureDir(const std::string& name);
  ~FixtureDir();  // releases the lock
  FixtureDir(const FixtureDir&) = delete;
  FixtureDir& operator=(const FixtureDir&) = delete;

  const std::string& root() const { return root_; }
  std::string model() const { return root_ + "/model"; }
  std::string setup_log() const { return root_ + "/setup.log"; }  // the output of every setup command

  // True when `path` exists and was written after the eric binary.
  bool newer_than_eric(const std::string& path) const;

  // Writes model() afresh with `eric make-test-model --arch qwen2_vl
  // <extra_args>`; returns "" or an error that names setup_log().
  std::string make_model(const std::vector<std::string>& extra_args = {}) const;
  // make_model() unless model() is already newer than the eric binary.
  std::string ensure_model(const std::vector<std::string>& extra_args = {}) const;
  // The reference embeddings: `eric encode --model model() --image <each>
  // --out <out>` (embeddings_<i> in image order); "" or an error naming setup_log().
  std::string encode_images(const std::vector<std::string>& images, const std::string& out) const;
  // A model, `images` and their reference embeddings (float32, in image
  // order): while <root>/ref.safetensors is newer than eric they are read from
  // it, else write_images() writes the images and make_model() and
  // encode_images() the rest.
  Result<std::vector<Tensor>> model_and_references(const std::vector<std::string>& images,
                                                   const std::function<void()>& write_images) const;

 private:
  std::string root_;
  int lock_fd_ = -1;
};

}  // namespace eric::integration
