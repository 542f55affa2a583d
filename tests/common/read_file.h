// read_file: a whole file as bytes, the one such helper of the tests (golden
// data, logs, checkpoints); test binaries include this header rather than
// writing their own ifstream/rdbuf loop.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace eric::testing {

// The file's bytes; "" when it cannot be read (tests compare or parse the
// result, so a missing file fails there, naming what was expected).
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace eric::testing
