// `snapkeep report --json` against a known history made with faketime over eight months on a
// loop-mounted ext4 drive: monthly backups, a full and then bounded scrubs, a flipped byte, and a
// report some weeks later. Checks the snapshot timeline (with du's exclusive bytes), the retention
// plan at the report's moment, backup times and durations, free space and its projection, scrub
// coverage against each scrub's own figures, the open finding with its paths, and the drive.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/base/fd.hpp"
#include "tests/support/file_probes.hpp"
#include "tests/support/preset_world.hpp"

namespace snapkeep::test {
namespace {

using nlohmann::json;

// Seconds since the epoch of a UTC time "YYYY-MM-DD HH:MM:SS".
std::time_t utc(const std::string& text) {
  std::tm tm{};
  ::strptime(text.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
  return ::timegm(&tm);
}

// Runs `snapkeep --json ARGS` at the faked moment `when` (UTC; file times and durations stay real)
// and returns the preset's entry, checking the exit status.
json at(const PresetWorld& w, const std::string& when, std::vector<std::string> args, int expected_exit = 0) {
  std::vector<std::string> argv{"faketime", when, snapkeep_binary().string(), "-c", w.config.string(), "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = run(argv, {{"TZ", "UTC"}, {"NO_FAKE_STAT", "1"}, {"DONT_FAKE_MONOTONIC", "1"}});
  EXPECT_EQ(r.exit_code, expected_exit) << when << " " << ::testing::PrintToString(args) << "\n" << r.out << r.err;
  json doc = json::parse(r.out, nullptr, false);
  EXPECT_TRUE(!doc.is_discarded() && doc.contains("presets")) << r.out << r.err;
  return doc.is_discarded() || !doc.contains("presets") ? json() : doc["presets"][0];
}

// Flips the bits of one byte of a file in place (its mtime is put back by the caller).
void flip_byte(const fs::path& path, off_t offset) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(fd.valid()) << path;
  unsigned char byte = 0;
  ASSERT_EQ(::pread(fd.get(), &byte, 1, offset), 1);
  byte ^= 0xff;
  ASSERT_EQ(::pwrite(fd.get(), &byte, 1, offset), 1);
}

// The history log's records.
std::vector<json> history(const PresetWorld& w) {
  std::vector<json> out;
  std::string text = read_file(w.preset_dir / ".snapkeep" / "history.jsonl");
  std::size_t start = 0;
  for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    out.push_back(json::parse(text.substr(start, nl - start)));
    start = nl + 1;
  }
  return out;
}

class ReportScenario : public ::testing::Test {
 protected:
  void SetUp() override {
    SNAPKEEP_REQUIRE_ROOT();
    ASSERT_EQ(run({"faketime", "2026-01-01 00:00:00", "true"}).exit_code, 0) << "faketime (scripts/setup) is needed";
  }
};

TEST_F(ReportScenario, MonthsOfBackupsAndScrubs) {
  PresetWorld w(96);
  ASSERT_TRUE(w.dest.ok());
  w.write_config("keep = 3 6m\n");
  const std::vector<std::string> months = {"2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"};
  std::vector<std::string> ids;
  std::map<std::string, json> backups;
  for (std::size_t m = 0; m < months.size(); ++m) {
    // Each month a new file of its own (kept by every later snapshot) and a new mailbox (held by
    // this snapshot alone).
    write_random_file(w.src / ("month-" + months[m] + ".bin"), 1 << 20, static_cast<unsigned>(m + 1));
    write_random_file(w.src / "mail.mbox", (m + 1) * 65536, static_cast<unsigned>(100 + m));
    const std::string when = months[m] + "-01 02:00:00";
    json entry = at(w, when, {"backup"});
    ASSERT_EQ(entry.value("status", ""), "ok") << entry.dump(2);
    EXPECT_EQ(entry.value("snapshot", "").rfind(months[m] + "-01_02-00-0", 0), 0u) << "faketime names the snapshot";
    ids.push_back(entry["snapshot"]);
    backups[entry["snapshot"]] = entry;
  }
  // A flipped byte in the January file (shared by every snapshot), a full scrub that finds it,
  // then bounded scrubs: each reads a part, and reads the damaged content again.
  const fs::path victim = w.snap(ids[0]) / "month-2026-01.bin";
  const struct stat before = stat_of(victim);
  flip_byte(victim, 1000);
  set_mtime(victim, before.st_mtim.tv_sec, before.st_mtim.tv_nsec);
  json full = at(w, "2026-06-02 03:00:00", {"scrub"}, 4);
  EXPECT_EQ(full["bytes_read"], full["bytes_total"]);
  std::vector<json> scrubs{full};
  std::vector<std::string> scrub_times{"2026-06-02 03:00:00"};
  for (const std::string when : {"2026-07-01 03:00:00", "2026-07-20 03:00:00", "2026-08-10 03:00:00"}) {
    scrubs.push_back(at(w, when, {"scrub", "--max-bytes", "1M"}, 4));
    scrub_times.push_back(when);
    EXPECT_EQ(scrubs.back()["status"], "damaged");
    EXPECT_LT(scrubs.back()["bytes_read"].get<double>(), scrubs.back()["bytes_total"].get<double>());
  }
  json du = at(w, "2026-08-20 12:00:00", {"du"});
  json report = at(w, "2026-08-20 12:00:00", {"report"});
  ASSERT_EQ(report.value("status", ""), "ok") << report.dump(2);
  const double now = static_cast<double>(utc("2026-08-20 12:00:00"));
  EXPECT_NEAR(report["generated_unix"].get<double>(), now, 5);

  // The timeline: every snapshot at its faked time, with du's figures.
  const json& snapshots = report["snapshots"];
  ASSERT_EQ(snapshots.size(), ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(snapshots[i]["id"], ids[i]);
    EXPECT_NEAR(snapshots[i]["time_unix"].get<double>(), static_cast<double>(utc(months[i] + "-01 02:00:00")), 5);
    EXPECT_EQ(snapshots[i]["exclusive_bytes"], du["snapshots"][i]["exclusive_bytes"]);
    EXPECT_EQ(snapshots[i]["cumulative_bytes"], du["snapshots"][i]["cumulative_bytes"]);
    EXPECT_GE(snapshots[i]["exclusive_bytes"].get<std::uint64_t>(), (i + 1) * 65536) << "its own mailbox";
  }
  EXPECT_EQ(report["total_bytes"], du["total_bytes"]);
  EXPECT_GE(snapshots.back()["exclusive_bytes"].get<std::uint64_t>(), (1u << 20) + 6 * 65536u)
      << "the newest alone holds June's file and its mailbox";

  // The retention plan at the report's moment (keep = 3 6m): six monthly buckets reach back to
  // March, and the three newest are April to June, so January and February would go.
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(snapshots[i]["keep"], i >= 2) << ids[i] << " " << snapshots[i].dump();
  }
  EXPECT_EQ(report["retention"]["to_delete"], 2);
  EXPECT_EQ(report["retention"]["keep"], "3 6m");

