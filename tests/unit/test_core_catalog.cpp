// Unit tests for core/catalog: which folders are snapshots, their order (also across DST), new ids,
// creation-time records and the `latest` symlink.

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/store/catalog.hpp"
#include "core/store/snapshot_id.hpp"
#include "tests/support/testutil.hpp"
#include "tests/unit/time_util.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::berlin_tz;
using test::ScopedTz;
using test::TempDir;
using test::utc;
using test::write_file;

// A preset folder with its .snapkeep state folder, like a backup run leaves it.
fs::path make_preset_dir(const TempDir& tmp) {
  fs::path dir = tmp / "home";
  fs::create_directories(dir / ".snapkeep");
  return dir;
}

std::vector<std::string> ids_of(const std::vector<SnapshotInfo>& snapshots) {
  std::vector<std::string> ids;
  for (const auto& s : snapshots) {
    ids.push_back(s.id);
  }
  return ids;
}

TEST(CoreCatalog, ListsOnlySnapshotFoldersOldestFirst) {
  ScopedTz tz("UTC");
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  fs::create_directory(dir / "2026-11-26_02-18-39");
  fs::create_directory(dir / "2026-11-25_02-00-00");
  fs::create_directory(dir / "2014-01-11");  // the old script's date-only folder
  fs::create_directory(dir / "2026-11-26_02-18-40");
  // Look-alikes that are not snapshots.
  fs::create_directory_symlink(dir / "2026-11-25_02-00-00", dir / "2026-11-27_00-00-00");
  fs::create_directory_symlink(tmp / "elsewhere", dir / "2026-11-28_00-00-00");
  write_file(dir / "2026-11-29_00-00-00", "a file, not a snapshot");
  fs::create_directory_symlink("2026-11-26_02-18-40", dir / "latest");
  fs::create_directory(dir / "photos");
  fs::create_directory(dir / "2026-13-01");
  fs::create_directory(dir / "2026-11-26_02-18-39.partial");
  fs::create_directory(dir / ".2026-11-30_00-00-00");
  write_file(dir / ".snapkeep" / "lock", "");

  auto list = list_snapshots(dir);
  ASSERT_TRUE(list.ok()) << list.error().describe();
  EXPECT_EQ(ids_of(*list), (std::vector<std::string>{"2014-01-11", "2026-11-25_02-00-00", "2026-11-26_02-18-39",
                                                     "2026-11-26_02-18-40"}));
  ASSERT_EQ(list->size(), 4U);
  EXPECT_TRUE((*list)[0].legacy);
  EXPECT_FALSE((*list)[1].legacy);
  EXPECT_EQ((*list)[1].path, dir / "2026-11-25_02-00-00");
  EXPECT_EQ((*list)[1].time, utc(2026, 11, 25, 2, 0, 0));
  EXPECT_FALSE((*list)[1].time_recorded);
}

TEST(CoreCatalog, MissingPresetFolderIsAnEmptyList) {
  TempDir tmp;
  auto list = list_snapshots(tmp / "never-made");
  ASSERT_TRUE(list.ok()) << list.error().describe();
  EXPECT_TRUE(list->empty());
}

TEST(CoreCatalog, PresetFolderThatIsAFileIsAnError) {
  TempDir tmp;
  write_file(tmp / "home", "x");
  auto list = list_snapshots(tmp / "home");
  ASSERT_FALSE(list.ok());
  EXPECT_NE(list.error().describe().find((tmp / "home").string()), std::string::npos) << list.error().describe();
}

