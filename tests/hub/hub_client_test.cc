// The Hub client against a fake Hub on loopback: fresh downloads, cache
// reuse, offline use of a huggingface_hub-layout cache, resumed and corrupt
// downloads, gated/unknown repos and a flaky server.
#include "hub/hub_client.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../common/temp_dir.h"
#include "fake_hub.h"
#include "hub/file_digest.h"

namespace eric::hub {
namespace {

namespace fs = std::filesystem;
using eric::testing::FakeHub;
using eric::testing::TempDir;

const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string big_content(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + static_cast<size_t>(seed)) & 0xff);
  return s;
}

HubOptions options_for(const FakeHub& hub, const TempDir& cache) {
  HubOptions o;
  o.endpoint = hub.endpoint();
  o.cache_root = cache.str();
  o.initial_backoff_ms = 5;
  o.max_attempts = 4;
  return o;
}

TEST(HubClientTest, ParseRepoRef) {
  auto r = parse_repo_ref("Qwen/Qwen2-VL-7B-Instruct@v1.0");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->repo_id, "Qwen/Qwen2-VL-7B-Instruct");
  EXPECT_EQ(r->revision, "v1.0");
  EXPECT_EQ(parse_repo_ref("a/b")->revision, "main");
  for (const char* bad : {"", "noslash", "a/b/c", "a//b", "../x", "a/b@", "-a/b", "a/b@../x", "a--b/c"}) {
    EXPECT_FALSE(parse_repo_ref(bad).ok()) << bad;
  }
}

TEST(HubClientTest, DownloadsIntoHuggingfaceHubLayoutAndReusesIt) {
  FakeHub hub;
  std::string shard = big_content(300'000, 1);
  hub.add_file("org/model", "main", kCommit, "config.json", R"({"model_type":"x"})", false);
  hub.add_file("org/model", "main", kCommit, "model.safetensors", shard, true);
  TempDir cache{"eric_hub_test"};
  RepoRef ref{"org/model", "main"};
  {
    HubClient client(options_for(hub, cache));
    auto commit = client.resolve_commit(ref);
    ASSERT_TRUE(commit.ok()) << commit.status().to_string();
    EXPECT_EQ(*commit, kCommit);
    auto p = client.download(ref, *commit, "model.safetensors", false);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    EXPECT_EQ(read(*p), shard);
    // Layout: refs/main, blobs/<sha256>, snapshots/<commit>/file -> relative symlink.
    HubCache layout(cache.str());
    std::string repo = layout.repo_dir("org/model");
    EXPECT_EQ(read(repo + "/refs/main"), kCommit);
    std::string link = repo + "/snapshots/" + kCommit + "/model.safetensors";
    ASSERT_TRUE(fs::is_symlink(link));
    EXPECT_EQ(fs::read_symlink(link).string(), "../../blobs/" + eric::testing::sha256_hex(shard));
    EXPECT_FALSE(fs::exists(repo + "/blobs/" + eric::testing::sha256_hex(shard) + ".incomplete"));
  }
  int64_t served = hub.content_bytes_served();
  EXPECT_EQ(served, static_cast<int64_t>(shard.size()));
  {
    // A second start: metadata requests only, nothing downloaded again.
    HubClient client(options_for(hub, cache));
    auto commit = client.resolve_commit(ref);
    ASSERT_TRUE(commit.ok());
    ASSERT_TRUE(client.download(ref, *commit, "model.safetensors", false).ok());
    EXPECT_EQ(hub.content_bytes_served(), served);
    EXPECT_EQ(client.bytes_downloaded(), 0);
    EXPECT_GE(client.metadata_requests(), 2);
  }
}

TEST(HubClientTest, OfflineUsesAPrefilledCacheAndNamesWhatIsMissing) {
  // Fill the cache the way huggingface_hub lays it out, without any server.
  TempDir cache{"eric_hub_test"};
  HubCache layout(cache.str());
  std::string repo = layout.repo_dir("org/offline");
  fs::create_directories(repo + "/blobs");
  fs::create_directories(repo + "/refs");
  fs::create_directories(repo + "/snapshots/" + kCommit);
  std::string content = R"({"model_type":"x"})";
  std::string etag = eric::testing::git_blob_sha1_hex(content);
  std::ofstream(repo + "/blobs/" + etag) << content;
  std::ofstream(repo + "/refs/main") << kCommit;
  fs::create_symlink("../../blobs/" + etag, repo + "/snapshots/" + kCommit + "/config.json");

  HubOptions o;
  o.endpoint = "http://127.0.0.1:9";  // nothing listens: offline must not try
  o.cache_root = cache.str();
  o.offline = true;
  HubClient client(o);
  RepoRef ref{"org/offline", "main"};
  auto commit = client.resolve_commit(ref);
  ASSERT_TRUE(commit.ok()) << commit.status().to_string();
  auto p = client.download(ref, *commit, "config.json", false);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(read(*p), content);
  auto missing = client.download(ref, *commit, "model.safetensors", false);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("HF_HUB_OFFLINE"), std::string::npos);
  EXPECT_EQ(*client.download(ref, *commit, "preprocessor_config.json", true), "");
  auto no_rev = client.resolve_commit({"org/offline", "dev"});
  ASSERT_FALSE(no_rev.ok());
  EXPECT_NE(no_rev.status().message().find("dev"), std::string::npos);
}

