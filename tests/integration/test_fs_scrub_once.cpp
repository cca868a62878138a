// One btrfs filesystem scrub per filesystem per `snapkeep scrub` run: three presets on one btrfs
// drive start `btrfs scrub` once (counted by a PATH wrapper that logs every btrfs call), its figures
// are in one preset's report, and the others say which one.

#include <cstdlib>
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/integration_util.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

using nlohmann::json;

// PATH with the logging btrfs wrapper (tests/fakes/btrfs-log) first.
std::string path_with_btrfs_log() {
  const char* path = std::getenv("PATH");
  return std::string(SNAPKEEP_SOURCE_DIR) + "/tests/fakes/btrfs-log:" + (path != nullptr ? path : "/usr/bin:/bin");
}

// Lines of the wrapper's log that start a scrub.
int scrub_starts(const fs::path& log) {
  if (!exists_nofollow(log)) {
    return 0;
  }
  std::istringstream in(read_file(log));
  int count = 0;
  for (std::string line; std::getline(in, line);) {
    count += line.rfind("scrub start", 0) == 0 ? 1 : 0;
  }
  return count;
}

TEST(FsScrubOnce, ThreePresetsOnOneBtrfsDriveScrubItOnce) {
  SNAPKEEP_REQUIRE_ROOT();
  TempDir tmp;
  LoopFs dest("btrfs", 256);
  ASSERT_TRUE(dest.ok());
  std::string text;
  for (const char* name : {"alpha", "beta", "gamma"}) {
    fs::path src = tmp / "src" / name;
    write_random_file(src / "file.bin", 40000, static_cast<unsigned>(name[0]));
    text += std::string("[") + name + "]\nsource = " + src.string() + "\ndestination = " + dest.mount_point().string() +
            "\n";
  }
  fs::path config = tmp / "snapkeep.ini";
  write_file(config, text);
  RunResult backed = snapkeep({"-c", config.string(), "backup"});
  ASSERT_EQ(backed.exit_code, 0) << backed.out << backed.err;

  fs::path log = tmp / "btrfs.log";
  std::map<std::string, std::string> env{{"PATH", path_with_btrfs_log()}, {"FAKE_BTRFS_LOG", log.string()}};
  RunResult scrubbed = snapkeep({"-c", config.string(), "--json", "scrub"}, env);
  EXPECT_EQ(scrubbed.exit_code, 0) << scrubbed.out << scrubbed.err;
  EXPECT_EQ(scrub_starts(log), 1) << "btrfs calls:\n" << (exists_nofollow(log) ? read_file(log) : "");
  json doc = json::parse(scrubbed.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << scrubbed.out;
  ASSERT_EQ(doc["presets"].size(), 3u);
  // The first preset's report holds the figures; the others point at it.
  const json& first = doc["presets"][0];
  EXPECT_EQ(first["name"], "alpha");
  ASSERT_TRUE(first.contains("fs_scrub")) << first.dump(2);
  EXPECT_GT(first["fs_scrub"]["data_bytes_scrubbed"].get<std::uint64_t>(), 0u);
  for (int i = 1; i < 3; ++i) {
    const json& other = doc["presets"][i];
    EXPECT_FALSE(other.contains("fs_scrub")) << other.dump(2);
    EXPECT_EQ(other.value("fs_scrub_reported_by", ""), "alpha") << other.dump(2);
    EXPECT_EQ(other.value("status", ""), "ok");
    EXPECT_EQ(other["files_checked"], 1u) << "each preset still verifies its own files";
  }

  // Human output: the figures once, and where they are.
  fs::remove(log);
  RunResult human = snapkeep({"-c", config.string(), "scrub"}, env);
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(scrub_starts(log), 1);
  EXPECT_NE(human.out.find("alpha: btrfs scrub: "), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("beta: btrfs scrub: the filesystem"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("report of preset alpha"), std::string::npos) << human.out;

  // A run of one preset scrubs the filesystem for it.
  fs::remove(log);
  RunResult one = snapkeep({"-c", config.string(), "--json", "scrub", "gamma"}, env);
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(scrub_starts(log), 1);
  json single = json::parse(one.out, nullptr, false);
  ASSERT_FALSE(single.is_discarded());
  EXPECT_TRUE(single["presets"][0].contains("fs_scrub")) << one.out;
}

}  // namespace
}  // namespace snapkeep::test
