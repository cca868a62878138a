// End-to-end tests of monitoring (docs/monitoring.md) through the CLI: healthcheck pings against a
// small HTTP server on 127.0.0.1, before_backup / after_backup / on_success / on_failure commands
// and their environment, `status` (human, JSON, --max-age, -q, an absent drive) and metrics_file.

#include <fcntl.h>
#include <sys/stat.h>

#include <cmath>
#include <ctime>
#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/store/local_state.hpp"
#include "tests/support/http_server.hpp"
#include "tests/support/prom_text.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

using nlohmann::json;

// A source, a destination and a config for preset "home" with the extra lines the test gives;
// record-env writes the SNAPKEEP_* variables it was run with to the file named by its argument.
struct World {
  explicit World(const std::string& extra = "") {
    src = tmp / "src";
    dest = tmp / "dest";
    fs::create_directories(dest);
    write_file(src / "a.txt", "alpha\n");
    write_file(src / "b.txt", "bravo\n");
    write_file(tmp / "record-env",
               "#!/bin/sh\nenv | grep '^SNAPKEEP_' | sort > \"$1\"\n[ -z \"$2\" ] || { echo \"$2\" >&2; exit 3; }\n");
    ::chmod((tmp / "record-env").c_str(), 0755);
    configure(extra);
  }
  void configure(const std::string& extra) {
    config = write_preset_config(tmp / "snapkeep.ini", "home", src, dest, extra);
  }
  RunResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {"-c", config.string()});
    return snapkeep(args);
  }
  // The variables record-env wrote to `name` (empty when it never ran).
  std::map<std::string, std::string> env_file(const std::string& name) const {
    std::map<std::string, std::string> vars;
    std::ifstream in(tmp / name);
    std::string line;
    while (std::getline(in, line)) {
      const auto eq = line.find('=');
      if (eq != std::string::npos) {
        vars[line.substr(0, eq)] = line.substr(eq + 1);
      }
    }
    return vars;
  }
  std::string recorder(const std::string& name, const std::string& fail_with = "") const {
    return (tmp / "record-env").string() + " " + (tmp / name).string() +
           (fail_with.empty() ? "" : " '" + fail_with + "'");
  }
  fs::path preset_dir() const { return dest / "home"; }

  TempDir tmp;
  fs::path src;
  fs::path dest;
  fs::path config;
};

