// Unit tests for core/retention: hand-checked keep-sets, DST, leap days, ISO weeks, future dates, and
// properties over three years of hourly snapshots checked against an independent calendar oracle.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/units.hpp"
#include "core/retention/retention.hpp"
#include "core/store/snapshot_id.hpp"
#include "tests/unit/time_util.hpp"

namespace snapkeep {
namespace {

using test::local;
using test::utc;
using Unit = KeepRule::Unit;
using Ids = std::vector<std::string>;
using Reasons = std::vector<std::string>;

// Every test runs in Europe/Berlin (DST both ways); the previous TZ comes back afterwards.
class Retention : public ::testing::Test {
 protected:
  static void use_tz(const char* tz) { test::ScopedTz::set(tz); }

 private:
  test::ScopedTz m_tz{"Europe/Berlin"};
};

// A snapshot made at `when`, named by its local time like snapkeep names them.
SnapshotInfo snap(std::time_t when) {
  return SnapshotInfo{format_snapshot_id(when), {}, when, false, true};
}

SnapshotInfo snap(const std::string& id, std::time_t when) {
  return SnapshotInfo{id, {}, when, false, true};
}

KeepPolicy keep(const std::string& text) {
  auto policy = parse_keep(text);
  EXPECT_TRUE(policy.ok()) << text;
  return *policy;
}

// Snapshots every hour (every UTC hour, so both passes of a fall-back hour) over [from, to], skipping
// `gaps` ([start, end) moments); a repeated local time moves on by a second, as the catalog does.
std::vector<SnapshotInfo> hourly(std::time_t from, std::time_t to,
                                 const std::vector<std::pair<std::time_t, std::time_t>>& gaps = {}) {
  std::vector<SnapshotInfo> out;
  std::set<std::string> used;
  for (std::time_t t = from; t <= to; t += 3600) {
    const bool in_gap =
        std::any_of(gaps.begin(), gaps.end(), [&](const auto& g) { return t >= g.first && t < g.second; });
    if (in_gap) {
      continue;
    }
    std::time_t when = t;
    while (used.count(format_snapshot_id(when)) != 0) {
      ++when;
    }
    used.insert(format_snapshot_id(when));
    out.push_back(snap(when));
  }
  return out;
}

// The main data set: hourly from 2023-01-01 00:00 to 2025-11-15 12:00 Berlin time, with three gaps
// (a laptop switched off): 2023-08-01..21, 2024-12-20..2025-01-09 (across a year end) and
// 2025-10-20..11-02 (two whole ISO weeks). Three fall-backs, three spring-forwards, 2024-02-29.
const std::vector<SnapshotInfo>& three_years() {
  static const std::vector<SnapshotInfo> data = hourly(local(2023, 1, 1, 0), local(2025, 11, 15, 12),
                                                       {{local(2023, 8, 1, 0), local(2023, 8, 22, 0)},
                                                        {local(2024, 12, 20, 0), local(2025, 1, 10, 0)},
                                                        {local(2025, 10, 20, 0), local(2025, 11, 3, 0)}});
  return data;
}

// "Now" for the three-year golden tests: half an hour after the last snapshot.
std::time_t three_years_now() {
  return local(2025, 11, 15, 12, 30);
}

Ids kept_ids(const std::vector<RetentionDecision>& decisions) {
  Ids ids;
  for (const auto& d : decisions) {
    if (d.keep) {
      ids.push_back(d.id);
    }
  }
  return ids;
}

// Ids of the snapshots a given reason keeps.
Ids ids_with_reason(const std::vector<RetentionDecision>& decisions, const std::string& reason) {
  Ids ids;
  for (const auto& d : decisions) {
    if (std::find(d.reasons.begin(), d.reasons.end(), reason) != d.reasons.end()) {
      ids.push_back(d.id);
    }
  }
  return ids;
}

Reasons reasons_of(const std::vector<RetentionDecision>& decisions, const std::string& id) {
  for (const auto& d : decisions) {
    if (d.id == id) {
      return d.reasons;
    }
  }
  ADD_FAILURE() << "no decision for " << id;
  return {};
}

// ---- An independent oracle: buckets named by strftime, the last N enumerated on the calendar. ----

std::tm local_tm(std::time_t when) {
  std::tm tm{};
  localtime_r(&when, &tm);
  return tm;
}

// Noon of the local date `back` days before the local date of `when`.
std::tm noon_days_before(std::time_t when, int back) {
  std::tm tm = local_tm(when);
  tm.tm_mday -= back;
  tm.tm_hour = 12;
  tm.tm_min = 0;
  tm.tm_sec = 0;
  tm.tm_isdst = -1;
  return local_tm(std::mktime(&tm));
}

// A bucket's name by strftime: "%Y-%m-%dT%H", "%Y-%m-%d", "%G-W%V", "%Y-%m", "%Y".
std::string oracle_key(Unit unit, const std::tm& tm) {
  char buf[64];
  std::size_t n = 0;
  switch (unit) {
    case Unit::hour: n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H", &tm); break;
    case Unit::day: n = std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm); break;
    case Unit::week: n = std::strftime(buf, sizeof buf, "%G-W%V", &tm); break;
    case Unit::month: n = std::strftime(buf, sizeof buf, "%Y-%m", &tm); break;
    case Unit::year: n = std::strftime(buf, sizeof buf, "%Y", &tm); break;
    case Unit::newest: break;
  }
  return std::string(buf, n);
}

// The names of the last n buckets up to and including the one holding `now`.
std::set<std::string> last_buckets(Unit unit, std::uint64_t n, std::time_t now) {
  std::set<std::string> keys;
  const std::tm now_tm = local_tm(now);
  for (int back = 0; keys.size() < n; ++back) {
    switch (unit) {
      case Unit::hour: {
        const std::string date = oracle_key(Unit::day, noon_days_before(now, back));
        for (int h = back == 0 ? now_tm.tm_hour : 23; h >= 0 && keys.size() < n; --h) {
          keys.insert(date + (h < 10 ? "T0" : "T") + std::to_string(h));
        }
        break;
      }
      case Unit::day: keys.insert(oracle_key(Unit::day, noon_days_before(now, back))); break;
      case Unit::week: keys.insert(oracle_key(Unit::week, noon_days_before(now, back * 7))); break;
      case Unit::month: {
        const int months = (now_tm.tm_year + 1900) * 12 + now_tm.tm_mon - back;
        char buf[16];
        std::snprintf(buf, sizeof buf, "%04d-%02d", months / 12, months % 12 + 1);
        keys.insert(buf);
        break;
      }
      case Unit::year: keys.insert(std::to_string(now_tm.tm_year + 1900 - back)); break;
      case Unit::newest: return keys;
    }
  }
  return keys;
}

std::string oracle_reason(const KeepRule& rule) {
  const std::string n = rule.count ? std::to_string(*rule.count) : "*";
  const std::map<Unit, std::string> names = {{Unit::hour, "hourly "},
                                             {Unit::day, "daily "},
                                             {Unit::week, "weekly "},
                                             {Unit::month, "monthly "},
                                             {Unit::year, "yearly "}};
  const std::map<Unit, std::string> letters = {
      {Unit::hour, "h"}, {Unit::day, "d"}, {Unit::week, "w"}, {Unit::month, "m"}, {Unit::year, "y"}};
  return rule.unit == Unit::newest ? "newest " + n : names.at(rule.unit) + n + letters.at(rule.unit);
}

// docs/retention.md, written a second way.
std::vector<RetentionDecision> oracle(const KeepPolicy& policy, std::vector<SnapshotInfo> snaps, std::time_t now) {
  std::sort(snaps.begin(), snaps.end(),
            [](const auto& a, const auto& b) { return a.time != b.time ? a.time < b.time : a.id < b.id; });
  std::vector<RetentionDecision> out(snaps.size());
  std::vector<std::size_t> candidates;  // newest first
  std::vector<std::tm> tms(snaps.size());
  for (std::size_t i = snaps.size(); i-- > 0;) {
    out[i].id = snaps[i].id;
    if (snaps[i].time > now) {
      out[i].reasons.push_back("future-dated");
    } else {
      candidates.push_back(i);
      tms[i] = local_tm(snaps[i].time);
    }
  }
  if (!candidates.empty()) {
    out[candidates[0]].reasons.push_back("newest snapshot");
  }
  for (std::size_t i : candidates) {
    if (policy.rules.empty()) {
      out[i].reasons.push_back("keep all (no policy)");
    }
  }
  for (const KeepRule& rule : policy.rules) {
    if (rule.unit == Unit::newest) {
      for (std::size_t k = 0; k < candidates.size() && k < *rule.count; ++k) {
        out[candidates[k]].reasons.push_back(oracle_reason(rule));
      }
      continue;
    }
    std::map<std::string, std::size_t> newest_in;
    for (std::size_t i : candidates) {
      newest_in.emplace(oracle_key(rule.unit, tms[i]), i);
    }
    const std::set<std::string> allowed =
        rule.count ? last_buckets(rule.unit, *rule.count, now) : std::set<std::string>{};
    for (const auto& [key, i] : newest_in) {
      if (!rule.count || allowed.count(key) != 0) {
        out[i].reasons.push_back(oracle_reason(rule));
      }
    }
  }
  for (auto& d : out) {
    d.keep = !d.reasons.empty();
  }
  return out;
}

// Describes a decision for failure messages: "ID kept [a, b]".
std::string describe(const RetentionDecision& d) {
  std::string text = d.id + (d.keep ? " kept [" : " deleted [");
  for (const auto& r : d.reasons) {
    text += (text.back() == '[' ? "" : ", ") + r;
  }
  return text + "]";
}

// Equal decision lists; reports the first difference (one assertion, so big sets stay fast).
void expect_same(const std::vector<RetentionDecision>& got, const std::vector<RetentionDecision>& want,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i].id != want[i].id || got[i].keep != want[i].keep || got[i].reasons != want[i].reasons) {
      ADD_FAILURE() << what << ": got " << describe(got[i]) << ", want " << describe(want[i]);
      return;
    }
  }
}

