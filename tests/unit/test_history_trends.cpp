// Unit tests for core/history/trends: the free-space projection and scrub coverage.

#include <gtest/gtest.h>

#include "core/history/trends.hpp"

namespace snapkeep {
namespace {

constexpr double k_day = 86400;

TEST(Trends, ProjectsWhenAFallingLineReachesZero) {
  // 1 000 000 bytes free, falling by 10 000 a day for 20 days: 800 000 left, 80 days to go.
  std::vector<TimePoint> readings;
  for (int day = 0; day <= 20; ++day) {
    readings.push_back({day * k_day, 1000000.0 - 10000.0 * day});
  }
  FillProjection p = project_fill(readings, 20 * k_day, 30 * k_day);
  EXPECT_NEAR(p.bytes_per_day, -10000, 1e-6);
  EXPECT_EQ(p.points, 21u);
  ASSERT_TRUE(p.days_left.has_value());
  EXPECT_NEAR(*p.days_left, 80, 1e-6);
  EXPECT_NEAR(*p.full_at, 100 * k_day, 1e-3);
}

TEST(Trends, FitsOnlyTheRecentReadings) {
  // A year of steady space, then 10 days falling by 1000 a day: the basis (10 days) sees the fall.
  std::vector<TimePoint> readings;
  for (int day = 0; day < 365; day += 5) {
    readings.push_back({day * k_day, 500000});
  }
  for (int day = 1; day <= 10; ++day) {
    readings.push_back({(365 + day) * k_day, 500000.0 - 1000.0 * day});
  }
  FillProjection p = project_fill(readings, 375 * k_day, 9.5 * k_day);
  EXPECT_EQ(p.points, 10u);
  EXPECT_NEAR(p.bytes_per_day, -1000, 1e-6);
  ASSERT_TRUE(p.days_left.has_value());
  EXPECT_NEAR(*p.days_left, 490, 1e-6);
}

TEST(Trends, NoProjectionWhenNotFallingOrTooLittleHistory) {
  EXPECT_FALSE(project_fill({}, 0, k_day).days_left.has_value());
  EXPECT_FALSE(project_fill({{0, 100}}, 0, k_day).days_left.has_value());
  EXPECT_FALSE(project_fill({{0, 100}, {10 * k_day, 200}}, 10 * k_day, 30 * k_day).days_left.has_value());
  // Two readings a minute apart say nothing about a rate.
  FillProjection quick = project_fill({{0, 200}, {60, 100}}, 60, 30 * k_day);
  EXPECT_FALSE(quick.days_left.has_value());
  EXPECT_EQ(quick.points, 0u);
  // Fewer than three readings in the basis: the last three are used.
  FillProjection old = project_fill({{0, 300}, {10 * k_day, 200}, {20 * k_day, 100}}, 100 * k_day, k_day);
  EXPECT_NEAR(old.bytes_per_day, -10, 1e-9);
  EXPECT_EQ(old.points, 3u);
}

TEST(Trends, StartsFromTheFreeSpaceMeasuredNow) {
  // Readings at each backup; free space measured now is what is left to fill at their rate.
  std::vector<TimePoint> readings{{0, 1000}, {k_day, 900}, {2 * k_day, 800}};
  FillProjection p = project_fill(readings, 5 * k_day, 30 * k_day, 600.0);
  ASSERT_TRUE(p.days_left.has_value());
  EXPECT_NEAR(*p.days_left, 6, 1e-9);
  EXPECT_NEAR(*p.full_at, 11 * k_day, 1e-6);
}

TEST(Trends, CoverageIsWhatTheWindowReadOverTheContent) {
  // Four bounded runs a week apart, each reading a quarter of 400 bytes.
  std::vector<ScrubRun> runs;
  for (int week = 0; week < 6; ++week) {
    runs.push_back({week * 7 * k_day, 100, 400, true});
  }
  const double window = 30 * k_day;
  EXPECT_DOUBLE_EQ(coverage_at(runs, 0, window), 0.25);
  EXPECT_DOUBLE_EQ(coverage_at(runs, 14 * k_day, window), 0.75);
  EXPECT_DOUBLE_EQ(coverage_at(runs, 21 * k_day, window), 1.0);
  EXPECT_DOUBLE_EQ(coverage_at(runs, 35 * k_day, window), 1.0) << "capped at 1";
  // 30 days after the last run, nothing is covered any more.
  EXPECT_DOUBLE_EQ(coverage_at(runs, (35 + 30) * k_day, window), 0.0);
  EXPECT_DOUBLE_EQ(coverage_at({}, 0, window), 0.0);
}

TEST(Trends, CoverageUsesTheContentOfTheLastRunOverEverySnapshot) {
  // A run of one snapshot (200 of its 200 bytes) counts what it read, over the whole preset's 800.
  std::vector<ScrubRun> runs{{0, 400, 800, true}, {k_day, 200, 200, false}};
  EXPECT_DOUBLE_EQ(coverage_at(runs, k_day, 30 * k_day), 0.75);
  // Only runs of one snapshot: their own total.
  EXPECT_DOUBLE_EQ(coverage_at({{0, 100, 200, false}}, 0, 30 * k_day), 0.5);
  // Nothing to verify is fully covered.
  EXPECT_DOUBLE_EQ(coverage_at({{0, 0, 0, true}}, 0, 30 * k_day), 1.0);
}

}  // namespace
}  // namespace snapkeep