json parse(const RunResult& r) {
  json doc = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << r.out << r.err;
  return doc;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(Monitoring, ASuccessfulBackupPingsStartThenSuccessWithOneRunId) {
  HttpServer server;
  World w("healthcheck_url = " + server.url("/ping/abc") + "\n");
  auto r = w.cli({"backup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto requests = server.wait_for(2);
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_TRUE(requests[0].target.starts_with("/ping/abc/start?rid=")) << requests[0].target;
  EXPECT_TRUE(requests[1].target.starts_with("/ping/abc?rid=")) << requests[1].target;
  EXPECT_EQ(requests[0].target.substr(requests[0].target.find("rid=")),
            requests[1].target.substr(requests[1].target.find("rid=")));
  const auto ids = snapshot_ids(w.preset_dir());
  ASSERT_EQ(ids.size(), 1U);
  EXPECT_TRUE(has(requests[1].body, "snapshot " + ids[0])) << requests[1].body;
}

TEST(Monitoring, AFailingBeforeBackupFailsTheRunBeforeAnythingIsCopied) {
  HttpServer server;
  World w;
  w.configure("healthcheck_url = " + server.url("/p") + "\nbefore_backup = " +
              w.recorder("before.env", "pg_dump: disk full") + "\nafter_backup = " + w.recorder("after.env") +
              "\non_failure = " + w.recorder("failure.env") + "\non_success = " + w.recorder("success.env") + "\n");
  auto r = w.cli({"backup"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(has(r.err, "before_backup command")) << r.err;
  EXPECT_TRUE(has(r.err, "exited with status 3")) << r.err;
  EXPECT_TRUE(has(r.err, "pg_dump: disk full")) << r.err;  // the command's stderr tail
  EXPECT_TRUE(snapshot_ids(w.preset_dir()).empty());

  // before_backup ran with the preset in its environment and no status yet.
  EXPECT_EQ(w.env_file("before.env")["SNAPKEEP_PRESET"], "home");
  EXPECT_EQ(w.env_file("before.env")["SNAPKEEP_OPERATION"], "backup");
  // after_backup runs after a failure too, with the status.
  EXPECT_EQ(w.env_file("after.env")["SNAPKEEP_STATUS"], "failed");
  auto failure = w.env_file("failure.env");
  EXPECT_EQ(failure["SNAPKEEP_STATUS"], "failed");
  EXPECT_EQ(failure["SNAPKEEP_DESTINATION"], w.preset_dir().string());
  EXPECT_TRUE(has(failure["SNAPKEEP_ERROR"], "before_backup")) << failure["SNAPKEEP_ERROR"];
  EXPECT_TRUE(w.env_file("success.env").empty());

  const auto requests = server.wait_for(2);
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_TRUE(requests[0].target.starts_with("/p/start"));
  EXPECT_TRUE(requests[1].target.starts_with("/p/fail"));
  EXPECT_TRUE(has(requests[1].body, "pg_dump: disk full")) << requests[1].body;
}

TEST(Monitoring, AfterBackupAndOnSuccessSeeTheSnapshot) {
  World w;
  w.configure("after_backup = " + w.recorder("after.env") + "\non_success = " + w.recorder("success.env") + "\n");
  auto r = w.cli({"backup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ids = snapshot_ids(w.preset_dir());
  ASSERT_EQ(ids.size(), 1U);
  EXPECT_EQ(w.env_file("after.env")["SNAPKEEP_STATUS"], "ok");
  EXPECT_EQ(w.env_file("after.env")["SNAPKEEP_SNAPSHOT"], ids[0]);
  EXPECT_EQ(w.env_file("success.env")["SNAPKEEP_STATUS"], "ok");
  EXPECT_EQ(w.env_file("success.env")["SNAPKEEP_SNAPSHOT"], ids[0]);
  EXPECT_EQ(w.env_file("success.env")["SNAPKEEP_ERROR"], "");
}

TEST(Monitoring, AFailingAfterBackupFailsTheRunButTheSnapshotCounts) {
  World w;
  w.configure("after_backup = " + w.recorder("after.env", "could not restart the database") + "\n");
  auto r = w.cli({"--json", "backup"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(snapshot_ids(w.preset_dir()).size(), 1U);
  json doc = parse(r);
  EXPECT_EQ(doc["presets"][0]["status"], "failed");
  EXPECT_TRUE(has(doc["presets"][0]["error"].get<std::string>(), "could not restart the database"));
  json status = parse(w.cli({"--json", "status", "--max-age", "1h"}));
  EXPECT_EQ(status["presets"][0]["last_result"], "failed");
  EXPECT_FALSE(status["presets"][0]["stale"].get<bool>());  // the snapshot was made
}

TEST(Monitoring, AnUnreachableMonitorIsOnlyAWarning) {
  World w("healthcheck_url = http://127.0.0.1:" + std::to_string(closed_port()) + "/p\n");
  auto r = w.cli({"backup"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(snapshot_ids(w.preset_dir()).size(), 1U);
  EXPECT_TRUE(has(r.err, "warning")) << r.err;
  EXPECT_TRUE(has(r.err, "could not be reached")) << r.err;
}

TEST(Monitoring, ARunThatIsRetriedAfterAServerErrorStillPings) {
  HttpServer server({503, 200, 200});
  World w("healthcheck_url = " + server.url("/p") + "\n");
  ASSERT_EQ(w.cli({"backup"}).exit_code, 0);
  const auto requests = server.wait_for(3);
  ASSERT_EQ(requests.size(), 3U);
  EXPECT_TRUE(requests[0].target.starts_with("/p/start"));
  EXPECT_TRUE(requests[1].target.starts_with("/p/start"));
  EXPECT_TRUE(requests[2].target.starts_with("/p?"));
}

TEST(Monitoring, ASkippedRunPingsNothingRunsNothingAndIsNoSuccess) {
  HttpServer server;
  World w;
  fs::remove_all(w.dest);  // the drive is absent
  w.configure("if_unmounted = skip\nhealthcheck_url = " + server.url("/p") +
              "\non_failure = " + w.recorder("failure.env") + "\non_success = " + w.recorder("success.env") +
              "\nafter_backup = " + w.recorder("after.env") + "\n");
  auto r = w.cli({"--json", "backup"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse(r)["presets"][0]["status"], "skipped");
  EXPECT_TRUE(server.requests().empty());
  EXPECT_TRUE(w.env_file("failure.env").empty());
  EXPECT_TRUE(w.env_file("success.env").empty());
  EXPECT_TRUE(w.env_file("after.env").empty());

  auto stale = w.cli({"--json", "status", "--max-age", "30d"});
  EXPECT_EQ(stale.exit_code, 1);
  json doc = parse(stale);
  EXPECT_EQ(doc["presets"][0]["last_result"], "skipped");
  EXPECT_TRUE(doc["presets"][0]["last_success"].is_null());
  EXPECT_TRUE(doc["presets"][0]["stale"].get<bool>());
  EXPECT_FALSE(doc["presets"][0]["drive_present"].get<bool>());
}

TEST(Monitoring, StatusShowsTheLastRunsAndMaxAgeDecidesTheExit) {
  World w;
  ASSERT_EQ(w.cli({"backup"}).exit_code, 0);
  const auto ids = snapshot_ids(w.preset_dir());
  ASSERT_EQ(ids.size(), 1U);

  auto human = w.cli({"status"});
  EXPECT_EQ(human.exit_code, 0) << human.err;
  EXPECT_TRUE(has(human.out, "home: last success ")) << human.out;
  EXPECT_TRUE(has(human.out, "last run: ok")) << human.out;
  EXPECT_TRUE(has(human.out, "snapshots: 1 (newest " + ids[0] + ")")) << human.out;
  EXPECT_TRUE(has(human.out, "free of")) << human.out;
  EXPECT_TRUE(has(human.out, "last scrub: never")) << human.out;

  auto fresh = w.cli({"--json", "status", "--max-age", "1h"});
  EXPECT_EQ(fresh.exit_code, 0);
  json doc = parse(fresh)["presets"][0];
  EXPECT_EQ(doc["status"], "ok");
  EXPECT_EQ(doc["snapshots"], 1);
  EXPECT_EQ(doc["newest_snapshot"], ids[0]);
  EXPECT_EQ(doc["last_result"], "ok");
  EXPECT_GE(doc["age_seconds"].get<long>(), 0);
  EXPECT_LT(doc["age_seconds"].get<long>(), 3600);
  EXPECT_GT(doc["free_bytes"].get<std::uint64_t>(), 0U);
  EXPECT_EQ(doc["max_age_seconds"], 3600);

  // -q: nothing at all while everything is fine.
  auto quiet = w.cli({"-q", "status", "--max-age", "1h"});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_EQ(quiet.out, "");
  EXPECT_EQ(quiet.err, "");

  auto bad = w.cli({"status", "--max-age", "soon"});
  EXPECT_EQ(bad.exit_code, 2);
}

TEST(Monitoring, AnOldSuccessIsStaleAndAnAbsentDriveStillAnswers) {
  World w;
  fs::remove_all(w.dest);
  // What this machine recorded three days ago, before the drive went away.
  const std::time_t now = std::time(nullptr);
  ASSERT_TRUE(
      update_local_state(w.preset_dir(), [&](json& entry) {
        entry["name"] = "home";
        entry["last_success"] = {{"result", "ok"}, {"time", now - 3 * 86400}, {"snapshot", "2026-01-01_00-00-00"}};
        entry["last_backup"] = {{"result", "failed"}, {"time", now - 3600}, {"error", "home: rsync exploded\nline 2"}};
        entry["destination"] = {{"time", now - 3 * 86400}, {"snapshots", 14}, {"free_bytes", 1000}};
        entry["last_scrub"] = {{"result", "damaged"}, {"time", now - 5 * 86400}, {"damaged_contents", 2}};
      }).ok());
  auto stale = w.cli({"status", "--max-age", "2d"});
  EXPECT_EQ(stale.exit_code, 1);
  EXPECT_TRUE(has(stale.out, "home: STALE: last success ")) << stale.out;
  EXPECT_TRUE(has(stale.out, "(3 d 0 h ago)")) << stale.out;
  EXPECT_TRUE(has(stale.out, "last run: failed at ")) << stale.out;
  EXPECT_TRUE(has(stale.out, "rsync exploded ...")) << stale.out;
  EXPECT_TRUE(has(stale.out, "drive absent: ")) << stale.out;
  EXPECT_TRUE(has(stale.out, "(14 snapshots when last seen at ")) << stale.out;
  EXPECT_TRUE(has(stale.out, "DAMAGE: 2 contents not repaired")) << stale.out;

  EXPECT_EQ(w.cli({"status", "--max-age", "4d"}).exit_code, 0);
  // -q still speaks when there is trouble (the last run failed).
  auto quiet = w.cli({"-q", "status", "--max-age", "4d"});
  EXPECT_EQ(quiet.exit_code, 0);
  EXPECT_TRUE(has(quiet.out, "last run: failed")) << quiet.out;
}

TEST(Monitoring, APresetNeverBackedUpIsStale) {
  World w;
  auto r = w.cli({"--json", "status", "--max-age", "100d"});
  EXPECT_EQ(r.exit_code, 1);
  json doc = parse(r)["presets"][0];
  EXPECT_EQ(doc["status"], "stale");
  EXPECT_TRUE(doc["last_success"].is_null());
  EXPECT_TRUE(doc["last_result"].is_null());
  EXPECT_EQ(w.cli({"status"}).exit_code, 0);  // without --max-age it only informs
}

TEST(Monitoring, ScrubDamagePingsFailAndIsRecorded) {
  HttpServer server;
  World w;
  write_file(w.src / "big.bin", std::string(8192, 'x'));
  w.configure("healthcheck_url = " + server.url("/p") + "\non_failure = " + w.recorder("failure.env") + "\n");
  ASSERT_EQ(w.cli({"backup"}).exit_code, 0);
  ASSERT_EQ(w.cli({"scrub"}).exit_code, 0);
  EXPECT_EQ(server.wait_for(2).size(), 2U);  // the backup's start and success: a clean scrub pings nothing

  // Bit rot: same size and times, other bytes.
  const fs::path rotten = w.preset_dir() / "latest" / "big.bin";
  const struct stat before = stat_of(rotten);
  {
    std::fstream f(rotten, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('y');
  }
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, rotten.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);

  auto r = w.cli({"scrub"});
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  const auto requests = server.wait_for(3);
  ASSERT_EQ(requests.size(), 3U);
  EXPECT_TRUE(requests[2].target.starts_with("/p/fail")) << requests[2].target;
  EXPECT_TRUE(has(requests[2].body, "big.bin")) << requests[2].body;
  EXPECT_EQ(w.env_file("failure.env")["SNAPKEEP_OPERATION"], "scrub");
  EXPECT_EQ(w.env_file("failure.env")["SNAPKEEP_STATUS"], "damaged");

  json doc = parse(w.cli({"--json", "status"}))["presets"][0];
  EXPECT_EQ(doc["last_scrub"]["result"], "damaged");
  EXPECT_EQ(doc["last_scrub"]["damaged_contents"], 1);
}

TEST(Monitoring, PresetsSharingAMetricsFileAreMergedIntoIt) {
  World w;
  const fs::path metrics = w.tmp / "textfile" / "snapkeep.prom";
  fs::create_directories(metrics.parent_path());
  fs::create_directories(w.tmp / "src2");
  write_file(w.tmp / "src2" / "c.txt", "charlie\n");
  write_file(w.config, "[DEFAULT]\nrequire_mount = no\nmetrics_file = " + metrics.string() +
                           "\n[home]\nsource = " + w.src.string() + "\ndestination = " + w.dest.string() +
                           "\n[work]\nsource = " + (w.tmp / "src2").string() + "\ndestination = " + w.dest.string() +
                           "\n");
  ASSERT_EQ(w.cli({"backup", "home"}).exit_code, 0);
  ASSERT_EQ(w.cli({"backup", "work"}).exit_code, 0);
  ASSERT_EQ(w.cli({"backup", "home"}).exit_code, 0);
  std::string error;
  const auto families = parse_prom_text(read_file(metrics), error);
  ASSERT_EQ(error, "") << read_file(metrics);
  for (const std::string preset : {"home", "work"}) {
    const std::map<std::string, std::string> labels{{"preset", preset}, {"destination", (w.dest / preset).string()}};
    EXPECT_FALSE(std::isnan(prom_value(families, "snapkeep_last_success_timestamp_seconds", labels))) << preset;
    EXPECT_FALSE(std::isnan(prom_value(families, "snapkeep_last_backup_duration_seconds", labels))) << preset;
    EXPECT_FALSE(std::isnan(prom_value(families, "snapkeep_destination_free_bytes", labels))) << preset;
    EXPECT_EQ(prom_value(families, "snapkeep_last_backup_failed", labels), 0.0) << preset;
  }
  EXPECT_EQ(prom_value(families, "snapkeep_snapshots", {{"preset", "home"}}), 2.0);
  EXPECT_EQ(prom_value(families, "snapkeep_snapshots", {{"preset", "work"}}), 1.0);
  EXPECT_GT(prom_value(families, "snapkeep_last_backup_bytes_transferred", {{"preset", "work"}}), 0.0);
}

}  // namespace
}  // namespace snapkeep::test
