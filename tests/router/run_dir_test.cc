#include "router/run_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "test_fixtures.h"

namespace eric::router {
namespace {

namespace fs = std::filesystem;

TEST(RunDir, CreatedPrivateWithOwner) {
  testing::TempDir base;
  auto dir = create_run_dir(base.str());
  ASSERT_TRUE(dir.ok()) << dir.status().to_string();
  struct stat st {};
  ASSERT_EQ(::stat(dir->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  std::ifstream owner(*dir + "/owner.pid");
  long pid = 0;
  owner >> pid;
  EXPECT_EQ(pid, ::getpid());
  EXPECT_TRUE(remove_run_dir(*dir).ok());
  EXPECT_FALSE(fs::exists(*dir));
}

TEST(RunDir, StaleFoldersOfDeadOwnersAreRemovedLiveOnesKept) {
  testing::TempDir base;
  auto live = *create_run_dir(base.str());
  auto stale = *create_run_dir(base.str());
  std::ofstream(stale + "/engine.sock") << "x";
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // a pid that no longer exists
  std::ofstream(stale + "/owner.pid") << child << "\n";
  fs::create_directory(base.file("unrelated"));

  auto removed = remove_stale_run_dirs(base.str());
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0], stale);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(base.file("unrelated")));
}

}  // namespace
}  // namespace eric::router