// The properties every result must have.
void expect_properties(const KeepPolicy& policy, const std::vector<SnapshotInfo>& snaps, std::time_t now) {
  const std::string what = "keep = " + policy.text + " at " + format_snapshot_id(now);
  const auto decisions = apply_retention(policy, snaps, now);
  ASSERT_EQ(decisions.size(), snaps.size()) << what;

  // Oldest first by (time, id): the input sorted that way gives the same ids.
  std::vector<SnapshotInfo> sorted = snaps;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.time != b.time ? a.time < b.time : a.id < b.id; });
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    ASSERT_EQ(decisions[i].id, sorted[i].id) << what << " at position " << i;
  }
  // The newest is kept; kept exactly when there is a reason.
  if (!decisions.empty()) {
    EXPECT_TRUE(decisions.back().keep) << what;
  }
  const auto bad =
      std::find_if(decisions.begin(), decisions.end(), [](const auto& d) { return d.keep == d.reasons.empty(); });
  if (bad != decisions.end()) {
    ADD_FAILURE() << what << ": " << describe(*bad);
  }
  // Pruning twice is pruning once: the kept set keeps all of itself, for the same reasons.
  std::vector<SnapshotInfo> survivors;
  std::vector<RetentionDecision> kept;
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    if (decisions[i].keep) {
      survivors.push_back(sorted[i]);
      kept.push_back(decisions[i]);
    }
  }
  std::reverse(survivors.begin(), survivors.end());
  expect_same(apply_retention(policy, survivors, now), kept, what + " (second pass)");
}

