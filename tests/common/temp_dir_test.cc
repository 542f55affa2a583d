// The tests' shared scratch folder (tests/common/temp_dir.h).
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

namespace eric::testing {
namespace {

namespace fs = std::filesystem;

TEST(TempDirTest, CreatesAPrivateFolderUnderTmpAndRemovesItWithItsContents) {
  fs::path kept;
  {
    TempDir dir("eric_temp_dir_test");
    kept = dir.path();
    EXPECT_EQ(kept.parent_path(), "/tmp");
    EXPECT_EQ(kept.filename().string().rfind("eric_temp_dir_test-", 0), 0u) << kept;
    ASSERT_TRUE(fs::is_directory(kept));
    EXPECT_TRUE(fs::is_empty(kept));
    struct stat st {};
    ASSERT_EQ(::stat(kept.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    fs::create_directories(kept / "a" / "b");
    std::ofstream(dir.file("a/b/c.txt")) << "x";
    EXPECT_EQ(dir.file("x.bin"), (kept / "x.bin").string());
    EXPECT_EQ(dir.str(), kept.string());
  }
  EXPECT_FALSE(fs::exists(kept));
}

TEST(TempDirTest, TwoFoldersWithOnePrefixAreDistinct) {
  TempDir a("eric_temp_dir_test"), b("eric_temp_dir_test");
  EXPECT_NE(a.path(), b.path());
}

TEST(TempDirTest, KeepLeavesTheFolderBehind) {
  fs::path kept;
  {
    TempDir dir("eric_temp_dir_test");
    kept = dir.path();
    dir.keep();
  }
  EXPECT_TRUE(fs::is_directory(kept));
  fs::remove_all(kept);
}

TEST(TempDirTest, RefusesTheServersRunFolderPrefix) {
  EXPECT_THROW(TempDir("eric-x"), std::invalid_argument);
  EXPECT_THROW(TempDir("no/such/parent"), std::system_error);
}

}  // namespace
}  // namespace eric::testing