TEST(HubClientTest, ResumesAnInterruptedDownload) {
  FakeHub hub;
  std::string shard = big_content(500'000, 2);
  hub.add_file("org/m", "main", kCommit, "model.safetensors", shard, true);
  TempDir cache{"eric_hub_test"};
  HubClient client(options_for(hub, cache));
  RepoRef ref{"org/m", "main"};
  hub.truncate_content(1, 0.4);  // the first content transfer stops at 40%
  auto p = client.download(ref, kCommit, "model.safetensors", false);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(read(*p), shard);
  // The retry asked only for the rest.
  bool ranged = false;
  for (const auto& r : hub.requests()) ranged |= r.path.rfind("/cdn/", 0) == 0 && r.range == "bytes=200000-";
  EXPECT_TRUE(ranged);
  EXPECT_EQ(hub.content_bytes_served(), static_cast<int64_t>(shard.size()));
}

TEST(HubClientTest, ResumesAnIncompleteFileLeftByAnEarlierProcess) {
  FakeHub hub;
  std::string shard = big_content(100'000, 3);
  hub.add_file("org/m", "main", kCommit, "model.safetensors", shard, true);
  TempDir cache{"eric_hub_test"};
  HubCache layout(cache.str());
  std::string blob = layout.blob_path("org/m", eric::testing::sha256_hex(shard));
  fs::create_directories(fs::path(blob).parent_path());
  std::ofstream(blob + ".incomplete", std::ios::binary) << shard.substr(0, 30'000);
  HubClient client(options_for(hub, cache));
  auto p = client.download({"org/m", "main"}, kCommit, "model.safetensors", false);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(read(*p), shard);
  EXPECT_EQ(hub.content_bytes_served(), 70'000);
}

TEST(HubClientTest, RejectsAndRemovesACorruptDownload) {
  FakeHub hub;
  std::string shard = big_content(50'000, 4);
  hub.add_file("org/m", "main", kCommit, "model.safetensors", shard, true);
  hub.corrupt_content(eric::testing::sha256_hex(shard));
  TempDir cache{"eric_hub_test"};
  HubClient client(options_for(hub, cache));
  auto p = client.download({"org/m", "main"}, kCommit, "model.safetensors", false);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), ErrorCode::kDataLoss);
  EXPECT_NE(p.status().message().find("checksum mismatch"), std::string::npos);
  std::string blob = HubCache(cache.str()).blob_path("org/m", eric::testing::sha256_hex(shard));
  EXPECT_FALSE(fs::exists(blob));
  EXPECT_FALSE(fs::exists(blob + ".incomplete"));
}

TEST(HubClientTest, GatedUnknownAndMissing) {
  FakeHub hub;
  hub.add_file("org/gated", "main", kCommit, "config.json", "{}", false);
  hub.set_gated("org/gated", "secret");
  TempDir cache{"eric_hub_test"};
  {
    HubClient client(options_for(hub, cache));
    auto r = client.resolve_commit({"org/gated", "main"});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kPermissionDenied);
    EXPECT_NE(r.status().message().find("HF_TOKEN"), std::string::npos);
    EXPECT_NE(r.status().message().find("licence"), std::string::npos);
  }
  {
    HubOptions o = options_for(hub, cache);
    o.token = "secret";
    HubClient client(o);
    EXPECT_TRUE(client.resolve_commit({"org/gated", "main"}).ok());
  }
  HubClient client(options_for(hub, cache));
  auto unknown = client.resolve_commit({"org/nope", "main"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("org/nope"), std::string::npos);
  hub.add_file("org/m", "main", kCommit, "config.json", "{}", false);
  auto bad_rev = client.resolve_commit({"org/m", "v9"});
  ASSERT_FALSE(bad_rev.ok());
  EXPECT_NE(bad_rev.status().message().find("revision 'v9'"), std::string::npos);
  auto missing = client.download({"org/m", "main"}, kCommit, "model.safetensors", false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(*client.download({"org/m", "main"}, kCommit, "preprocessor_config.json", true), "");
}

TEST(HubClientTest, RetriesAServerThatDropsConnections) {
  FakeHub hub;
  hub.add_file("org/m", "main", kCommit, "config.json", "{}", false);
  TempDir cache{"eric_hub_test"};
  HubClient client(options_for(hub, cache));
  hub.drop_connections(2);
  hub.fail_with_500(0);
  EXPECT_TRUE(client.resolve_commit({"org/m", "main"}).ok());
  hub.fail_with_500(1);
  EXPECT_TRUE(client.resolve_commit({"org/m", "main"}).ok());
  hub.drop_connections(100);  // never answers: gives up after max_attempts
  auto r = client.resolve_commit({"org/m", "main"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
}

TEST(HubClientTest, DownloadsSeveralFilesInParallel) {
  FakeHub hub;
  std::vector<std::string> names;
  for (int i = 0; i < 5; ++i) {
    names.push_back("model-0000" + std::to_string(i + 1) + "-of-00005.safetensors");
    hub.add_file("org/m", "main", kCommit, names.back(), big_content(20'000 + i, static_cast<char>(i)), true);
  }
  TempDir cache{"eric_hub_test"};
  HubClient client(options_for(hub, cache));
  ASSERT_TRUE(client.download_all({"org/m", "main"}, kCommit, names).ok());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(read(HubCache(cache.str()).snapshot_path("org/m", kCommit, names[static_cast<size_t>(i)])),
              big_content(20'000 + static_cast<size_t>(i), static_cast<char>(i)));
  }
}

}  // namespace
}  // namespace eric::hub