// ---- Hand-checked cases ----

TEST_F(Retention, EmptyPolicyKeepsEverything) {
  const std::vector<SnapshotInfo> snaps = {snap(local(2025, 1, 1, 10)), snap(local(2024, 1, 1, 10)),
                                           snap(local(2020, 6, 1, 10))};
  const auto decisions = apply_retention(KeepPolicy{}, snaps, local(2025, 6, 1, 0));
  EXPECT_EQ(kept_ids(decisions), (Ids{"2020-06-01_10-00-00", "2024-01-01_10-00-00", "2025-01-01_10-00-00"}));
  EXPECT_EQ(decisions[0].reasons, Reasons{"keep all (no policy)"});
  EXPECT_EQ(decisions[2].reasons, (Reasons{"newest snapshot", "keep all (no policy)"}));
}

TEST_F(Retention, NoSnapshotsGiveNoDecisions) {
  EXPECT_TRUE(apply_retention(keep("3 7d"), {}, local(2025, 1, 1, 0)).empty());
  EXPECT_TRUE(apply_retention(KeepPolicy{}, {}, local(2025, 1, 1, 0)).empty());
}

TEST_F(Retention, BareNumberKeepsTheNNewest) {
  std::vector<SnapshotInfo> snaps;
  for (int day = 1; day <= 5; ++day) {
    snaps.push_back(snap(local(2025, 3, day, 9)));
  }
  const auto decisions = apply_retention(keep("3"), snaps, local(2025, 3, 10, 0));
  EXPECT_EQ(kept_ids(decisions), (Ids{"2025-03-03_09-00-00", "2025-03-04_09-00-00", "2025-03-05_09-00-00"}));
  EXPECT_EQ(reasons_of(decisions, "2025-03-05_09-00-00"), (Reasons{"newest snapshot", "newest 3"}));
  EXPECT_EQ(reasons_of(decisions, "2025-03-03_09-00-00"), Reasons{"newest 3"});
  EXPECT_EQ(reasons_of(decisions, "2025-03-02_09-00-00"), Reasons{});
}

// After a clock that jumped ahead: the snapshot completed last (recorded sequence) is the newest for
// a bare count, even though a snapshot made earlier carries a later time.
TEST_F(Retention, BareNumberCountsInTheOrderSnapshotsWereCompleted) {
  const std::time_t t = local(2025, 3, 10, 9);
  std::vector<SnapshotInfo> snaps = {snap(t - 7200), snap(t + 86400), snap(t)};  // made in this order
  for (std::size_t i = 0; i < snaps.size(); ++i) {
    snaps[i].seq = i + 1;
  }
  const auto decisions = apply_retention(keep("1"), snaps, t + 2 * 86400);
  EXPECT_EQ(kept_ids(decisions), Ids{format_snapshot_id(t)});
  EXPECT_EQ(reasons_of(decisions, format_snapshot_id(t)), (Reasons{"newest snapshot", "newest 1"}));
  EXPECT_EQ(reasons_of(decisions, format_snapshot_id(t + 86400)), Reasons{});
}

