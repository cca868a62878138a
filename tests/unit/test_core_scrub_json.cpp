// The scrub report's one JSON form (core/integrity/scrub_json): what `scrub --json` prints is what
// `serve` sends back, and reading it back loses nothing (a remote scrub once dropped the
// unverified_paths of a finding because the wire form was written separately).

#include <gtest/gtest.h>

#include "core/integrity/scrub_json.hpp"

namespace snapkeep {
namespace {

ScrubReport full_report() {
  ScrubReport r;
  r.snapshots_checked = 3;
  r.entries_checked = 40;
  r.files_checked = 35;
  r.contents_total = 20;
  r.contents_verified = 18;
  r.contents_unverified = 2;
  r.bytes_total = 1 << 20;
  r.bytes_read = 1000;
  r.mismatches = 1;
  r.repair_bytes_read = 77;
  r.budget_reached = true;
  r.initialized = {"2026-01-01_00-00-00"};
  r.without_manifest = {"2025-12-31_00-00-00"};
  ScrubFinding corrupted;
  corrupted.status = FindingStatus::corrupted;
  corrupted.paths = {"/b/home/2026-01-01_00-00-00/a", "/b/home/2026-01-02_00-00-00/a"};
  corrupted.snapshots = {"2026-01-01_00-00-00", "2026-01-02_00-00-00"};
  corrupted.size = 12;
  corrupted.expected_hash = "abc";
  corrupted.actual_hash = "def";
  corrupted.repaired = true;
  corrupted.repaired_from = "/src/a";
  corrupted.unverified_paths = {"/b/home/daily.0/a"};
  ScrubFinding damaged_manifest;
  damaged_manifest.status = FindingStatus::manifest_damaged;
  damaged_manifest.paths = {"/b/home/2026-01-03_00-00-00"};
  damaged_manifest.snapshots = {"2026-01-03_00-00-00"};
  damaged_manifest.detail = "checksum mismatch";
  damaged_manifest.repair_note = "remade from the snapshot";
  r.findings = {corrupted, damaged_manifest};
  r.snapshot_repairs = {{"2026-01-03_00-00-00", false, "no clean copy"}};
  FsScrubCounters c;
  c.data_bytes_scrubbed = 5;
  c.tree_bytes_scrubbed = 6;
  c.read_errors = 1;
  c.data_csum_errors = 2;
  c.tree_errors = 3;
  c.super_errors = 4;
  c.corrected_errors = 7;
  c.uncorrectable_errors = 8;
  r.fs_scrub = c;
  r.fs_scrub_note = "note";
  r.fs_scrub_reported_by = "home";
  r.seconds = 1.5;
  return r;
}

TEST(ScrubJson, ReadingBackTheJsonLosesNothing) {
  const ScrubReport r = full_report();
  const nlohmann::json first = scrub_report_to_json(r);
  auto back = scrub_report_from_json(first);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(scrub_report_to_json(*back), first);
  ASSERT_EQ(back->findings.size(), 2u);
  ASSERT_EQ(back->findings[0].unverified_paths.size(), 1u);
  EXPECT_EQ(back->findings[0].unverified_paths[0], "/b/home/daily.0/a");
  EXPECT_EQ(back->findings[1].status, FindingStatus::manifest_damaged);
  EXPECT_EQ(back->fs_scrub->uncorrectable_errors, 8u);
  EXPECT_EQ(back->fs_scrub_reported_by, "home");
  EXPECT_EQ(back->snapshot_repairs.at(0).note, "no clean copy");
}

TEST(ScrubJson, ThePrintedFormNamesStatusesAndLeavesOutEmptyFields) {
  const nlohmann::json j = scrub_report_to_json(full_report());
  EXPECT_EQ(j["findings"][0]["status"], "corrupted");
  EXPECT_EQ(j["findings"][0]["unverified_paths"][0], "/b/home/daily.0/a");
  EXPECT_FALSE(j["findings"][0].contains("detail"));
  EXPECT_FALSE(j["findings"][1].contains("size"));  // a damaged manifest has no content size
  EXPECT_EQ(j["fs_scrub"]["corrected_errors"], 7);
  EXPECT_TRUE(j["damage"].get<bool>());  // the damaged manifest was not repaired

  const nlohmann::json empty = scrub_report_to_json(ScrubReport{});
  EXPECT_FALSE(empty.contains("fs_scrub"));
  EXPECT_FALSE(empty.contains("fs_scrub_note"));
  EXPECT_FALSE(empty.contains("snapshot_repairs"));
  EXPECT_FALSE(empty["damage"].get<bool>());
}

TEST(ScrubJson, DamagedJsonIsAnErrorNamingTheProblem) {
  nlohmann::json j = scrub_report_to_json(full_report());
  j["findings"][0]["status"] = "melted";
  auto unknown = scrub_report_from_json(j);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown finding status \"melted\""), std::string::npos);

  nlohmann::json missing = scrub_report_to_json(full_report());
  missing.erase("bytes_read");
  auto gone = scrub_report_from_json(missing);
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.error().message.find("bytes_read"), std::string::npos);

  nlohmann::json wrong = scrub_report_to_json(full_report());
  wrong["fs_scrub"]["read_errors"] = "many";
  EXPECT_FALSE(scrub_report_from_json(wrong));
}

}  // namespace
}  // namespace snapkeep
