// Unit tests for core/store/drives: the destination drives of a preset in the local state (rotating
// drives), their btrfs parent pairs, and the floor under new snapshot ids.

#include <cstdlib>
#include <ctime>
#include <string>

#include <gtest/gtest.h>

#include "core/store/drives.hpp"
#include "core/store/local_state.hpp"
#include "core/store/snapshot_id.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

using test::ScopedEnv;
using test::TempDir;

const std::filesystem::path k_preset = "/mnt/backup/home";

TEST(CoreDrives, BackupsRecordFirstAndLastSeenPerDrive) {
  TempDir tmp;
  ScopedEnv scoped("SNAPKEEP_STATE_DIR", (tmp / "state").string());
  auto none = read_drives(k_preset);
  ASSERT_TRUE(none.ok()) << none.error().describe();
  EXPECT_TRUE(none->empty());
  const std::time_t t0 = 1790000000;
  ASSERT_TRUE(record_drive_backup(k_preset, "home", "uuid-a", "2026-09-21_12-00-00", t0, {}).ok());
  ASSERT_TRUE(record_drive_backup(k_preset, "home", "uuid-b", "2026-09-28_12-00-00", t0 + 100, {}).ok());
  ASSERT_TRUE(record_drive_backup(k_preset, "home", "uuid-a", "2026-10-05_12-00-00", t0 + 200, {}).ok());
  ASSERT_TRUE(record_drive_backup("/mnt/other/home", "home", "uuid-c", "2026-10-05_12-00-00", t0, {}).ok());
  auto drives = read_drives(k_preset);
  ASSERT_TRUE(drives.ok());
  ASSERT_EQ(drives->size(), 2u);
  const DriveRecord& a = (*drives)[0];
  const DriveRecord& b = (*drives)[1];
  EXPECT_EQ(a.uuid, "uuid-a");
  EXPECT_EQ(a.first_seen, t0) << "first_seen is written once";
  EXPECT_EQ(a.last_seen, t0 + 200);
  EXPECT_EQ(a.last_snapshot, "2026-10-05_12-00-00");
  EXPECT_FALSE(a.parent.has_value());
  EXPECT_EQ(b.uuid, "uuid-b");
  EXPECT_EQ(b.first_seen, t0 + 100);
  auto doc = read_local_state();
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["presets"][k_preset.string()]["name"], "home");
  EXPECT_TRUE((*doc)["presets"][k_preset.string()]["drives"]["uuid-a"]["first_seen"].is_string());
}

TEST(CoreDrives, ParentPairsAreSetReplacedAndReleased) {
  TempDir tmp;
  ScopedEnv scoped("SNAPKEEP_STATE_DIR", (tmp / "state").string());
  ASSERT_TRUE(record_drive_backup(k_preset, "home", "uuid-a", "2026-09-21_12-00-00", 1790000000, {}).ok());
  ASSERT_TRUE(record_drive_parent(k_preset, "uuid-a", DriveParent{"2026-09-21_12-00-00", "src-1"}).ok());
  ASSERT_TRUE(record_drive_parent(k_preset, "uuid-a", DriveParent{"2026-09-22_12-00-00", "src-2"}).ok());
  auto drives = read_drives(k_preset);
  ASSERT_TRUE(drives.ok());
  ASSERT_EQ(drives->size(), 1u);
  ASSERT_TRUE((*drives)[0].parent.has_value());
  EXPECT_EQ(*(*drives)[0].parent, (DriveParent{"2026-09-22_12-00-00", "src-2"}));
  EXPECT_EQ((*drives)[0].parent_released, 0);
  ASSERT_TRUE(release_drive_parent(k_preset, "uuid-a", 1790009999).ok());
  drives = read_drives(k_preset);
  ASSERT_TRUE(drives.ok());
  EXPECT_FALSE((*drives)[0].parent.has_value());
  EXPECT_EQ((*drives)[0].parent_released, 1790009999);
  ASSERT_TRUE(record_drive_parent(k_preset, "uuid-a", DriveParent{"2026-09-23_12-00-00", "src-3"}).ok());
  drives = read_drives(k_preset);
  ASSERT_TRUE(drives.ok());
  EXPECT_TRUE((*drives)[0].parent.has_value());
  EXPECT_EQ((*drives)[0].parent_released, 0) << "a new parent clears the release";
}

// The ids absent drives still need on this side are never taken by a new snapshot.
TEST(CoreDrives, IdsHeldByDrivesAreTheirNewestAndTheirParents) {
  std::vector<DriveRecord> drives;
  EXPECT_TRUE(ids_held_by_drives(drives).empty());
  DriveRecord a;
  a.last_snapshot = "2026-09-21_12-00-00";
  a.parent = DriveParent{"2026-09-20_12-00-00", "uuid-a"};
  DriveRecord b;
  b.last_snapshot = "2026-09-21_12-00-05";
  b.snapshots = {"2026-09-14_12-00-05", "2026-09-21_12-00-05"};
  drives = {a, b};
  EXPECT_EQ(ids_held_by_drives(drives),
            (std::vector<std::string>{"2026-09-21_12-00-00", "2026-09-20_12-00-00", "2026-09-21_12-00-05",
                                      "2026-09-14_12-00-05", "2026-09-21_12-00-05"}));
}

// Keys stay exact for any folder name: bytes that are not UTF-8, and '%', are written %XX.
TEST(CoreDrives, PresetFoldersThatAreNotUtf8KeepTheirOwnEntries) {
  TempDir tmp;
  ScopedEnv scoped("SNAPKEEP_STATE_DIR", (tmp / "state").string());
  const std::filesystem::path odd = std::string("/mnt/\xff\xfe x%41/h\xc3\xa9me");
  const std::filesystem::path twin = "/mnt/%FF%FE x%2541/h\xc3\xa9me";
  EXPECT_EQ(local_state_key(odd), "/mnt/%FF%FE x%2541/h\xc3\xa9me");
  EXPECT_EQ(local_state_key("/mnt/backup/h\xc3\xa9me"), "/mnt/backup/h\xc3\xa9me") << "valid UTF-8 is kept";
  EXPECT_NE(local_state_key(odd), local_state_key(twin));
  ASSERT_TRUE(record_drive_backup(odd, std::string("h\xff"), "uuid-a", "2026-09-21_12-00-00", 1790000000, {}).ok());
  ASSERT_TRUE(record_drive_backup(twin, "twin", "uuid-b", "2026-09-21_12-00-00", 1790000000, {}).ok());
  auto drives = read_drives(odd);
  ASSERT_TRUE(drives.ok()) << drives.error().describe();
  ASSERT_EQ(drives->size(), 1u);
  EXPECT_EQ((*drives)[0].uuid, "uuid-a");
  drives = read_drives(twin);
  ASSERT_TRUE(drives.ok());
  ASSERT_EQ(drives->size(), 1u);
  EXPECT_EQ((*drives)[0].uuid, "uuid-b");
}

TEST(CoreDrives, ADamagedStateIsAnError) {
  TempDir tmp;
  ScopedEnv scoped("SNAPKEEP_STATE_DIR", (tmp / "state").string());
  test::write_file(tmp / "state" / "state.json", "{not json");
  auto drives = read_drives(k_preset);
  ASSERT_FALSE(drives.ok());
  EXPECT_NE(drives.error().describe().find("state.json"), std::string::npos) << drives.error().describe();
}

}  // namespace
}  // namespace snapkeep
