// The retention engine: local calendar buckets, and the rules of `keep` that pick snapshots in them.

#include "core/retention/retention.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <numeric>
#include <string>
#include <tuple>
#include <unordered_set>

namespace snapkeep {
namespace {

using Unit = KeepRule::Unit;

// Where a moment falls in the local calendar: one consecutive bucket number per unit, so the distance
// between two buckets is a plain subtraction.
struct CalendarPosition {
  std::int64_t hour = 0;   // day * 24 + local hour: wall-clock hour slots, (Y,M,D,H) local
  std::int64_t day = 0;    // days since 1970-01-01 of the local date
  std::int64_t week = 0;   // Monday-start (ISO 8601) weeks since Monday 1970-01-05, may be negative
  std::int64_t month = 0;  // year * 12 + month - 1
  std::int64_t year = 0;
};

// Days since 1970-01-01 of a proleptic Gregorian date (days_from_civil, after Howard Hinnant).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

// a / b rounded towards minus infinity (b > 0).
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - (a % b < 0 ? 1 : 0);
}

// Broken-down local time; a moment localtime_r cannot represent reads as 1970-01-01 00:00.
std::tm local_tm(std::time_t when) {
  std::tm tm{};
  if (localtime_r(&when, &tm) == nullptr) {
    tm = std::tm{};
    tm.tm_year = 70;
    tm.tm_mday = 1;
  }
  return tm;
}

// The calendar position of `when` in the local time zone.
CalendarPosition position_of(std::time_t when) {
  const std::tm tm = local_tm(when);
  CalendarPosition pos;
  pos.year = std::int64_t{tm.tm_year} + 1900;
  pos.month = pos.year * 12 + tm.tm_mon;
  pos.day = days_from_civil(pos.year, static_cast<unsigned>(tm.tm_mon + 1), static_cast<unsigned>(tm.tm_mday));
  pos.week = floor_div(pos.day - 4, 7);  // 1970-01-05, day 4, is a Monday
  pos.hour = pos.day * 24 + tm.tm_hour;
  return pos;
}

// The bucket number of a position for a calendar unit.
std::int64_t bucket_of(const CalendarPosition& pos, Unit unit) {
  switch (unit) {
    case Unit::hour: return pos.hour;
    case Unit::day: return pos.day;
    case Unit::week: return pos.week;
    case Unit::month: return pos.month;
    case Unit::year: return pos.year;
    case Unit::newest: break;
  }
  return 0;
}

// The reason a rule gives: "newest 3", "hourly 24h", "yearly *y".
std::string reason_of(const KeepRule& rule) {
  const std::string count = rule.count ? std::to_string(*rule.count) : "*";
  switch (rule.unit) {
    case Unit::newest: return "newest " + count;
    case Unit::hour: return "hourly " + count + "h";
    case Unit::day: return "daily " + count + "d";
    case Unit::week: return "weekly " + count + "w";
    case Unit::month: return "monthly " + count + "m";
    case Unit::year: return "yearly " + count + "y";
  }
  return count;
}

// True when the bucket `distance` buckets before the current one is among the rule's last N.
// A negative distance (a bucket after now's, only possible when the zone's rules move the calendar
// backwards) counts as the current bucket.
bool within(const KeepRule& rule, std::int64_t distance) {
  return !rule.count || distance < 0 || static_cast<std::uint64_t>(distance) < *rule.count;
}

}  // namespace