TEST(CoreCatalog, RecordedTimeOrdersSnapshotsInTheRepeatedFallBackHour) {
  ScopedTz tz(berlin_tz());
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  // 02:45 CEST (00:45 UTC) came first; after the clocks went back, 02:30 CET (01:30 UTC) second.
  fs::create_directory(dir / "2026-10-25_02-45-00");
  fs::create_directory(dir / "2026-10-25_02-30-00");
  fs::create_directory(dir / "2026-10-24_02-00-00");
  ASSERT_TRUE(record_snapshot_time(dir, "2026-10-25_02-45-00", utc(2026, 10, 25, 0, 45, 0)).ok());
  ASSERT_TRUE(record_snapshot_time(dir, "2026-10-25_02-30-00", utc(2026, 10, 25, 1, 30, 0)).ok());

  auto list = list_snapshots(dir);
  ASSERT_TRUE(list.ok()) << list.error().describe();
  EXPECT_EQ(ids_of(*list),
            (std::vector<std::string>{"2026-10-24_02-00-00", "2026-10-25_02-45-00", "2026-10-25_02-30-00"}));
  ASSERT_EQ(list->size(), 3U);
  EXPECT_FALSE((*list)[0].time_recorded);
  EXPECT_TRUE((*list)[1].time_recorded);
  EXPECT_EQ((*list)[2].time, utc(2026, 10, 25, 1, 30, 0));

  auto latest = find_snapshot(dir, "latest");
  ASSERT_TRUE(latest.ok()) << latest.error().describe();
  EXPECT_EQ(latest->id, "2026-10-25_02-30-00");
}

TEST(CoreCatalog, WithoutRecordsIdsOrderByTheirWallClockTime) {
  ScopedTz tz(berlin_tz());
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  fs::create_directory(dir / "2026-10-25_02-45-00");
  fs::create_directory(dir / "2026-10-25_02-30-00");
  auto list = list_snapshots(dir);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(ids_of(*list), (std::vector<std::string>{"2026-10-25_02-30-00", "2026-10-25_02-45-00"}));
}

TEST(CoreCatalog, RecordWithoutFolderIsNotASnapshot) {
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  fs::create_directory(dir / "2026-11-25_02-00-00");
  ASSERT_TRUE(record_snapshot_time(dir, "2026-11-26_02-00-00", utc(2026, 11, 26, 2, 0, 0)).ok());
  auto list = list_snapshots(dir);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(ids_of(*list), (std::vector<std::string>{"2026-11-25_02-00-00"}));
}

// count_snapshots and holds_recorded_snapshot see the folders list_snapshots lists, without
// reading every record: look-alikes (a symlink to a snapshot, a file, a record without its folder)
// do not count.
TEST(CoreCatalog, CountAndRecordedSnapshotSeeWhatTheListSees) {
  ScopedTz tz("UTC");
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  auto count = count_snapshots(dir);
  ASSERT_TRUE(count.ok()) << count.error().describe();
  EXPECT_EQ(*count, 0U);
  EXPECT_FALSE(holds_recorded_snapshot(dir));
  fs::create_directory(dir / "2014-01-11");  // the old script's: no record
  fs::create_directory(dir / "2026-11-25_02-00-00");
  fs::create_directory_symlink(dir / "2026-11-25_02-00-00", dir / "2026-11-27_00-00-00");
  write_file(dir / "2026-11-29_00-00-00", "a file, not a snapshot");
  fs::create_directory(dir / "photos");
  ASSERT_TRUE(record_snapshot_time(dir, "2026-11-26_02-00-00", utc(2026, 11, 26, 2, 0, 0)).ok());  // no folder
  count = count_snapshots(dir);
  ASSERT_TRUE(count.ok()) << count.error().describe();
  auto list = list_snapshots(dir);
  ASSERT_TRUE(list.ok()) << list.error().describe();
  EXPECT_EQ(*count, list->size());
  EXPECT_EQ(*count, 2U);
  EXPECT_FALSE(holds_recorded_snapshot(dir)) << "only the old script's snapshot and a bare folder are here";
  ASSERT_TRUE(record_snapshot_time(dir, "2026-11-25_02-00-00", utc(2026, 11, 25, 2, 0, 0)).ok());
  EXPECT_TRUE(holds_recorded_snapshot(dir));

  EXPECT_FALSE(holds_recorded_snapshot(tmp / "missing"));
  auto missing = count_snapshots(tmp / "missing");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(*missing, 0U);
  write_file(tmp / "a-file", "");
  EXPECT_FALSE(count_snapshots(tmp / "a-file").ok());
}

