// Unit tests for core/history/history_log: append, read, torn lines, never creating the state folder.

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/history/history_log.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::vector<nlohmann::json> read_all(const fs::path& preset_dir, HistoryReadStats* stats = nullptr) {
  std::vector<nlohmann::json> out;
  auto read = read_history(preset_dir, [&](const nlohmann::json& r) { out.push_back(r); });
  EXPECT_TRUE(read.ok()) << read.error().describe();
  if (read && stats != nullptr) {
    *stats = *read;
  }
  return out;
}

TEST(HistoryLog, AppendsOneLinePerRecordAndReadsThemBack) {
  TempDir tmp;
  fs::create_directories(tmp / ".snapkeep");
  EXPECT_TRUE(read_all(tmp.path()).empty()) << "a missing log has no records";
  ASSERT_TRUE(append_history(tmp.path(), {{"event", "backup"}, {"n", 1}}).ok());
  // A path that is not UTF-8 does not fail the record; a newline in a value stays inside its line.
  ASSERT_TRUE(append_history(tmp.path(), {{"event", "scrub"}, {"path", "bad\xff\nname"}}).ok());
  const std::string text = test::read_file(history_log_path(tmp.path()));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  auto records = read_all(tmp.path());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["n"], 1);
  EXPECT_EQ(records[1]["event"], "scrub");
  EXPECT_EQ(records[1]["path"], "bad\xEF\xBF\xBD\nname");
  EXPECT_EQ(test::stat_of(history_log_path(tmp.path())).st_mode & 07777, 0600u) << "the log is snapkeep's own";
}

TEST(HistoryLog, SkipsATornLineAndKeepsReading) {
  TempDir tmp;
  fs::create_directories(tmp / ".snapkeep");
  ASSERT_TRUE(append_history(tmp.path(), {{"event", "backup"}, {"n", 1}}).ok());
  {
    // A power cut in the middle of a line, then later runs appended more.
    std::FILE* f = std::fopen(history_log_path(tmp.path()).c_str(), "a");
    ASSERT_NE(f, nullptr);
    std::fputs("{\"event\": \"back", f);
    std::fclose(f);
  }
  ASSERT_TRUE(append_history(tmp.path(), {{"event", "backup"}, {"n", 2}}).ok());
  HistoryReadStats stats;
  auto records = read_all(tmp.path(), &stats);
  // The next record starts a line of its own: only the torn bytes are lost.
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["n"], 1);
  EXPECT_EQ(records[1]["n"], 2);
  EXPECT_EQ(stats.skipped, 1u);
  ASSERT_TRUE(append_history(tmp.path(), {{"event", "backup"}, {"n", 3}}).ok());
  records = read_all(tmp.path(), &stats);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[2]["n"], 3);
  EXPECT_EQ(stats.skipped, 1u);
}

TEST(HistoryLog, NeverCreatesTheStateFolder) {
  TempDir tmp;
  auto appended = append_history(tmp.path(), {{"event", "backup"}});
  ASSERT_FALSE(appended.ok());
  EXPECT_EQ(appended.error().err, ENOENT);
  EXPECT_NE(appended.error().describe().find(".snapkeep"), std::string::npos) << appended.error().describe();
  EXPECT_FALSE(fs::exists(tmp / ".snapkeep"));
}

}  // namespace
}  // namespace snapkeep
