// Fuzz target: the retention policy parser and engine. The input's first line is a `keep` value for
// parse_keep; a policy it accepts is applied by apply_retention to a fixed set of synthetic snapshots
// plus snapshots (and a shift of `now`) drawn from the rest of the input, in Europe/Berlin so DST
// is crossed. The checks are docs/retention.md's contract: one decision per snapshot, oldest first,
// kept exactly when there is a reason, the newest always kept, `N` keeps the N newest, a bucket rule
// keeps at most one snapshot per bucket and so at most N.

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/config/units.hpp"
#include "core/retention/retention.hpp"
#include "core/store/catalog.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using snapkeep::fuzz::check;

namespace {

using snapkeep::KeepRule;
using snapkeep::SnapshotInfo;

constexpr std::time_t k_now = 1795655919;           // 2026-11-26 02:18:39 in Berlin
constexpr std::int64_t k_year = 366LL * 24 * 3600;  // a little more than a year, in seconds
constexpr std::size_t k_max_extra = 200;            // snapshots taken from the input

// The reason apply_retention gives for a rule, as docs/retention.md spells it.
std::string reason_of(const KeepRule& rule) {
  const std::string count = rule.count ? std::to_string(*rule.count) : "*";
  switch (rule.unit) {
    case KeepRule::Unit::newest: return "newest " + count;
    case KeepRule::Unit::hour: return "hourly " + count + "h";
    case KeepRule::Unit::day: return "daily " + count + "d";
    case KeepRule::Unit::week: return "weekly " + count + "w";
    case KeepRule::Unit::month: return "monthly " + count + "m";
    case KeepRule::Unit::year: return "yearly " + count + "y";
  }
  return count;
}

// A snapshot with a made-up id that tells the inputs apart.
SnapshotInfo snapshot(std::size_t n, std::time_t time, long long ns) {
  SnapshotInfo info;
  info.id = "s" + std::to_string(n);
  info.time = time;
  info.time_ns = static_cast<long long>(time) * 1000000000LL + ns;
  info.time_recorded = true;
  return info;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  return snapkeep::fuzz::use_time_zone("Europe/Berlin");
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace snapkeep;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const auto parsed = parse_keep(input.substr(0, newline));
  if (!parsed) {
    check(parsed.error().kind == ErrorKind::config, "parse_keep failed with a non-config error");
    return 0;
  }
  const KeepPolicy& policy = *parsed;
  check(policy.rules.size() <= 6, "more rules than units");
  for (const KeepRule& rule : policy.rules) {
    check(!rule.count || *rule.count >= 1, "a count of 0");
    check(rule.count || rule.unit != KeepRule::Unit::newest, "'*' without a unit");
  }

  FuzzedDataProvider rest(data + (newline == std::string_view::npos ? size : newline + 1),
                          newline == std::string_view::npos ? 0 : size - newline - 1);
  const std::time_t now = k_now + rest.ConsumeIntegralInRange<std::int64_t>(-10 * k_year, 10 * k_year);
  std::vector<SnapshotInfo> snapshots;
  // Synthetic history: every 5 h for 3 weeks, daily for 3 months, monthly for 3 years, one in the future.
  for (std::time_t t = k_now - 3 * k_year; t <= k_now;) {
    snapshots.push_back(snapshot(snapshots.size(), t, 0));
    t += k_now - t > 90 * 86400 ? 30 * 86400 : k_now - t > 21 * 86400 ? 86400 : 5 * 3600;
  }
  snapshots.push_back(snapshot(snapshots.size(), k_now + 3600, 0));
  while (rest.remaining_bytes() > 0 && snapshots.size() < k_max_extra + 100) {
    const std::time_t previous = snapshots.back().time;
    const std::time_t t = rest.ConsumeBool() ? previous  // same second: ordered by ns, then id
                                             : now - rest.ConsumeIntegralInRange<std::int64_t>(-2 * 86400, 40 * k_year);
    snapshots.push_back(snapshot(snapshots.size(), t, rest.ConsumeIntegralInRange<long long>(0, 999999999)));
  }

  const auto decisions = apply_retention(policy, snapshots, now);

  check(decisions.size() == snapshots.size(), "not one decision per snapshot");
  std::map<std::string, const SnapshotInfo*> by_id;
  for (const SnapshotInfo& s : snapshots) {
    by_id[s.id] = &s;
  }
  std::size_t candidates = 0;
  const SnapshotInfo* newest = nullptr;
  for (const SnapshotInfo& s : snapshots) {
    if (s.time <= now) {
      ++candidates;
      if (newest == nullptr ||
          std::tie(s.time, s.time_ns, s.id) > std::tie(newest->time, newest->time_ns, newest->id)) {
        newest = &s;
      }
    }
  }
  std::map<std::string, std::size_t> reason_count;
  const SnapshotInfo* previous = nullptr;
  for (const RetentionDecision& d : decisions) {
    const auto found = by_id.find(d.id);
    check(found != by_id.end(), "a decision for an unknown id");
    const SnapshotInfo& s = *found->second;
    by_id.erase(found);
    check(previous == nullptr ||
              std::tie(previous->time, previous->time_ns, previous->id) < std::tie(s.time, s.time_ns, s.id),
          "decisions are not oldest first by (time, id)");
    previous = &s;
    check(d.keep == !d.reasons.empty(), "keep does not match the reasons");
    const bool future = std::find(d.reasons.begin(), d.reasons.end(), "future-dated") != d.reasons.end();
    check(future == (s.time > now), "future-dated given to the wrong snapshots");
    check(!future || d.reasons.size() == 1, "a future-dated snapshot took part in a rule");
    const bool keep_all = std::find(d.reasons.begin(), d.reasons.end(), "keep all (no policy)") != d.reasons.end();
    check(keep_all == (!future && policy.rules.empty()), "'keep all (no policy)' given wrongly");
    check((&s == newest) == (std::find(d.reasons.begin(), d.reasons.end(), "newest snapshot") != d.reasons.end()),
          "'newest snapshot' not given exactly to the newest candidate");
    for (const std::string& reason : d.reasons) {
      ++reason_count[reason];
    }
  }
  for (const KeepRule& rule : policy.rules) {
    const std::size_t kept = reason_count[reason_of(rule)];
    if (rule.unit == KeepRule::Unit::newest) {
      check(kept == std::min<std::uint64_t>(*rule.count, candidates), "'N' did not keep the N newest");
    } else {
      check(!rule.count || kept <= *rule.count, "a bucket rule kept more than N snapshots");
      check(kept <= candidates, "a bucket rule kept more snapshots than there are");
    }
  }
  return 0;
}