TEST_F(Retention, ResultIsOldestFirstWhateverTheInputOrderAndTiesGoById) {
  const std::time_t t = local(2025, 3, 1, 9);
  const std::vector<SnapshotInfo> snaps = {snap("c", t + 60), snap("b", t), snap("z", t - 60), snap("a", t)};
  const auto decisions = apply_retention(keep("2"), snaps, t + 3600);
  Ids order;
  for (const auto& d : decisions) {
    order.push_back(d.id);
  }
  EXPECT_EQ(order, (Ids{"z", "a", "b", "c"}));
  EXPECT_EQ(kept_ids(decisions), (Ids{"b", "c"}));  // of the tie a/b, "b" is the newer

  // Same time, newest snapshot decided by id alone.
  const auto tie = apply_retention(keep("1d"), {snap("x", t), snap("w", t)}, t);
  EXPECT_EQ(tie[1].id, "x");
  EXPECT_EQ(tie[1].reasons, (Reasons{"newest snapshot", "daily 1d"}));
  EXPECT_FALSE(tie[0].keep);
}

TEST_F(Retention, TwoDaysKeepsTheNewestOfTodayAndYesterday) {
  const std::vector<SnapshotInfo> snaps = {
      snap(local(2025, 5, 10, 8)), snap(local(2025, 5, 10, 20)),                                        // Saturday
      snap(local(2025, 5, 11, 0)), snap(local(2025, 5, 11, 13)), snap(local(2025, 5, 11, 23, 59, 59)),  // Sunday
      snap(local(2025, 5, 12, 0)), snap(local(2025, 5, 12, 7))};  // Monday (today)
  const auto decisions = apply_retention(keep("2d"), snaps, local(2025, 5, 12, 9));
  EXPECT_EQ(kept_ids(decisions), (Ids{"2025-05-11_23-59-59", "2025-05-12_07-00-00"}));
  EXPECT_EQ(reasons_of(decisions, "2025-05-11_23-59-59"), Reasons{"daily 2d"});
  EXPECT_EQ(reasons_of(decisions, "2025-05-12_07-00-00"), (Reasons{"newest snapshot", "daily 2d"}));
}

TEST_F(Retention, EmptyBucketsStillCountTowardsN) {
  // Laptop off on the 10th and 11th: "3d" at the 12th means the 10th, 11th and 12th, so only
  // today's snapshot is kept and the 9th is lost.
  const std::vector<SnapshotInfo> snaps = {snap(local(2025, 5, 8, 12)), snap(local(2025, 5, 9, 12)),
                                           snap(local(2025, 5, 12, 8))};
  EXPECT_EQ(kept_ids(apply_retention(keep("3d"), snaps, local(2025, 5, 12, 9))), Ids{"2025-05-12_08-00-00"});
  // Off for weeks and no backup yet today: no bucket holds a snapshot; the newest survives anyway.
  const auto decisions = apply_retention(keep("3d"), snaps, local(2025, 6, 30, 9));
  EXPECT_EQ(kept_ids(decisions), Ids{"2025-05-12_08-00-00"});
  EXPECT_EQ(decisions.back().reasons, Reasons{"newest snapshot"});
}

TEST_F(Retention, HoursAcrossSpringForwardCountTheMissingHourAsASlot) {
  // 2024-03-31: 02:00 CET jumps to 03:00 CEST; local 02:xx never exists.
  const auto snaps = hourly(local(2024, 3, 30, 0), local(2024, 3, 31, 12));
  const auto decisions = apply_retention(keep("24h"), snaps, local(2024, 3, 31, 12, 30));
  const Ids kept = kept_ids(decisions);
  // Wall-clock slots 03-30 13:00 .. 03-31 12:00 are 24, one of them (02) empty: 23 snapshots.
  ASSERT_EQ(kept.size(), 23U);
  EXPECT_EQ(kept.front(), "2024-03-30_13-00-00");
  EXPECT_EQ(kept.back(), "2024-03-31_12-00-00");
  EXPECT_EQ(std::count(kept.begin(), kept.end(), "2024-03-31_03-00-00"), 1);
  EXPECT_EQ(retention_bucket_name(Unit::hour, utc(2024, 3, 31, 1)), "2024-03-31T03");
}

