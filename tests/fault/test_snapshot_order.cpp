// Snapshot order across a second boundary. backup.cpp takes the snapshot's time from time(2) and
// record_snapshot_time adds clock_gettime's nanoseconds only when both name the same second. In
// the first millisecond or so of a second, time(2) (the coarse kernel clock) still names the
// previous second, so the record loses its nanoseconds and says "start of the previous second":
// a snapshot made earlier in that previous second then sorts as the newer one. `list`, the
// repair of `latest`, the rsync link base and retention's "newest" then pick the older snapshot.
// The fault trials hit this when two backups fall within one second; this test makes it certain.

#include <time.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/catalog.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

struct timespec now_ts() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

TEST(SnapshotOrder, BackupStartingAtASecondBoundarySortsAfterTheOneBeforeIt) {
  TempDir tmp;
  fs::path src = tmp / "src";
  fs::path dest = tmp / "dst";
  fs::path preset_dir = dest / "home";
  write_file(src / "a.txt", "a\n");
  const std::string older = "2026-01-01_00-00-00";
  const std::string newer = "2026-01-01_00-00-01";
  write_file(preset_dir / older / "a.txt", "a\n");
  write_file(preset_dir / newer / "a.txt", "a\n");
  fs::create_directories(preset_dir / ".snapkeep");

  // Record `older` late in a second; then, at a moment time(2) still names that second while the
  // clock has moved on, record `newer` exactly as backup.cpp does: record_snapshot_time(dir, id,
  // time(nullptr)).
  bool caught = false;
  for (int attempt = 0; attempt < 8 && !caught; ++attempt) {
    while (now_ts().tv_nsec < 900'000'000) {
      struct timespec pause {
        0, 1'000'000
      };
      ::nanosleep(&pause, nullptr);
    }
    std::time_t t = std::time(nullptr);
    ASSERT_TRUE(record_snapshot_time(preset_dir, older, t).ok());
    if (now_ts().tv_sec != t) {
      continue;  // the record took us past the second: try again
    }
    for (;;) {
      std::time_t coarse = std::time(nullptr);
      struct timespec fine = now_ts();
      if (coarse != t || fine.tv_sec > t + 1) {
        break;  // time(2) caught up before we saw it lag: try the next second
      }
      if (fine.tv_sec == t + 1) {
        ASSERT_TRUE(record_snapshot_time(preset_dir, newer, coarse).ok());
        caught = true;
        break;
      }
    }
  }
  if (!caught) {
    GTEST_SKIP() << "time(2) never lagged clock_gettime(CLOCK_REALTIME) at a second boundary here";
  }

  fs::path config = write_preset_config(tmp / "c.ini", "home", src, dest, "backend = rsync\n");
  RunResult list = snapkeep({"-c", config.string(), "--json", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  nlohmann::json doc = nlohmann::json::parse(list.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << list.out;
  std::vector<std::string> ids;
  std::string latest;
  for (const auto& s : doc["presets"][0]["snapshots"]) {
    ids.push_back(s.value("id", ""));
    if (s.value("latest", false)) {
      latest = s.value("id", "");
    }
  }
  EXPECT_EQ(ids, (std::vector<std::string>{older, newer}))
      << "the snapshot recorded second is listed as the older one; its record:\n"
      << read_file(preset_dir / ".snapkeep" / "snapshots" / newer) << "the first one's record:\n"
      << read_file(preset_dir / ".snapkeep" / "snapshots" / older);
  EXPECT_EQ(latest, newer) << "list names the older snapshot as the newest";
}

}  // namespace
}  // namespace snapkeep::test