// A record as an older version or a hand edit may leave it: no newline at the end, unknown keys
// and a line that is not a number are passed over, the rest is read.
TEST(CoreCatalog, RecordsAreReadLineByLine) {
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  fs::create_directory(dir / "2026-11-25_02-00-00");
  write_file(dir / ".snapkeep" / "snapshots" / "2026-11-25_02-00-00",
             "id_time=5\ntime=1795400319\nnote=x\nseq=7z\nseq=4\nfiles=12\nbytes=3400");
  auto list = list_snapshots(dir);
  ASSERT_TRUE(list.ok()) << list.error().describe();
  ASSERT_EQ(list->size(), 1U);
  const SnapshotInfo& s = list->front();
  EXPECT_TRUE(s.time_recorded);
  EXPECT_EQ(s.time, 1795400319);
  EXPECT_EQ(s.time_ns, 1795400319000000000LL);
  EXPECT_EQ(s.seq, 4U);
  EXPECT_EQ(s.files, std::optional<std::uint64_t>(12));
  EXPECT_EQ(s.bytes, std::optional<std::uint64_t>(3400));
}

TEST(CoreCatalog, RecordSnapshotTimeWritesItsRecordAtomically) {
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  ASSERT_TRUE(record_snapshot_time(dir, "2026-11-26_02-18-39", 1795400319).ok());
  fs::path record = dir / ".snapkeep" / "snapshots" / "2026-11-26_02-18-39";
  EXPECT_EQ(test::read_file(record), "time=1795400319\ntime_ns=1795400319000000000\nseq=1\n");
  ASSERT_TRUE(record_snapshot_time(dir, "2026-11-26_02-18-39", 1795400320).ok());
  EXPECT_EQ(test::read_file(record), "time=1795400320\ntime_ns=1795400320000000000\nseq=1\n")
      << "rewriting a record keeps its place in the sequence";
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(record.parent_path())) {
    names.push_back(e.path().filename().string());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"2026-11-26_02-18-39"}));
}

TEST(CoreCatalog, NewSnapshotIdSkipsTakenIds) {
  ScopedTz tz("UTC");
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  std::time_t now = utc(2026, 11, 26, 2, 18, 39);
  auto first = new_snapshot_id(dir, now);
  EXPECT_EQ(first.first, "2026-11-26_02-18-39");
  EXPECT_EQ(first.second, now);
  fs::create_directory(dir / "2026-11-26_02-18-39");  // folder exists
  auto second = new_snapshot_id(dir, now);
  EXPECT_EQ(second.first, "2026-11-26_02-18-40");
  EXPECT_EQ(second.second, now + 1);
  ASSERT_TRUE(record_snapshot_time(dir, "2026-11-26_02-18-40", now).ok());  // only a record exists
  EXPECT_EQ(new_snapshot_id(dir, now).first, "2026-11-26_02-18-41");
  write_file(dir / "2026-11-26_02-18-41", "not ours");         // a file in the way
  fs::create_symlink("nowhere", dir / "2026-11-26_02-18-42");  // a dangling symlink in the way
  auto fifth = new_snapshot_id(dir, now);
  EXPECT_EQ(fifth.first, "2026-11-26_02-18-43");
  EXPECT_EQ(fifth.second, now + 4);
}