TEST_F(Retention, RepeatedFallBackHourIsOneBucket) {
  // 2024-10-27: 03:00 CEST falls back to 02:00 CET; local 02:xx happens twice.
  const std::time_t first = utc(2024, 10, 27, 0);   // 02:00 CEST
  const std::time_t second = utc(2024, 10, 27, 1);  // 02:00 CET
  EXPECT_EQ(retention_bucket_name(Unit::hour, first), "2024-10-27T02");
  EXPECT_EQ(retention_bucket_name(Unit::hour, second), "2024-10-27T02");
  const auto snaps = hourly(local(2024, 10, 26, 0), local(2024, 10, 27, 12));
  const auto decisions = apply_retention(keep("24h"), snaps, local(2024, 10, 27, 12, 30));
  const Ids kept = kept_ids(decisions);
  // 25 real hours of snapshots in 24 wall-clock slots; of the two 02:00 only the later stays.
  ASSERT_EQ(kept.size(), 24U);
  EXPECT_EQ(kept.front(), "2024-10-26_13-00-00");
  EXPECT_EQ(reasons_of(decisions, format_snapshot_id(first)), Reasons{});
  EXPECT_EQ(format_snapshot_id(first), "2024-10-27_02-00-00");
  EXPECT_EQ(reasons_of(decisions, "2024-10-27_02-00-01"), Reasons{"hourly 24h"});
  EXPECT_EQ(std::count_if(snaps.begin(), snaps.end(), [&](const auto& s) { return s.time == second + 1; }), 1);
}

TEST_F(Retention, ShortAndLongDstDaysAreEachOneDay) {
  const auto fall = hourly(local(2024, 10, 26, 0), local(2024, 10, 28, 12));
  EXPECT_EQ(std::count_if(fall.begin(), fall.end(), [](const auto& s) { return s.id.rfind("2024-10-27", 0) == 0; }),
            25);
  EXPECT_EQ(kept_ids(apply_retention(keep("2d"), fall, local(2024, 10, 28, 12, 30))),
            (Ids{"2024-10-27_23-00-00", "2024-10-28_12-00-00"}));
  const auto spring = hourly(local(2024, 3, 30, 0), local(2024, 4, 1, 12));
  EXPECT_EQ(std::count_if(spring.begin(), spring.end(), [](const auto& s) { return s.id.rfind("2024-03-31", 0) == 0; }),
            23);
  EXPECT_EQ(kept_ids(apply_retention(keep("2d"), spring, local(2024, 4, 1, 12, 30))),
            (Ids{"2024-03-31_23-00-00", "2024-04-01_12-00-00"}));
}

TEST_F(Retention, LeapDayIsADayAndEndsFebruary) {
  std::vector<SnapshotInfo> snaps;
  for (int day = 26; day <= 29; ++day) {
    snaps.push_back(snap(local(2024, 2, day, 18)));
  }
  snaps.push_back(snap(local(2024, 3, 1, 18)));
  snaps.push_back(snap(local(2024, 3, 2, 18)));
  EXPECT_EQ(kept_ids(apply_retention(keep("3d"), snaps, local(2024, 3, 2, 20))),
            (Ids{"2024-02-29_18-00-00", "2024-03-01_18-00-00", "2024-03-02_18-00-00"}));
  EXPECT_EQ(kept_ids(apply_retention(keep("2m"), snaps, local(2024, 3, 2, 20))),
            (Ids{"2024-02-29_18-00-00", "2024-03-02_18-00-00"}));
  EXPECT_EQ(retention_bucket_name(Unit::day, local(2024, 2, 29, 18)), "2024-02-29");
}

TEST_F(Retention, IsoWeekYearBoundaryIsWeek53Of2026) {
  // 2026-12-28 (Monday) .. 2027-01-03 (Sunday) is 2026-W53; 2027-01-04 starts 2027-W01.
  EXPECT_EQ(retention_bucket_name(Unit::week, local(2026, 12, 28, 0)), "2026-W53");
  EXPECT_EQ(retention_bucket_name(Unit::week, local(2027, 1, 1, 12)), "2026-W53");
  EXPECT_EQ(retention_bucket_name(Unit::week, local(2027, 1, 3, 23, 59, 59)), "2026-W53");
  EXPECT_EQ(retention_bucket_name(Unit::week, local(2027, 1, 4, 0)), "2027-W01");
  EXPECT_EQ(retention_bucket_name(Unit::week, local(2024, 12, 30, 12)), "2025-W01");
  std::vector<SnapshotInfo> snaps;
  for (int day = 24; day <= 31; ++day) {
    snaps.push_back(snap(local(2026, 12, day, 12)));
  }
  for (int day = 1; day <= 5; ++day) {
    snaps.push_back(snap(local(2027, 1, day, 12)));
  }
  EXPECT_EQ(kept_ids(apply_retention(keep("1w"), snaps, local(2027, 1, 5, 18))), Ids{"2027-01-05_12-00-00"});
  EXPECT_EQ(kept_ids(apply_retention(keep("2w"), snaps, local(2027, 1, 5, 18))),
            (Ids{"2027-01-03_12-00-00", "2027-01-05_12-00-00"}));
  EXPECT_EQ(kept_ids(apply_retention(keep("3w"), snaps, local(2027, 1, 5, 18))),
            (Ids{"2026-12-27_12-00-00", "2027-01-03_12-00-00", "2027-01-05_12-00-00"}));
  // Seen from inside week 53 (the 4th and 5th are then future-dated), 2026-12-31 is not special.
  const auto inside = apply_retention(keep("1w"), snaps, local(2027, 1, 3, 18));
  EXPECT_EQ(reasons_of(inside, "2027-01-03_12-00-00"), (Reasons{"newest snapshot", "weekly 1w"}));
  EXPECT_EQ(reasons_of(inside, "2026-12-31_12-00-00"), Reasons{});
}