std::vector<RetentionDecision> apply_retention(const KeepPolicy& policy, const std::vector<SnapshotInfo>& snapshots,
                                               std::time_t now) {
  ::tzset();  // localtime_r need not notice a changed TZ by itself

  // Oldest first by (time, id).
  std::vector<std::size_t> order(snapshots.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const SnapshotInfo& x = snapshots[a];
    const SnapshotInfo& y = snapshots[b];
    if (x.time != y.time) {
      return x.time < y.time;
    }
    return x.time_ns != y.time_ns ? x.time_ns < y.time_ns : x.id < y.id;  // as the catalog orders
  });
  std::vector<RetentionDecision> decisions(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    decisions[i].id = snapshots[order[i]].id;
  }

  // Future-dated snapshots are kept and take no part in anything else; the rest, newest first, are
  // the candidates every rule chooses from.
  std::vector<std::size_t> candidates;  // indexes into decisions, newest first
  candidates.reserve(order.size());
  for (std::size_t i = order.size(); i-- > 0;) {
    if (snapshots[order[i]].time > now) {
      decisions[i].reasons.emplace_back("future-dated");
    } else {
      candidates.push_back(i);
    }
  }
  // "newest N" counts in the order snapshots were completed (the recorded sequence, as the catalog
  // orders them), not by their times, which a clock that jumped may have put out of order; calendar
  // buckets use the times.
  std::vector<std::size_t> completed = candidates;  // indexes into decisions, completed last first
  auto completion = [&](std::size_t i) {
    const SnapshotInfo& s = snapshots[order[i]];
    return std::make_tuple(s.seq != 0, s.seq, s.time, s.time_ns, s.id);
  };
  std::stable_sort(completed.begin(), completed.end(),
                   [&](std::size_t a, std::size_t b) { return completion(b) < completion(a); });
  if (!completed.empty()) {
    decisions[completed.front()].reasons.emplace_back("newest snapshot");
  }
  if (policy.rules.empty()) {
    for (std::size_t i : candidates) {
      decisions[i].reasons.emplace_back("keep all (no policy)");
    }
  }

  const bool has_buckets = std::any_of(policy.rules.begin(), policy.rules.end(),
                                       [](const KeepRule& rule) { return rule.unit != Unit::newest; });
  std::vector<CalendarPosition> positions;  // parallel to candidates
  CalendarPosition now_position;
  if (has_buckets) {
    positions.reserve(candidates.size());
    for (std::size_t i : candidates) {
      positions.push_back(position_of(snapshots[order[i]].time));
    }
    now_position = position_of(now);
  }

  for (const KeepRule& rule : policy.rules) {
    const std::string reason = reason_of(rule);
    if (rule.unit == Unit::newest) {
      const std::uint64_t n = rule.count ? std::min<std::uint64_t>(*rule.count, completed.size()) : completed.size();
      for (std::size_t k = 0; k < n; ++k) {
        decisions[completed[k]].reasons.push_back(reason);
      }
      continue;
    }
    // The first candidate met in a bucket is that bucket's newest.
    const std::int64_t current = bucket_of(now_position, rule.unit);
    std::unordered_set<std::int64_t> seen;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      const std::int64_t bucket = bucket_of(positions[k], rule.unit);
      if (seen.insert(bucket).second && within(rule, current - bucket)) {
        decisions[candidates[k]].reasons.push_back(reason);
      }
    }
  }

  for (RetentionDecision& decision : decisions) {
    decision.keep = !decision.reasons.empty();
  }
  return decisions;
}

std::string retention_bucket_name(KeepRule::Unit unit, std::time_t when) {
  if (unit == Unit::newest) {
    return "";
  }
  ::tzset();
  const std::tm tm = local_tm(when);
  std::array<char, 32> text{};
  std::size_t n = 0;
  switch (unit) {
    case Unit::hour: n = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H", &tm); break;
    case Unit::day: n = std::strftime(text.data(), text.size(), "%Y-%m-%d", &tm); break;
    case Unit::week: n = std::strftime(text.data(), text.size(), "%G-W%V", &tm); break;
    case Unit::month: n = std::strftime(text.data(), text.size(), "%Y-%m", &tm); break;
    case Unit::year: n = std::strftime(text.data(), text.size(), "%Y", &tm); break;
    case Unit::newest: break;
  }
  return std::string(text.data(), n);
}

}  // namespace snapkeep