// Three backups within one second: the second was moved on to :40, ahead of the clock. Once the
// first (:39) is pruned, its name is free again while the clock still reads :39: the third id still
// comes after :40, so names keep the order the snapshots were made in (the Locks stress test found
// a third backup named :39 before a second named :40).
TEST(CoreCatalog, ABurstOfBackupsKeepsItsNamesInOrderAfterAPrune) {
  ScopedTz tz("UTC");
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  std::time_t now = utc(2026, 11, 26, 2, 18, 39);
  struct timespec clock {};
  clock.tv_sec = now;
  for (long ns : {100'000'000L, 500'000'000L}) {
    auto [id, id_time] = new_snapshot_id(dir, now);
    fs::create_directory(dir / id);
    clock.tv_nsec = ns;
    ASSERT_TRUE(record_snapshot_time(dir, id, clock).ok());
  }
  ASSERT_TRUE(fs::is_directory(dir / "2026-11-26_02-18-40"));
  fs::remove(dir / "2026-11-26_02-18-39");  // pruned: folder and record go
  fs::remove(dir / ".snapkeep" / "snapshots" / "2026-11-26_02-18-39");
  auto next = new_snapshot_id(dir, now);
  EXPECT_EQ(next.first, "2026-11-26_02-18-41");
  EXPECT_EQ(next.second, now + 2);
  fs::create_directory(dir / next.first);
  clock.tv_nsec = 900'000'000L;
  ASSERT_TRUE(record_snapshot_time(dir, next.first, clock).ok());
  auto list = list_snapshots(dir);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(ids_of(*list), (std::vector<std::string>{"2026-11-26_02-18-40", "2026-11-26_02-18-41"}));
  // Only the record left (the folder is being deleted), or only work in progress: still after it.
  fs::remove(dir / "2026-11-26_02-18-41");
  EXPECT_EQ(new_snapshot_id(dir, now).first, "2026-11-26_02-18-42");
  fs::remove(dir / ".snapkeep" / "snapshots" / "2026-11-26_02-18-41");
  fs::create_directory(dir / ".incoming-2026-11-26_02-18-45");
  EXPECT_EQ(new_snapshot_id(dir, now).first, "2026-11-26_02-18-46");
}

// A long burst: 90 backups within a few seconds moved ids 90 s ahead of the clock. Their records
// say they were made before now, so the next id still comes after them. A snapshot recorded as made
// in the future (the clock was ahead then) is not followed, however near; nor one made before now
// in another time zone, whose id is hours ahead.
TEST(CoreCatalog, IdsAreFollowedByWhenTheirSnapshotsWereMadeNotByHowFarAhead) {
  ScopedTz tz("UTC");
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  const std::time_t now = utc(2026, 11, 26, 2, 18, 39);
  const std::string moved_on = format_snapshot_id(now + 90);
  fs::create_directory(dir / moved_on);
  ASSERT_TRUE(record_snapshot_time(dir, moved_on, now - 2).ok());
  EXPECT_EQ(new_snapshot_id(dir, now).first, format_snapshot_id(now + 91));
  fs::remove(dir / moved_on);
  fs::remove(dir / ".snapkeep" / "snapshots" / moved_on);
  const std::string clock_was_ahead = format_snapshot_id(now + 10);
  fs::create_directory(dir / clock_was_ahead);
  ASSERT_TRUE(record_snapshot_time(dir, clock_was_ahead, now + 10).ok());
  EXPECT_EQ(new_snapshot_id(dir, now).first, "2026-11-26_02-18-39");
  const std::string east = format_snapshot_id(now + 5 * 3600 + 1800);  // made in UTC+05:30
  fs::create_directory(dir / east);
  ASSERT_TRUE(record_snapshot_time(dir, east, now - 60).ok());
  EXPECT_EQ(new_snapshot_id(dir, now).first, "2026-11-26_02-18-39");
}

// Months of hourly snapshots before a burst: the old ids (passed over without a time conversion,
// in Berlin's time zone across a daylight saving change) never move the new id, the burst's do.
TEST(CoreCatalog, OldIdsAmongMonthsOfHourlySnapshotsNeverMoveTheNewId) {
  ScopedTz tz(berlin_tz());
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  const std::time_t now = utc(2026, 11, 26, 2, 18, 39);
  int seq = 0;
  for (std::time_t t = now - 60 * 24 * 3600; t < now - 3600; t += 3600) {
    const std::string id = format_snapshot_id(t);
    fs::create_directory(dir / id);
    // Each recorded as made later than its id says (as record_snapshot_time writes it).
    write_file(dir / ".snapkeep" / "snapshots" / id, "time=" + std::to_string(t + 600) +
                                                         "\ntime_ns=" + std::to_string((t + 600) * 1000000000LL) +
                                                         "\nseq=" + std::to_string(++seq) + "\n");
  }
  EXPECT_EQ(new_snapshot_id(dir, now).first, format_snapshot_id(now));
  const std::string moved_on = format_snapshot_id(now + 30);
  fs::create_directory(dir / moved_on);
  ASSERT_TRUE(record_snapshot_time(dir, moved_on, now - 1).ok());
  EXPECT_EQ(new_snapshot_id(dir, now).first, format_snapshot_id(now + 31));
}

