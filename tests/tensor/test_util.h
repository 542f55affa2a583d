// Helpers shared by the tensor tests.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "../common/temp_dir.h"  // TempDir

namespace eric::testing {

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace eric::testing
