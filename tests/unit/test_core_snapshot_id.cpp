// Unit tests for core/snapshot_id: parsing ids (and the old script's date-only ids), formatting,
// and reading ids back as moments across DST changes.

#include <ctime>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "core/store/snapshot_id.hpp"
#include "tests/unit/time_util.hpp"

namespace snapkeep {
namespace {

using test::berlin_tz;
using test::ScopedTz;
using test::utc;

TEST(CoreSnapshotId, ParsesFullIdIntoFields) {
  auto id = parse_snapshot_id("2026-11-26_02-18-39");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->text, "2026-11-26_02-18-39");
  EXPECT_FALSE(id->legacy);
  EXPECT_EQ(id->fields.tm_year, 2026 - 1900);
  EXPECT_EQ(id->fields.tm_mon, 10);
  EXPECT_EQ(id->fields.tm_mday, 26);
  EXPECT_EQ(id->fields.tm_hour, 2);
  EXPECT_EQ(id->fields.tm_min, 18);
  EXPECT_EQ(id->fields.tm_sec, 39);
}

TEST(CoreSnapshotId, ParsesLegacyDateOnlyIdAsMidnight) {
  auto id = parse_snapshot_id("2014-01-11");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->text, "2014-01-11");
  EXPECT_TRUE(id->legacy);
  EXPECT_EQ(id->fields.tm_year, 2014 - 1900);
  EXPECT_EQ(id->fields.tm_mon, 0);
  EXPECT_EQ(id->fields.tm_mday, 11);
  EXPECT_EQ(id->fields.tm_hour, 0);
  EXPECT_EQ(id->fields.tm_min, 0);
  EXPECT_EQ(id->fields.tm_sec, 0);
}

TEST(CoreSnapshotId, AcceptsEdgesOfValidRanges) {
  for (const char* name : {"2026-01-01_00-00-00", "2026-12-31_23-59-59", "2026-01-31", "2026-04-30", "1970-01-01"}) {
    EXPECT_TRUE(parse_snapshot_id(name).has_value()) << name;
  }
}

TEST(CoreSnapshotId, LeapDaysFollowTheGregorianRule) {
  EXPECT_TRUE(parse_snapshot_id("2024-02-29").has_value());
  EXPECT_TRUE(parse_snapshot_id("2024-02-29_12-00-00").has_value());
  EXPECT_TRUE(parse_snapshot_id("2000-02-29").has_value());  // divisible by 400
  EXPECT_FALSE(parse_snapshot_id("2026-02-29").has_value());
  EXPECT_FALSE(parse_snapshot_id("2026-02-29_12-00-00").has_value());
  EXPECT_FALSE(parse_snapshot_id("2100-02-29").has_value());  // divisible by 100, not by 400
  EXPECT_FALSE(parse_snapshot_id("2024-02-30").has_value());
}

TEST(CoreSnapshotId, RejectsNearMisses) {
  for (const char* name : {
           "2026-13-01",
           "2026-00-10",
           "2026-11-00",
           "2026-11-31",
           "2026-02-30",
           "2026-11-26_24-00-00",
           "2026-11-26_23-60-00",
           "2026-11-26_23-59-60",
           "2026-11-26_02-18-39x",
           "2026-11-26_02-18-39 ",
           " 2026-11-26",
           "2026-11-26/",
           "x2026-11-26",
           "2026-11-26_02-18-3",
           "2026-11-26_",
           "2026-1-26",
           "2026-11-26T02:00:00",
           "2026-11-26 02-18-39",
           "2026-11-26_02:18:39",
           "2026_11_26",
           "2026-11-26_02-18-39.tmp",
           "+026-11-26",
           "-026-11-26",
           "latest",
           ".snapkeep",
           "",
           "partial",
           "2026-11-2a",
       }) {
    EXPECT_FALSE(parse_snapshot_id(name).has_value()) << "'" << name << "' should not be a snapshot id";
  }
}

TEST(CoreSnapshotId, FormatUsesLocalTimeAndZeroPadding) {
  ScopedTz tz("UTC");
  EXPECT_EQ(format_snapshot_id(utc(2026, 1, 2, 3, 4, 5)), "2026-01-02_03-04-05");
  ScopedTz berlin(berlin_tz());
  EXPECT_EQ(format_snapshot_id(utc(2026, 1, 2, 3, 4, 5)), "2026-01-02_04-04-05");  // CET, +01:00
  EXPECT_EQ(format_snapshot_id(utc(2026, 7, 2, 3, 4, 5)), "2026-07-02_05-04-05");  // CEST, +02:00
}