// Ids without a record (work in progress, another drive's snapshot) are followed up to
// k_id_catch_up_seconds ahead too; the old script's date-only folders never.
TEST(CoreCatalog, IdsWithoutARecordAreFollowedUpToTenMinutesAhead) {
  ScopedTz tz("UTC");
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  const std::time_t now = utc(2026, 11, 25, 23, 59, 30);
  EXPECT_EQ(new_snapshot_id(dir, now, {format_snapshot_id(now + 30)}).first, format_snapshot_id(now + 31))
      << "another drive's id";
  const fs::path work = dir / (".incoming-" + format_snapshot_id(now + k_id_catch_up_seconds));
  fs::create_directory(work);
  EXPECT_EQ(new_snapshot_id(dir, now).first, format_snapshot_id(now + k_id_catch_up_seconds + 1));
  fs::remove(work);
  fs::create_directory(dir / format_snapshot_id(now + k_id_catch_up_seconds + 1));  // no record: too far
  fs::create_directory(dir / "2026-11-26");  // the old script's, 30 s ahead: not a burst
  EXPECT_EQ(new_snapshot_id(dir, now).first, "2026-11-25_23-59-30");
}

// A clock that ran ahead (a bad RTC, a resumed VM): a snapshot recorded at 2030 was made second;
// the next, made with the clock right again, is named after the true time and is latest.
TEST(CoreCatalog, AfterAClockJumpTheSnapshotCompletedLastIsLatest) {
  ScopedTz tz("UTC");
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  const std::time_t first = utc(2026, 11, 26, 2, 0, 0);
  const std::time_t future = utc(2030, 1, 1, 0, 0, 0);
  const std::time_t now = utc(2026, 11, 26, 3, 0, 0);
  for (std::time_t t : {first, future, now}) {
    auto [id, id_time] = new_snapshot_id(dir, t);
    EXPECT_EQ(id_time, t) << "an id did not name the true time";
    fs::create_directory(dir / id);
    ASSERT_TRUE(record_snapshot_time(dir, id, t).ok());
  }
  auto latest = find_snapshot(dir, "latest");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->id, "2026-11-26_03-00-00");
  auto list = list_snapshots(dir);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(ids_of(*list),
            (std::vector<std::string>{"2026-11-26_02-00-00", "2030-01-01_00-00-00", "2026-11-26_03-00-00"}));
}

// Records of older versions (no seq; some with id_time) come before every sequenced one, by time.
TEST(CoreCatalog, RecordsWithoutSequenceComeFirst) {
  ScopedTz tz("UTC");
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  fs::create_directories(dir / ".snapkeep" / "snapshots");
  for (const char* id : {"2026-11-26_02-18-45", "2026-11-26_02-18-50", "2026-11-26_02-00-00"}) {
    fs::create_directory(dir / id);
  }
  write_file(dir / ".snapkeep" / "snapshots" / "2026-11-26_02-18-45",
             "time=" + std::to_string(utc(2026, 11, 26, 2, 18, 45)) +
                 "\nid_time=" + std::to_string(utc(2026, 11, 26, 2, 18, 45)) + "\n");
  write_file(dir / ".snapkeep" / "snapshots" / "2026-11-26_02-18-50",
             "time=" + std::to_string(utc(2026, 11, 26, 2, 18, 50)) + "\n");
  ASSERT_TRUE(record_snapshot_time(dir, "2026-11-26_02-00-00", utc(2026, 11, 26, 2, 0, 0)).ok());
  auto list = list_snapshots(dir);
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(ids_of(*list),
            (std::vector<std::string>{"2026-11-26_02-18-45", "2026-11-26_02-18-50", "2026-11-26_02-00-00"}));
  // Records made after now (02-18-45, 02-18-50: the clock was ahead then) and an old id_time= do
  // not move new ids on: the true time.
  EXPECT_EQ(new_snapshot_id(dir, utc(2026, 11, 26, 2, 18, 39)).first, "2026-11-26_02-18-39");
}