TEST_F(Retention, TwelveMonthsCountCalendarMonthsBackFromNow) {
  std::vector<SnapshotInfo> snaps;
  for (int month = 1; month <= 12; ++month) {
    snaps.push_back(snap(local(2024, month, 10, 12)));
    snaps.push_back(snap(local(2024, month, 20, 12)));
  }
  snaps.push_back(snap(local(2025, 1, 5, 12)));
  // From 2025-02-01 the last 12 months are 2024-03 .. 2025-02; 2025-02 is empty.
  const auto decisions = apply_retention(keep("12m"), snaps, local(2025, 2, 1, 0, 30));
  Ids want;
  for (int month = 3; month <= 12; ++month) {
    want.push_back(format_snapshot_id(local(2024, month, 20, 12)));
  }
  want.push_back("2025-01-05_12-00-00");
  EXPECT_EQ(kept_ids(decisions), want);
  EXPECT_EQ(reasons_of(decisions, "2024-03-20_12-00-00"), Reasons{"monthly 12m"});
  EXPECT_EQ(reasons_of(decisions, "2024-02-20_12-00-00"), Reasons{});
}

TEST_F(Retention, StarYearsKeepsTheNewestOfEveryYearEver) {
  const std::vector<SnapshotInfo> snaps = {snap(local(1999, 12, 31, 23, 59, 59)), snap(local(2000, 1, 1, 0)),
                                           snap(local(2000, 12, 31, 23)),         snap(local(2005, 7, 1, 12)),
                                           snap(local(2005, 8, 1, 12)),           snap(local(2025, 1, 1, 0, 0, 1))};
  const auto decisions = apply_retention(keep("*y"), snaps, local(2025, 6, 1, 0));
  EXPECT_EQ(kept_ids(decisions),
            (Ids{"1999-12-31_23-59-59", "2000-12-31_23-00-00", "2005-08-01_12-00-00", "2025-01-01_00-00-01"}));
  EXPECT_EQ(reasons_of(decisions, "1999-12-31_23-59-59"), Reasons{"yearly *y"});
  EXPECT_EQ(reasons_of(decisions, "2025-01-01_00-00-01"), (Reasons{"newest snapshot", "yearly *y"}));
}

TEST_F(Retention, FutureDatedSnapshotsAreKeptAndCountForNothing) {
  const std::time_t now = local(2025, 5, 12, 9);
  const std::vector<SnapshotInfo> snaps = {snap(local(2025, 5, 10, 12)), snap(local(2025, 5, 11, 12)),
                                           snap(local(2025, 5, 12, 8)), snap(local(2031, 1, 1, 0)),
                                           snap(local(2025, 5, 12, 9, 0, 1))};
  const auto decisions = apply_retention(keep("2 1d"), snaps, now);
  EXPECT_EQ(kept_ids(decisions),
            (Ids{"2025-05-11_12-00-00", "2025-05-12_08-00-00", "2025-05-12_09-00-01", "2031-01-01_00-00-00"}));
  EXPECT_EQ(reasons_of(decisions, "2031-01-01_00-00-00"), Reasons{"future-dated"});
  EXPECT_EQ(reasons_of(decisions, "2025-05-12_09-00-01"), Reasons{"future-dated"});
  // The newest real snapshot is still "the newest", and "2" and "1d" count only real ones.
  EXPECT_EQ(reasons_of(decisions, "2025-05-12_08-00-00"), (Reasons{"newest snapshot", "newest 2", "daily 1d"}));
  EXPECT_EQ(reasons_of(decisions, "2025-05-11_12-00-00"), Reasons{"newest 2"});
  // Only future-dated snapshots: all kept, the newest among them too.
  const auto all_future = apply_retention(keep("1"), {snap(local(2031, 1, 1, 0)), snap(local(2030, 1, 1, 0))}, now);
  EXPECT_EQ(kept_ids(all_future).size(), 2U);
}