TEST(CoreSnapshotId, FormatParseAndTimeRoundTrip) {
  for (const std::string& tz_name : {std::string("UTC"), berlin_tz()}) {
    ScopedTz tz(tz_name);
    for (std::time_t when : {utc(2026, 11, 26, 2, 18, 39), utc(2024, 2, 29, 23, 59, 59), utc(2026, 7, 1, 0, 0, 0),
                             utc(2026, 3, 29, 1, 0, 0), utc(2026, 10, 25, 2, 0, 0)}) {
      std::string text = format_snapshot_id(when);
      auto id = parse_snapshot_id(text);
      ASSERT_TRUE(id.has_value()) << tz_name << ": " << text;
      EXPECT_FALSE(id->legacy);
      EXPECT_EQ(id->text, text);
      EXPECT_EQ(snapshot_id_time(*id), when) << tz_name << ": " << text;
      EXPECT_EQ(format_snapshot_id(snapshot_id_time(*id)), text);
    }
  }
}

TEST(CoreSnapshotId, LegacyIdTimeIsLocalMidnight) {
  ScopedTz tz(berlin_tz());
  auto id = parse_snapshot_id("2014-01-11");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(snapshot_id_time(*id), utc(2014, 1, 10, 23, 0, 0));
  auto summer = parse_snapshot_id("2014-07-11");
  ASSERT_TRUE(summer.has_value());
  EXPECT_EQ(snapshot_id_time(*summer), utc(2014, 7, 10, 22, 0, 0));
}

TEST(CoreSnapshotId, FormatIsoLocalHasUtcOffset) {
  std::regex iso(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2})");
  {
    ScopedTz tz("UTC");
    EXPECT_EQ(format_iso_local(utc(2026, 11, 26, 2, 18, 39)), "2026-11-26T02:18:39+00:00");
  }
  {
    ScopedTz tz(berlin_tz());
    EXPECT_EQ(format_iso_local(utc(2026, 11, 26, 1, 18, 39)), "2026-11-26T02:18:39+01:00");
    EXPECT_EQ(format_iso_local(utc(2026, 7, 26, 0, 18, 39)), "2026-07-26T02:18:39+02:00");
    EXPECT_TRUE(std::regex_match(format_iso_local(std::time(nullptr)), iso));
  }
  {
    // Negative and half-hour offsets (Newfoundland, -03:30 in winter).
    ScopedTz tz("NST+3:30");
    EXPECT_EQ(format_iso_local(utc(2026, 1, 10, 12, 0, 0)), "2026-01-10T08:30:00-03:30");
  }
}

TEST(CoreSnapshotId, FallBackHourReadsAsTheEarlierMoment) {
  ScopedTz tz(berlin_tz());
  // On 2026-10-25 Berlin goes from 03:00 CEST back to 02:00 CET: 02:30 happens at 00:30 and 01:30 UTC.
  auto id = parse_snapshot_id("2026-10-25_02-30-00");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(snapshot_id_time(*id), utc(2026, 10, 25, 0, 30, 0));
  // Just outside the repeated hour, each wall-clock time has one reading.
  auto before = parse_snapshot_id("2026-10-25_01-59-59");
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(snapshot_id_time(*before), utc(2026, 10, 24, 23, 59, 59));
  auto after = parse_snapshot_id("2026-10-25_03-00-00");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(snapshot_id_time(*after), utc(2026, 10, 25, 2, 0, 0));
}

TEST(CoreSnapshotId, BothFallBackMomentsFormatToTheSameId) {
  ScopedTz tz(berlin_tz());
  EXPECT_EQ(format_snapshot_id(utc(2026, 10, 25, 0, 30, 0)), "2026-10-25_02-30-00");
  EXPECT_EQ(format_snapshot_id(utc(2026, 10, 25, 1, 30, 0)), "2026-10-25_02-30-00");
  EXPECT_EQ(format_iso_local(utc(2026, 10, 25, 0, 30, 0)), "2026-10-25T02:30:00+02:00");
  EXPECT_EQ(format_iso_local(utc(2026, 10, 25, 1, 30, 0)), "2026-10-25T02:30:00+01:00");
}

TEST(CoreSnapshotId, SkippedSpringHourDoesNotCrashAndStaysNearby) {
  ScopedTz tz(berlin_tz());
  // On 2026-03-29 Berlin jumps from 02:00 CET to 03:00 CEST: 02:30 never happens on the wall clock.
  auto id = parse_snapshot_id("2026-03-29_02-30-00");
  ASSERT_TRUE(id.has_value());
  std::time_t t = snapshot_id_time(*id);
  EXPECT_NE(t, static_cast<std::time_t>(-1));
  // Either reading (01:30 CET or 03:30 CEST) lies between 00:00 and 02:00 UTC.
  EXPECT_GE(t, utc(2026, 3, 29, 0, 0, 0));
  EXPECT_LE(t, utc(2026, 3, 29, 2, 0, 0));
  // It does not sort before snapshots made earlier that night.
  auto earlier = parse_snapshot_id("2026-03-29_01-59-00");
  ASSERT_TRUE(earlier.has_value());
  EXPECT_LE(snapshot_id_time(*earlier), t);
}

}  // namespace
}  // namespace snapkeep