TEST(CoreCatalog, NewSnapshotIdInRepeatedHourMovesOn) {
  ScopedTz tz(berlin_tz());
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  // 02:30 CEST was taken an hour ago; at 02:30 CET the wall clock repeats it.
  fs::create_directory(dir / "2026-10-25_02-30-00");
  ASSERT_TRUE(record_snapshot_time(dir, "2026-10-25_02-30-00", utc(2026, 10, 25, 0, 30, 0)).ok());
  auto next = new_snapshot_id(dir, utc(2026, 10, 25, 1, 30, 0));
  EXPECT_EQ(next.first, "2026-10-25_02-30-01");
  EXPECT_EQ(next.second, utc(2026, 10, 25, 1, 30, 1));
}

TEST(CoreCatalog, NewSnapshotIdInMissingFolderIsTheTimeItself) {
  ScopedTz tz("UTC");
  TempDir tmp;
  EXPECT_EQ(new_snapshot_id(tmp / "none", utc(2026, 1, 2, 3, 4, 5)).first, "2026-01-02_03-04-05");
}

TEST(CoreCatalog, RemoveOrphanRecordsKeepsRecordsOfExistingSnapshots) {
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  fs::create_directory(dir / "2026-11-25_02-00-00");
  ASSERT_TRUE(record_snapshot_time(dir, "2026-11-25_02-00-00", utc(2026, 11, 25, 2, 0, 0)).ok());
  ASSERT_TRUE(record_snapshot_time(dir, "2026-11-26_02-00-00", utc(2026, 11, 26, 2, 0, 0)).ok());  // killed run
  auto list = list_snapshots(dir);
  ASSERT_TRUE(list.ok());
  remove_orphan_records(dir, *list);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir / ".snapkeep" / "snapshots")) {
    names.push_back(e.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"2026-11-25_02-00-00"});
  EXPECT_TRUE(fs::is_directory(dir / "2026-11-25_02-00-00"));
}

TEST(CoreCatalog, UpdateLatestCreatesRelativeSymlink) {
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  fs::create_directory(dir / "2026-11-25_02-00-00");
  write_file(dir / "2026-11-25_02-00-00" / "a.txt", "A");
  ASSERT_TRUE(update_latest(dir, "2026-11-25_02-00-00").ok());
  ASSERT_TRUE(fs::is_symlink(fs::symlink_status(dir / "latest")));
  EXPECT_EQ(fs::read_symlink(dir / "latest"), fs::path("2026-11-25_02-00-00"));
  EXPECT_EQ(read_latest(dir), std::optional<std::string>("2026-11-25_02-00-00"));
  EXPECT_EQ(test::read_file(dir / "latest" / "a.txt"), "A");
  // Relative: the whole destination can be moved or mounted elsewhere.
  fs::rename(dir, tmp / "moved");
  EXPECT_EQ(test::read_file(tmp / "moved" / "latest" / "a.txt"), "A");
}

TEST(CoreCatalog, UpdateLatestReplacesLinkAndLeavesNoTemporary) {
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  fs::create_directory(dir / "2026-11-25_02-00-00");
  fs::create_directory(dir / "2026-11-26_02-00-00");
  ASSERT_TRUE(update_latest(dir, "2026-11-25_02-00-00").ok());
  ASSERT_TRUE(update_latest(dir, "2026-11-26_02-00-00").ok());
  EXPECT_EQ(fs::read_symlink(dir / "latest"), fs::path("2026-11-26_02-00-00"));
  // Only `latest`, the snapshots and .snapkeep (with nothing temporary in it) are left.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{".snapkeep", "2026-11-25_02-00-00", "2026-11-26_02-00-00", "latest"}));
  EXPECT_TRUE(fs::is_empty(dir / ".snapkeep"));
}

TEST(CoreCatalog, UpdateLatestReplacesDanglingLink) {
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  fs::create_directory(dir / "2026-11-26_02-00-00");
  fs::create_directory_symlink("2026-11-20_02-00-00", dir / "latest");  // its snapshot was pruned
  ASSERT_TRUE(update_latest(dir, "2026-11-26_02-00-00").ok());
  EXPECT_EQ(read_latest(dir), std::optional<std::string>("2026-11-26_02-00-00"));
}