TEST_F(Retention, CombinedPolicyHandChecked) {
  const std::vector<SnapshotInfo> snaps = {
      snap(local(2023, 6, 1, 12)),   snap(local(2024, 3, 1, 12)),   snap(local(2024, 11, 30, 12)),
      snap(local(2024, 12, 31, 12)), snap(local(2025, 9, 10, 12)),  snap(local(2025, 10, 5, 12)),
      snap(local(2025, 10, 31, 12)), snap(local(2025, 11, 14, 10)), snap(local(2025, 11, 14, 20)),
      snap(local(2025, 11, 15, 7)),  snap(local(2025, 11, 15, 8)),  snap(local(2025, 11, 15, 9)),
      snap(local(2025, 11, 15, 10))};
  const auto decisions = apply_retention(keep("3 24h 14d 8w 12m *y"), snaps, local(2025, 11, 15, 12));
  const std::map<std::string, Reasons> want = {
      {"2023-06-01_12-00-00", {"yearly *y"}},
      {"2024-03-01_12-00-00", {}},
      {"2024-11-30_12-00-00", {}},  // 2024-11 is month bucket 12, 12m keeps 0..11
      {"2024-12-31_12-00-00", {"monthly 12m", "yearly *y"}},
      {"2025-09-10_12-00-00", {"monthly 12m"}},  // its ISO week (09-08) is week bucket 9
      {"2025-10-05_12-00-00", {"weekly 8w"}},
      {"2025-10-31_12-00-00", {"weekly 8w", "monthly 12m"}},
      {"2025-11-14_10-00-00", {}},  // before the 24 hour slots, not the newest of its day
      {"2025-11-14_20-00-00", {"hourly 24h", "daily 14d"}},
      {"2025-11-15_07-00-00", {"hourly 24h"}},
      {"2025-11-15_08-00-00", {"newest 3", "hourly 24h"}},
      {"2025-11-15_09-00-00", {"newest 3", "hourly 24h"}},
      {"2025-11-15_10-00-00",
       {"newest snapshot", "newest 3", "hourly 24h", "daily 14d", "weekly 8w", "monthly 12m", "yearly *y"}},
  };
  ASSERT_EQ(decisions.size(), want.size());
  for (const auto& d : decisions) {
    EXPECT_EQ(d.reasons, want.at(d.id)) << d.id;
    EXPECT_EQ(d.keep, !want.at(d.id).empty()) << d.id;
  }
}

TEST_F(Retention, BucketsFollowTheTimeZone) {
  // 2025-06-29 22:30 UTC is 06-30 00:30 in Berlin: yesterday there, the day before in UTC.
  const std::vector<SnapshotInfo> snaps = {snap("a", utc(2025, 6, 29, 22, 30)), snap("b", utc(2025, 7, 1, 10))};
  const std::time_t now = utc(2025, 7, 1, 11);
  EXPECT_EQ(kept_ids(apply_retention(keep("2d"), snaps, now)), (Ids{"a", "b"}));
  use_tz("UTC");
  EXPECT_EQ(kept_ids(apply_retention(keep("2d"), snaps, now)), Ids{"b"});
  EXPECT_EQ(retention_bucket_name(Unit::day, utc(2025, 6, 29, 22, 30)), "2025-06-29");
}

TEST_F(Retention, BucketNamesPerUnit) {
  const std::time_t t = local(2024, 2, 29, 7, 45);
  EXPECT_EQ(retention_bucket_name(Unit::hour, t), "2024-02-29T07");
  EXPECT_EQ(retention_bucket_name(Unit::day, t), "2024-02-29");
  EXPECT_EQ(retention_bucket_name(Unit::week, t), "2024-W09");
  EXPECT_EQ(retention_bucket_name(Unit::month, t), "2024-02");
  EXPECT_EQ(retention_bucket_name(Unit::year, t), "2024");
  EXPECT_EQ(retention_bucket_name(Unit::newest, t), "");
}

// ---- Three years of hourly snapshots ----

TEST_F(Retention, ThreeYearsHourlyAndDailyGolden) {
  const auto decisions = apply_retention(keep("24h 14d"), three_years(), three_years_now());
  Ids hours;
  for (int h = 13; h <= 23; ++h) {
    hours.push_back(format_snapshot_id(local(2025, 11, 14, h)));
  }
  for (int h = 0; h <= 12; ++h) {
    hours.push_back(format_snapshot_id(local(2025, 11, 15, h)));
  }
  EXPECT_EQ(ids_with_reason(decisions, "hourly 24h"), hours);
  Ids days;  // 11-02 .. 11-15, but 11-02 is in the gap
  for (int d = 3; d <= 14; ++d) {
    days.push_back(format_snapshot_id(local(2025, 11, d, 23)));
  }
  days.push_back("2025-11-15_12-00-00");
  EXPECT_EQ(ids_with_reason(decisions, "daily 14d"), days);
}

TEST_F(Retention, ThreeYearsWeeklyGoldenLosesTheGapWeeks) {
  // Weeks starting 11-10, 11-03, 10-27, 10-20, 10-13, 10-06, 09-29, 09-22; 10-20 and 10-27 are empty.
  const auto decisions = apply_retention(keep("8w"), three_years(), three_years_now());
  EXPECT_EQ(ids_with_reason(decisions, "weekly 8w"),
            (Ids{"2025-09-28_23-00-00", "2025-10-05_23-00-00", "2025-10-12_23-00-00", "2025-10-19_23-00-00",
                 "2025-11-09_23-00-00", "2025-11-15_12-00-00"}));
  EXPECT_EQ(kept_ids(decisions).size(), 6U);
}