  // Backups: when (faked), how long, what they copied, as each run said.
  const json& list = report["backups"];
  ASSERT_EQ(list.size(), ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(list[i]["snapshot"], ids[i]);
    EXPECT_NEAR(list[i]["time_unix"].get<double>(), static_cast<double>(utc(months[i] + "-01 02:00:00")), 60);
    EXPECT_EQ(list[i]["bytes_transferred"], backups[ids[i]]["bytes_transferred"]);
    EXPECT_GE(list[i]["seconds"].get<double>(), 0.0);
    EXPECT_EQ(list[i]["files"], backups[ids[i]]["files"]);
  }
  EXPECT_FALSE(list[0].contains("changes")) << "the first backup has nothing to compare with";
  EXPECT_EQ(list[1]["changes"]["added"], 1) << "February's file";
  EXPECT_EQ(list[1]["changes"]["content"], 1) << "the mailbox";

  // Free space: one reading per backup (as the log recorded it), then now; falling each month.
  const std::vector<json> log = history(w);
  ASSERT_EQ(log.size(), ids.size() + scrubs.size());
  const json& points = report["space"]["points"];
  ASSERT_EQ(points.size(), ids.size() + 1);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(points[i]["free_bytes"], log[i]["destination"]["free_bytes"]);
    if (i > 0) {
      EXPECT_LT(points[i]["free_bytes"].get<double>(), points[i - 1]["free_bytes"].get<double>());
    }
  }
  EXPECT_EQ(points.back()["now"], true);
  EXPECT_EQ(points.back()["free_bytes"], report["space"]["free_bytes"]);
  // The projection: fitted to the three newest readings (the 90-day basis holds April to June's),
  // started from the free space now.
  const json& projection = report["space"]["projection"];
  EXPECT_EQ(projection["points"], 3);
  const double slope = projection["bytes_per_day"].get<double>();
  EXPECT_LT(slope, 0);
  const double per_month = (points[5]["free_bytes"].get<double>() - points[3]["free_bytes"].get<double>()) /
                           ((points[5]["time_unix"].get<double>() - points[3]["time_unix"].get<double>()) / 86400);
  EXPECT_NEAR(slope, per_month, std::abs(per_month) * 0.2) << "about the rate of the last months";
  const double free_now = report["space"]["free_bytes"].get<double>();
  EXPECT_NEAR(projection["days_left"].get<double>(), free_now / -slope, 1e-6 * free_now / -slope);
  EXPECT_NEAR(projection["full_at_unix"].get<double>(),
              report["generated_unix"].get<double>() + free_now / -slope * 86400, 1);