TEST(CoreCatalog, LatestNeverDisappearsWhileBeingReplaced) {
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  fs::create_directory(dir / "2026-11-25_02-00-00");
  fs::create_directory(dir / "2026-11-26_02-00-00");
  ASSERT_TRUE(update_latest(dir, "2026-11-25_02-00-00").ok());
  std::atomic<bool> done{false};
  std::atomic<int> missing{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    fs::path link = dir / "latest";
    while (!done.load()) {
      char buf[256];
      if (::readlink(link.c_str(), buf, sizeof buf) < 0) {
        ++missing;
      }
      ++reads;
    }
  });
  bool all_ok = true;
  for (int i = 0; i < 200; ++i) {
    all_ok = update_latest(dir, i % 2 == 0 ? "2026-11-26_02-00-00" : "2026-11-25_02-00-00").ok() && all_ok;
  }
  done = true;
  reader.join();
  EXPECT_TRUE(all_ok);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(missing.load(), 0) << "`latest` was missing during " << missing.load() << " of " << reads.load()
                               << " reads";
}

TEST(CoreCatalog, UpdateLatestRefusesARealDirectoryAndLeavesIt) {
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  fs::create_directory(dir / "2026-11-26_02-00-00");
  fs::create_directory(dir / "latest");
  write_file(dir / "latest" / "user-data.txt", "mine");
  auto status = update_latest(dir, "2026-11-26_02-00-00");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().describe().find("latest"), std::string::npos) << status.error().describe();
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(dir / "latest")));
  EXPECT_EQ(test::read_file(dir / "latest" / "user-data.txt"), "mine");
  EXPECT_FALSE(read_latest(dir).has_value());
}

TEST(CoreCatalog, UpdateLatestRefusesARegularFile) {
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  fs::create_directory(dir / "2026-11-26_02-00-00");
  write_file(dir / "latest", "notes");
  EXPECT_FALSE(update_latest(dir, "2026-11-26_02-00-00").ok());
  EXPECT_EQ(test::read_file(dir / "latest"), "notes");
}

TEST(CoreCatalog, FindSnapshotById) {
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  fs::create_directory(dir / "2026-11-25_02-00-00");
  fs::create_directory(dir / "2026-11-26_02-00-00");
  auto found = find_snapshot(dir, "2026-11-25_02-00-00");
  ASSERT_TRUE(found.ok()) << found.error().describe();
  EXPECT_EQ(found->id, "2026-11-25_02-00-00");
  EXPECT_EQ(found->path, dir / "2026-11-25_02-00-00");
  auto latest = find_snapshot(dir, "latest");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->id, "2026-11-26_02-00-00");
}

TEST(CoreCatalog, FindSnapshotErrorsForUnknownId) {
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  fs::create_directory(dir / "2026-11-25_02-00-00");
  fs::create_directory(dir / "photos");
  for (const char* wanted : {"2026-11-24_02-00-00", "photos", "2026-11-25"}) {
    auto found = find_snapshot(dir, wanted);
    ASSERT_FALSE(found.ok()) << wanted;
    EXPECT_NE(found.error().message.find(wanted), std::string::npos) << found.error().message;
    EXPECT_NE(found.error().message.find(dir.string()), std::string::npos) << found.error().message;
  }
}

TEST(CoreCatalog, FindSnapshotErrorsForEmptyOrMissingPresetFolder) {
  TempDir tmp;
  fs::path dir = make_preset_dir(tmp);
  for (const fs::path& where : {dir, tmp / "missing"}) {
    for (const char* wanted : {"latest", "2026-11-25_02-00-00"}) {
      auto found = find_snapshot(where, wanted);
      ASSERT_FALSE(found.ok()) << where << " " << wanted;
      EXPECT_NE(found.error().message.find(where.string()), std::string::npos) << found.error().message;
    }
  }
}

}  // namespace
}  // namespace snapkeep