TEST_F(Retention, ThreeYearsMonthlyAndYearlyGolden) {
  const auto decisions = apply_retention(keep("12m *y"), three_years(), three_years_now());
  EXPECT_EQ(ids_with_reason(decisions, "monthly 12m"),
            (Ids{"2024-12-19_23-00-00", "2025-01-31_23-00-00", "2025-02-28_23-00-00", "2025-03-31_23-00-00",
                 "2025-04-30_23-00-00", "2025-05-31_23-00-00", "2025-06-30_23-00-00", "2025-07-31_23-00-00",
                 "2025-08-31_23-00-00", "2025-09-30_23-00-00", "2025-10-19_23-00-00", "2025-11-15_12-00-00"}));
  EXPECT_EQ(ids_with_reason(decisions, "yearly *y"),
            (Ids{"2023-12-31_23-00-00", "2024-12-19_23-00-00", "2025-11-15_12-00-00"}));
}

TEST_F(Retention, ThreeYearsCombinedPolicyWithAFutureDatedSnapshot) {
  auto snaps = three_years();
  snaps.push_back(snap(local(2031, 1, 1, 0)));
  const auto decisions = apply_retention(keep("3 24h 14d 8w 12m *y"), snaps, three_years_now());
  // 24 hourly + 11 more daily + 4 more weekly + 10 more monthly + 2023's yearly + the future one.
  EXPECT_EQ(kept_ids(decisions).size(), 51U);
  EXPECT_EQ(decisions.back().id, "2031-01-01_00-00-00");
  EXPECT_EQ(decisions.back().reasons, Reasons{"future-dated"});
  EXPECT_EQ(
      reasons_of(decisions, "2025-11-15_12-00-00"),
      (Reasons{"newest snapshot", "newest 3", "hourly 24h", "daily 14d", "weekly 8w", "monthly 12m", "yearly *y"}));
  EXPECT_EQ(reasons_of(decisions, "2024-12-19_23-00-00"), (Reasons{"monthly 12m", "yearly *y"}));
  expect_same(decisions, oracle(keep("3 24h 14d 8w 12m *y"), snaps, three_years_now()), "combined");
}

// Moments that stress the calendar: DST both ways, the leap day, a year end, inside a gap, long after.
std::vector<std::time_t> interesting_nows() {
  return {local(2025, 11, 15, 12, 30), utc(2024, 10, 27, 1, 30), local(2024, 3, 31, 3, 30), local(2024, 2, 29, 23, 30),
          local(2025, 1, 1, 0, 30),    local(2023, 8, 15, 12),   local(2027, 1, 3, 12)};
}

TEST_F(Retention, ThreeYearsMatchTheCalendarOracle) {
  for (const char* text : {"3 24h 14d 8w 12m *y", "48h 40d", "*w 2m", "1 *h *d *m 3y"}) {
    for (std::time_t now : interesting_nows()) {
      const KeepPolicy policy = keep(text);
      expect_same(apply_retention(policy, three_years(), now), oracle(policy, three_years(), now),
                  std::string("keep = ") + text + " at " + format_snapshot_id(now));
    }
  }
}

TEST_F(Retention, ThreeYearsPropertiesHold) {
  for (const char* text : {"3 24h 14d 8w 12m *y", "1", "2d", "*w"}) {
    for (std::time_t now : interesting_nows()) {
      expect_properties(keep(text), three_years(), now);
    }
  }
  expect_properties(KeepPolicy{}, three_years(), three_years_now());
}

TEST_F(Retention, SmallRandomSetsPropertiesHold) {
  // A fixed pseudo-random walk: bursts, ties in time, gaps of days, a few future-dated snapshots.
  std::uint64_t state = 42;
  const auto next = [&state](std::uint64_t bound) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state >> 33) % bound;
  };
  const std::time_t now = local(2025, 3, 30, 14);  // spring-forward day
  for (int round = 0; round < 40; ++round) {
    std::vector<SnapshotInfo> snaps;
    std::time_t t = now - static_cast<std::time_t>(next(400)) * 86400;
    const auto count = 1 + next(60);
    for (std::uint64_t i = 0; i < count; ++i) {
      if (next(8) != 0) {  // else a tie in time with the previous one
        t += static_cast<std::time_t>(next(5) == 0 ? next(20 * 86400) : next(7200));
      }
      snaps.push_back(snap("s" + std::to_string(i), t));
    }
    std::reverse(snaps.begin(), snaps.end());
    for (const char* text : {"3 24h 14d 8w 12m *y", "2", "5h 2d", "1w 1m 1y"}) {
      expect_properties(keep(text), snaps, now);
      expect_same(apply_retention(keep(text), snaps, now), oracle(keep(text), snaps, now),
                  std::string("round ") + std::to_string(round) + " keep = " + text);
    }
  }
}

}  // namespace
}  // namespace snapkeep