  // Scrub coverage: after each scrub, what the scrubs of the last 30 days read over the content
  // (06-02 and 07-01 lie within 30 days, so do 07-01 and 07-20, and 07-20 and 08-10).
  const json& coverage_list = report["scrubs"];
  ASSERT_EQ(coverage_list.size(), scrubs.size());
  auto read = [&](std::size_t i) { return scrubs[i]["bytes_read"].get<double>(); };
  auto total = [&](std::size_t i) { return scrubs[i]["bytes_total"].get<double>(); };
  const std::vector<double> expected = {1.0, (read(0) + read(1)) / total(1), (read(1) + read(2)) / total(2),
                                        (read(2) + read(3)) / total(3)};
  for (std::size_t i = 0; i < scrubs.size(); ++i) {
    EXPECT_NEAR(coverage_list[i]["time_unix"].get<double>(), static_cast<double>(utc(scrub_times[i])), 60);
    EXPECT_NEAR(coverage_list[i]["coverage"].get<double>(), std::min(1.0, expected[i]), 1e-9) << scrub_times[i];
  }
  EXPECT_NEAR(report["coverage"]["now"].get<double>(), std::min(1.0, read(3) / total(3)), 1e-9)
      << "only the scrub of 2026-08-10 lies within 30 days of the report";
  json wider = at(w, "2026-08-20 12:00:00", {"report", "--coverage-window", "60d"});
  EXPECT_NEAR(wider["coverage"]["now"].get<double>(), std::min(1.0, (read(1) + read(2) + read(3)) / total(3)), 1e-9)
      << "07-01, 07-20 and 08-10 lie within 60 days";

  // The open finding: the flipped January file, in every snapshot that links it.
  ASSERT_EQ(report["findings"].size(), 1u) << report["findings"].dump(2);
  const json& finding = report["findings"][0];
  EXPECT_EQ(finding["status"], "corrupted");
  EXPECT_EQ(finding["snapshots"], json(ids));
  ASSERT_EQ(finding["paths"].size(), ids.size());
  EXPECT_EQ(finding["paths"][0], ids[0] + "/month-2026-01.bin");
  EXPECT_EQ(finding["size"], 1 << 20);

  // The drive: this loop filesystem, connected, named by its UUID.
  RunResult blkid = run({"blkid", "-s", "UUID", "-o", "value", "--", w.dest.device()});
  ASSERT_EQ(report["drives"].size(), 1u) << report["drives"].dump();
  EXPECT_EQ(report["drives"][0]["uuid"].get<std::string>() + "\n", blkid.out);
  EXPECT_EQ(report["drives"][0]["connected"], true);
  EXPECT_EQ(log[0]["drive"]["uuid"], report["drives"][0]["uuid"]);
}

}  // namespace
}  // namespace snapkeep::test
