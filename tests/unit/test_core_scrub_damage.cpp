// Unit tests for core/integrity/scrub_damage: what a scrub puts into and takes out of the damage
// record that backups consult.

#include <string>

#include <gtest/gtest.h>

#include "core/integrity/scrub_damage.hpp"

namespace snapkeep {
namespace {

const std::filesystem::path k_dir = "/mnt/backup/home";
const std::string k_s1 = "2026-01-01_00-00-00";
const std::string k_s2 = "2026-01-02_00-00-00";
const std::string k_s3 = "2026-01-03_00-00-00";

ScrubFinding finding(FindingStatus status, std::vector<std::filesystem::path> paths, bool repaired = false) {
  ScrubFinding f;
  f.status = status;
  f.paths = std::move(paths);
  f.repaired = repaired;
  return f;
}

TEST(CoreScrubDamage, AFullRunReplacesTheEntriesOfTheSnapshotsItChecked) {
  DamageRecord before;
  before.entries = {{k_s1, "old.bin"}, {k_s2, "old.bin"}, {k_s3, "kept.bin"}, {"2025-01-01_00-00-00", "gone.bin"}};
  ScrubReport report;
  report.findings.push_back(finding(FindingStatus::unreadable, {k_dir / k_s1 / "a.bin", k_dir / k_s2 / "a.bin"}));
  report.findings.push_back(finding(FindingStatus::corrupted, {k_dir / k_s2 / "dir" / "fixed.bin"}, true));
  report.findings.push_back(finding(FindingStatus::manifest_damaged, {k_dir / k_s1}));
  DamageRecord after = updated_damage_record(before, report, k_dir, {k_s1, k_s2, k_s3}, {k_s1, k_s2});
  EXPECT_EQ(after.entries, (std::set<std::pair<std::string, std::string>>{
                               {k_s1, ""}, {k_s1, "a.bin"}, {k_s2, "a.bin"}, {k_s3, "kept.bin"}}));
}

TEST(CoreScrubDamage, ABoundedRunOnlyAddsAndTakesOutWhatItRepaired) {
  DamageRecord before;
  before.entries = {{k_s1, "not-read.bin"}, {k_s1, "fixed.bin"}};
  ScrubReport report;
  report.budget_reached = true;
  report.findings.push_back(finding(FindingStatus::corrupted, {k_dir / k_s1 / "fixed.bin"}, true));
  report.findings.push_back(finding(FindingStatus::missing, {k_dir / k_s1 / "new.bin"}));
  DamageRecord after = updated_damage_record(before, report, k_dir, {k_s1}, {k_s1});
  EXPECT_EQ(after.entries, (std::set<std::pair<std::string, std::string>>{{k_s1, "not-read.bin"}, {k_s1, "new.bin"}}));
}

TEST(CoreScrubDamage, ACleanRunEmptiesTheRecord) {
  DamageRecord before;
  before.entries = {{k_s1, "a.bin"}};
  ScrubReport report;
  EXPECT_TRUE(updated_damage_record(before, report, k_dir, {k_s1}, {k_s1}).empty());
  // ... unless it did not check that snapshot (--snapshot another one, or no manifest).
  EXPECT_EQ(updated_damage_record(before, report, k_dir, {k_s1, k_s2}, {k_s2}).entries, before.entries);
}

TEST(CoreDamage, DescribeDamageNamesPathsOrTheWholeSnapshot) {
  DamageRecord record;
  record.entries = {{k_s1, "a"}, {k_s1, "b"}, {k_s1, "c"}, {k_s2, ""}};
  EXPECT_EQ(describe_damage(record, k_s1), "a, b, c");
  EXPECT_EQ(describe_damage(record, k_s1, 2), "a, b and 1 more");
  EXPECT_EQ(describe_damage(record, k_s2), "the whole snapshot");
}

}  // namespace
}  // namespace snapkeep
