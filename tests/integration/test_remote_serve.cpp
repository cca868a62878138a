// Push backups through `snapkeep serve` as a forced command of a real sshd (tests/support/sshd.hpp)
// onto a loop-mounted ext4 (and btrfs), the read commands and restore through it, --append-only, and attempts to
// get out of the forced command: other commands, paths outside its folder, '..', line breaks,
// option-like names and unknown requests are each refused and change nothing.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/base/fd.hpp"
#include "core/base/process.hpp"
#include "core/config/config.hpp"
#include "core/history/history_log.hpp"
#include "core/serve/client.hpp"
#include "tests/support/http_server.hpp"
#include "tests/support/kill_trials.hpp"
#include "tests/support/mounts.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/remote_btrfs.hpp"
#include "tests/support/sshd.hpp"
#include "tests/support/testutil.hpp"
#include "tests/support/tree_compare.hpp"

namespace snapkeep::test {
namespace {

using namespace std::chrono_literals;

// A local source, and a serve host (the test's sshd forcing `snapkeep serve`) whose allowed folder
// is a loop-mounted ext4.
struct PushWorld {
  SshServer sshd;
  TempDir dir;
  LoopFs drive;
  fs::path source = dir / "src";
  fs::path config = dir / "snapkeep.conf";
  fs::path preset_dir = drive.mount_point() / "laptop";

  explicit PushWorld(const std::string& serve_flags = "", const std::string& extra = "",
                     const std::string& fs_type = "ext4")
      : drive(fs_type, 128) {
    fs::create_directories(source / "docs");
    write_file(source / "docs/a.txt", "alpha\n");
    write_file(source / "b.txt", "bravo\n");
    sshd.force_command(snapkeep_binary().string() + " serve --restrict-path " + drive.mount_point().string() +
                       serve_flags);
    write_file(config, "[laptop]\nsource = " + source.string() + "\ndestination = " + sshd.url(drive.mount_point()) +
                           "\n" + sshd.preset_lines() + extra);
    if (sshd.ok()) {
      RunResult trusted = cli({"trust", "laptop", "--yes"});
      EXPECT_EQ(trusted.exit_code, 0) << trusted.err;
    }
  }
  RunResult cli(const std::vector<std::string>& args) const {
    std::vector<std::string> all{"-c", config.string()};
    all.insert(all.end(), args.begin(), args.end());
    return snapkeep(all);
  }
  nlohmann::json json_of(const std::vector<std::string>& args, int expected = 0) const {
    std::vector<std::string> all{"--json"};
    all.insert(all.end(), args.begin(), args.end());
    RunResult r = cli(all);
    EXPECT_EQ(r.exit_code, expected) << r.out << r.err;
    return r.out.empty() ? nlohmann::json{} : nlohmann::json::parse(r.out)["presets"][0];
  }
  // The preset as the client reads it, for hand-made requests.
  Preset preset() const {
    auto loaded = load_config({config}, ConfigSchema{{"auto", "rsync", "btrfs"}});
    EXPECT_TRUE(loaded) << (loaded ? "" : loaded.error().describe());
    return loaded ? loaded->presets.at(0) : Preset{};
  }
};

bool ok(const PushWorld& w) {
  return w.sshd.ok() && w.drive.ok();
}

TEST(RemoteServe, PushMakesIncrementalSnapshotsThereAndReadCommandsWorkThroughServe) {
  SNAPKEEP_REQUIRE_ROOT();
  PushWorld w("", "keep = 2\n");
  ASSERT_TRUE(ok(w));
  auto first = w.json_of({"backup"});
  ASSERT_EQ(first["status"], "ok");
  const std::string id1 = first["snapshot"];
  EXPECT_EQ(read_file(w.preset_dir / id1 / "docs/a.txt"), "alpha\n");
  EXPECT_EQ(fs::read_symlink(w.preset_dir / "latest"), id1);

  std::this_thread::sleep_for(1100ms);
  write_file(w.source / "b.txt", "bravo, changed\n");
  auto second = w.json_of({"backup"});
  ASSERT_EQ(second["status"], "ok");
  const std::string id2 = second["snapshot"];
  EXPECT_EQ(inode_of(w.preset_dir / id1 / "docs/a.txt"), inode_of(w.preset_dir / id2 / "docs/a.txt"));
  EXPECT_NE(inode_of(w.preset_dir / id1 / "b.txt"), inode_of(w.preset_dir / id2 / "b.txt"));
  EXPECT_EQ(read_file(w.preset_dir / id2 / "b.txt"), "bravo, changed\n");
  // The server's counts of what changed reach the client's --json.
  ASSERT_TRUE(second["changes"].is_object()) << second.dump();
  EXPECT_EQ(second["changes"]["since"], id1);
  EXPECT_EQ(second["changes"]["content"], 1);
  EXPECT_EQ(second["changes"]["added"], 0);

  auto listed = w.json_of({"list"});
  ASSERT_EQ(listed["snapshots"].size(), 2u);
  EXPECT_EQ(listed["snapshots"][1]["id"], id2);
  EXPECT_TRUE(listed["snapshots"][1]["latest"].get<bool>());
  EXPECT_EQ(w.json_of({"du"})["snapshots"].size(), 2u);
  auto scrubbed = w.json_of({"scrub"});
  EXPECT_EQ(scrubbed["snapshots_checked"], 2);
  EXPECT_TRUE(scrubbed["findings"].empty());

  // versions, diff and report run on the server and read its manifests and history log.
  auto versions = w.json_of({"versions", "laptop", "b.txt"});
  ASSERT_EQ(versions["versions"].size(), 2u) << versions.dump();
  EXPECT_EQ(versions["versions"][0]["snapshots"], nlohmann::json::array({id2}));
  EXPECT_EQ(versions["versions"][1]["snapshots"], nlohmann::json::array({id1}));
  EXPECT_EQ(versions["versions"][1]["size"], 6);
  const fs::path old_version = w.dir / "old-version";
  auto brought =
      w.json_of({"versions", "laptop", (w.source / "b.txt").string(), "--restore", "2", "--to", old_version.string()});
  EXPECT_EQ(brought["restored"]["snapshot"], id1);
  EXPECT_EQ(read_file(old_version / "b.txt"), "bravo\n");
  RunResult diff = w.cli({"--json", "diff", "laptop", id1, id2});
  ASSERT_EQ(diff.exit_code, 0) << diff.err;
  auto diffed = nlohmann::json::parse(diff.out)["presets"][0];
  EXPECT_EQ(diffed["from"], id1);
  EXPECT_EQ(diffed["to"], id2);
  ASSERT_EQ(diffed["modified"].size(), 1u) << diff.out;
  EXPECT_EQ(diffed["modified"][0]["path"], "b.txt");
  EXPECT_EQ(diffed["counts"]["modified"], 1);
  EXPECT_EQ(diffed["counts"]["added"], 0);
  RunResult human_diff = w.cli({"diff", "laptop"});
  EXPECT_EQ(human_diff.exit_code, 0) << human_diff.err;
  EXPECT_NE(human_diff.out.find("M b.txt"), std::string::npos) << human_diff.out;
  auto reported = w.json_of({"report"});
  EXPECT_EQ(reported["status"], "ok") << reported.dump();
  EXPECT_EQ(reported["snapshots"].size(), 2u);
  EXPECT_EQ(reported["host"], "127.0.0.1");

  const fs::path restored = w.dir / "restored";
  auto back = w.json_of({"restore", "laptop", id1, "--to", restored.string()});
  EXPECT_EQ(back["status"], "ok");
  EXPECT_EQ(read_file(restored / "b.txt"), "bravo\n");
  EXPECT_EQ(read_file(restored / "docs/a.txt"), "alpha\n");

  std::this_thread::sleep_for(1100ms);
  write_file(w.source / "c.txt", "charlie\n");
  auto third = w.json_of({"backup"});
  ASSERT_EQ(third["status"], "ok");
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{id2, third["snapshot"].get<std::string>()}))
      << "the client's keep = 2, run on the server";

  // serve wrote the history log on its drive (docs/history.md): three backups and the scrub, in order.
  std::vector<std::string> events;
  std::vector<std::string> recorded_ids;
  auto read = read_history(w.preset_dir, [&](const nlohmann::json& record) {
    events.push_back(record.value("event", ""));
    if (record.value("event", "") == "backup") {
      recorded_ids.push_back(record.value("snapshot", ""));
    }
  });
  ASSERT_TRUE(read) << read.error().describe();
  EXPECT_EQ(events, (std::vector<std::string>{"backup", "backup", "scrub", "backup"}));
  EXPECT_EQ(recorded_ids, (std::vector<std::string>{id1, id2, third["snapshot"].get<std::string>()}));
}

TEST(RemoteServe, APushToABtrfsServerMakesReadOnlySubvolumesThereSharingUnchangedData) {
  SNAPKEEP_REQUIRE_ROOT();
  PushWorld w("", "", "btrfs");
  ASSERT_TRUE(ok(w));
  write_random_file(w.source / "docs/big.bin", 256 * 1024, 9);  // larger than btrfs's inline limit
  const std::string big = read_file(w.source / "docs/big.bin");
  auto first = w.json_of({"backup"});
  ASSERT_EQ(first["status"], "ok");
  EXPECT_EQ(first["backend"], "btrfs") << "the server picks the backend of its drive";
  const std::string id1 = first["snapshot"];

  std::this_thread::sleep_for(1100ms);
  write_file(w.source / "b.txt", "bravo, changed\n");
  auto second = w.json_of({"backup"});
  ASSERT_EQ(second["status"], "ok");
  const std::string id2 = second["snapshot"];
  expect_btrfs_snapshots_share_unchanged_data(w.preset_dir, id1, id2, big);
  EXPECT_LT(second["bytes_transferred"].get<std::uint64_t>(), big.size()) << "only the change crossed the link";

  auto scrubbed = w.json_of({"scrub"});
  EXPECT_EQ(scrubbed["snapshots_checked"], 2);
  EXPECT_TRUE(scrubbed["findings"].empty());
  const fs::path restored = w.dir / "restored";
  EXPECT_EQ(w.json_of({"restore", "laptop", id1, "--to", restored.string()})["status"], "ok");
  EXPECT_EQ(read_file(restored / "b.txt"), "bravo\n");
  EXPECT_EQ(read_file(restored / "docs/big.bin"), big);
}

// The relay listens in the server's socket folder. One that others may enter was refused by the
// relay only, whose message went to its stdout, the rsync stream: the client read "protocol version
// mismatch -- is your shell clean?" and nothing about the folder.
TEST(RemoteServe, AnUnusableSocketFolderOnTheServerIsNamedAndNothingIsMade) {
  SNAPKEEP_REQUIRE_ROOT();
  PushWorld w;
  ASSERT_TRUE(ok(w));
  fs::create_directories(w.sshd.remote_run_dir());
  fs::permissions(w.sshd.remote_run_dir(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                               fs::perms::others_read | fs::perms::others_exec);
  RunResult r = w.cli({"backup"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("socket folder " + w.sshd.remote_run_dir().string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mode 0700"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("protocol version mismatch"), std::string::npos) << r.err;
  EXPECT_TRUE(snapshot_ids(w.preset_dir).empty());

  fs::permissions(w.sshd.remote_run_dir(), fs::perms::owner_all);
  EXPECT_EQ(w.json_of({"backup"})["status"], "ok");
}

// Monitoring goes around a push as around a local backup (docs/monitoring.md): the /start and
// success pings, the metrics file and the local record, and `status` counts the server's snapshots
// through serve. A push was once run bare: no ping, no metrics, and status looked for the
// destination on this machine.
TEST(RemoteServe, APushIsMonitoredAndStatusCountsTheServersSnapshots) {
  SNAPKEEP_REQUIRE_ROOT();
  HttpServer monitor;
  PushWorld w;
  ASSERT_TRUE(ok(w));
  const fs::path metrics = w.dir / "snapkeep.prom";
  write_file(w.config, read_file(w.config) + "healthcheck_url = " + monitor.url("/p") +
                           "\nmetrics_file = " + metrics.string() + "\n");
  auto done = w.json_of({"backup"});
  ASSERT_EQ(done["status"], "ok");
  const std::string id = done["snapshot"];
  const auto pings = monitor.wait_for(2);
  ASSERT_EQ(pings.size(), 2u);
  EXPECT_TRUE(pings[0].target.starts_with("/p/start")) << pings[0].target;
  EXPECT_TRUE(pings[1].target.starts_with("/p") && !pings[1].target.starts_with("/p/")) << pings[1].target;
  EXPECT_NE(pings[1].body.find("snapshot " + id), std::string::npos) << pings[1].body;
  const std::string prom = read_file(metrics);
  EXPECT_NE(prom.find("snapkeep_last_backup_failed{preset=\"laptop\""), std::string::npos) << prom;

  auto status = w.json_of({"status"});
  EXPECT_EQ(status["last_result"], "ok");
  EXPECT_EQ(status["last_success_snapshot"], id);
  EXPECT_EQ(status["snapshots"], 1);
  EXPECT_EQ(status["newest_snapshot"], id);
  EXPECT_EQ(status["host"], "127.0.0.1");
  EXPECT_TRUE(status["drive_present"].get<bool>());

  // The count comes from the server: one that cannot be reached (here: its host key is no longer
  // trusted) is said so, while the recorded runs still show.
  write_file(w.sshd.known_hosts(), "");
  auto unreachable = w.json_of({"status"});
  EXPECT_FALSE(unreachable["drive_present"].get<bool>());
  EXPECT_NE(unreachable["drive_absent_reason"].get<std::string>().find("unknown host key"), std::string::npos)
      << unreachable.dump();
  EXPECT_EQ(unreachable["last_success_snapshot"], id);
}

TEST(RemoteServe, AnAppendOnlyKeyCanBackUpButNeverDelete) {
  SNAPKEEP_REQUIRE_ROOT();
  PushWorld w(" --append-only", "keep = 1\n");
  ASSERT_TRUE(ok(w));
  ASSERT_EQ(w.json_of({"backup"})["status"], "ok");
  std::this_thread::sleep_for(1100ms);
  write_file(w.source / "b.txt", "bravo, changed\n");
  ASSERT_EQ(w.json_of({"backup"})["status"], "ok");
  EXPECT_EQ(snapshot_ids(w.preset_dir).size(), 2u) << "the client's keep = 1 is not the server's policy";

  RunResult prune = w.cli({"prune"});
  EXPECT_NE(prune.exit_code, 0);
  EXPECT_NE(prune.err.find("append-only"), std::string::npos) << prune.err;
  RunResult repair = w.cli({"scrub", "--repair"});
  EXPECT_NE(repair.exit_code, 0);
  EXPECT_NE(repair.err.find("append-only"), std::string::npos) << repair.err;
  EXPECT_EQ(snapshot_ids(w.preset_dir).size(), 2u);
}

// Runs ssh to the world's server asking for `command`, with `input` on its stdin; returns its
// exit status and stderr tail.
ProcessResult ssh_with_input(const PushWorld& w, const std::vector<std::string>& command, const std::string& input) {
  int in[2];
  int out[2];
  EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
  Fd in_read(in[0]), in_write(in[1]), out_read(out[0]), out_write(out[1]);
  std::vector<std::string> argv{"ssh", "-T",
                                "-o",  "BatchMode=yes",
                                "-o",  "StrictHostKeyChecking=yes",
                                "-o",  "UserKnownHostsFile=" + w.sshd.known_hosts().string(),
                                "-i",  w.sshd.client_key().string(),
                                "-o",  "IdentitiesOnly=yes",
                                "-p",  std::to_string(w.sshd.port()),
                                "--",  "127.0.0.1"};
  argv.insert(argv.end(), command.begin(), command.end());
  auto ssh = start_process(argv, in_read.get(), out_write.get());
  EXPECT_TRUE(ssh) << (ssh ? "" : ssh.error().describe());
  if (!ssh) {
    return {};
  }
  in_read.reset();
  out_write.reset();
  EXPECT_EQ(::write(in_write.get(), input.data(), input.size()), static_cast<ssize_t>(input.size()));
  in_write.reset();
  char buffer[4096];
  while (::read(out_read.get(), buffer, sizeof buffer) > 0) {
  }
  return ssh->wait();
}

TEST(RemoteServe, AnotherCommandThanServeIsNeverRun) {
  SNAPKEEP_REQUIRE_ROOT();
  PushWorld w;
  ASSERT_TRUE(ok(w));
  const fs::path marker = w.dir / "marker";
  // What a client asks ssh to run is ignored: the forced command runs, and it speaks only its protocol.
  ProcessResult asked = ssh_with_input(w, {"touch", marker.string()}, "");
  EXPECT_NE(asked.exit_code, 0);
  EXPECT_FALSE(fs::exists(marker));
  // Shell words on its stdin are bytes that are not a frame: refused, quoted, never run.
  ProcessResult typed = ssh_with_input(w, {}, "touch " + marker.string() + "\n");
  EXPECT_NE(typed.exit_code, 0);
  EXPECT_FALSE(fs::exists(marker));
  EXPECT_NE(typed.stderr_tail.find("did not answer in snapkeep's protocol"), std::string::npos) << typed.stderr_tail;
  EXPECT_NE(typed.stderr_tail.find("touch "), std::string::npos) << typed.stderr_tail;
  // A remote_command of the client's choosing is ignored too: serve answers, the command never runs.
  write_file(w.config, read_file(w.config) + "remote_command = touch " + marker.string() + "\n");
  RunResult listed = w.cli({"list"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_FALSE(fs::exists(marker));
}

// Sends `request` (a list request of the world's preset, changed by `change`) and returns the error
// serve answered with ("" when it answered with a result).
std::string refusal(const PushWorld& w, const std::string& type, const std::function<void(nlohmann::json&)>& change) {
  const Preset preset = w.preset();
  auto connection = ServeConnection::open(preset);
  EXPECT_TRUE(connection) << (connection ? "" : connection.error().describe());
  if (!connection) {
    return "no connection";
  }
  nlohmann::json request = remote_request(preset, type);
  change(request);
  auto answer = connection->call(request);
  return answer ? std::string() : answer.error().message;
}

TEST(RemoteServe, PathsOutsideTheAllowedFolderAndHostileRequestsAreRefused) {
  SNAPKEEP_REQUIRE_ROOT();
  PushWorld w;
  ASSERT_TRUE(ok(w));
  ASSERT_EQ(w.json_of({"backup"})["status"], "ok");
  const std::string root = w.drive.mount_point().string();
  fs::create_directories(w.dir / "outside");
  fs::create_symlink(w.dir / "outside", w.drive.mount_point() / "escape");

  // The same request as sent is answered: the refusals below are the changes' doing.
  EXPECT_EQ(refusal(w, "list", [](nlohmann::json&) {}), "");

  struct Case {
    std::string what;
    std::string type;
    std::function<void(nlohmann::json&)> change;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"a folder outside", "list", [&](auto& r) { r["preset"]["destination"] = w.dir.path().string(); }, "outside"},
      {"the root itself", "list", [&](auto& r) { r["preset"]["destination"] = "/"; }, "outside"},
      {"'..' up and out", "list", [&](auto& r) { r["preset"]["destination"] = root + "/../"; }, "'..'"},
      {"a symlink out", "list", [&](auto& r) { r["preset"]["destination"] = root + "/escape"; }, "outside"},
      {"a relative path", "list", [&](auto& r) { r["preset"]["destination"] = "etc"; }, "not an absolute path"},
      {"a line break in the destination", "list", [&](auto& r) { r["preset"]["destination"] = root + "\n/etc"; },
       "line break"},
      {"a line break in the name", "list", [&](auto& r) { r["preset"]["name"] = "laptop\nrm -rf /"; }, "not allowed"},
      {"a name with a slash", "list", [&](auto& r) { r["preset"]["name"] = "../../etc"; }, "not allowed"},
      {"an option as a folder", "list", [&](auto& r) { r["preset"]["destination"] = root + "/--delete"; }, "refused"},
      {"a line break in the source", "backup", [&](auto& r) { r["preset"]["source"] = "/src\n--rsh=sh"; }, "one line"},
      {"an unknown backend", "list", [&](auto& r) { r["preset"]["backend"] = "sh -c id"; }, "unknown backend"},
      {"an unknown request", "shell", [](auto&) {}, "unknown request"},
      {"restore of '..'", "restore",
       [](auto& r) {
         r["snapshot"] = "latest";
         r["inside"] = "../../../etc/passwd";
       },
       "refused"},
      {"restore of an absolute path", "restore",
       [](auto& r) {
         r["snapshot"] = "latest";
         r["inside"] = "/etc/passwd";
       },
       "refused"},
      {"versions of '..'", "versions", [](auto& r) { r["path"] = "../../etc/passwd"; }, "refused"},
      {"versions without a path", "versions", [](auto&) {}, "without a path"},
      {"diff from a path", "diff",
       [](auto& r) {
         r["from"] = "../../etc";
         r["to"] = "";
       },
       "not a snapshot id"},
      {"a report with a text window", "report", [](auto& r) { r["coverage_window_seconds"] = "30d"; }, "malformed"},
  };
  const auto before = snapshot_ids(w.preset_dir);
  for (const auto& c : cases) {
    const std::string message = refusal(w, c.type, c.change);
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.what << ": " << message;
  }
  EXPECT_EQ(snapshot_ids(w.preset_dir), before) << "nothing changed";
  EXPECT_TRUE(fs::is_empty(w.dir / "outside"));
}

TEST(RemoteServe, AKilledPushLeavesNoHalfSnapshotOnTheServerAndTheNextRunResumes) {
  SNAPKEEP_REQUIRE_ROOT();
  PushWorld w("", "bwlimit = 2M\n");
  ASSERT_TRUE(ok(w));
  auto first = w.json_of({"backup"});
  ASSERT_EQ(first["status"], "ok");
  const std::string id1 = first["snapshot"];
  for (int i = 0; i < 12; ++i) {
    write_random_file(w.source / "big" / ("f" + std::to_string(i)), 1 << 20, 200 + i);
  }
  std::this_thread::sleep_for(1100ms);
  BackgroundRun run({"-c", w.config.string(), "backup"}, w.dir.path(), {}, {.name = "killed"});
  auto arrived = [&] { return bytes_arrived(w.preset_dir) >= (3u << 20); };
  ASSERT_TRUE(wait_until(arrived, 60s, 20ms)) << run.stderr_text();
  // The client's ssh connections (control and data) drop.
  const std::string port = "-p " + std::to_string(w.sshd.port()) + " ";
  auto ssh = processes_named("ssh", port);
  ASSERT_FALSE(ssh.empty());
  for (pid_t pid : ssh) {
    ::kill(pid, SIGKILL);
  }
  EXPECT_EQ(run.exit_code(), 1) << run.stderr_text();
  // serve and its rsync notice and stop; nothing half-made is in place.
  const std::string serve_marker = "serve --restrict-path " + w.drive.mount_point().string();
  EXPECT_TRUE(wait_until([&] { return processes_with(serve_marker).empty(); }, 30s, 50ms));
  EXPECT_EQ(snapshot_ids(w.preset_dir), std::vector<std::string>{id1}) << "no half snapshot";
  EXPECT_EQ(fs::read_symlink(w.preset_dir / "latest"), id1);

  std::this_thread::sleep_for(1100ms);
  auto resumed = w.json_of({"backup"});
  ASSERT_EQ(resumed["status"], "ok");
  const std::string id2 = resumed["snapshot"];
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{id1, id2}));
  RecordProperty("bytes_transferred_after_resume", std::to_string(resumed["bytes_transferred"].get<std::uint64_t>()));
  EXPECT_LT(resumed["bytes_transferred"].get<std::uint64_t>(), 11u << 20)
      << "what the killed run copied is not copied again";
  expect_whole_and_linked(w.source, w.preset_dir, id1, id2);
}

// Power lost on the server right after a push returned: the server's drive image is copied at once
// without syncing the host (what the loop device was given is what a power cut keeps), checked,
// mounted over the drive, and pushed to again. Every earlier snapshot is there and whole, the last
// one whole or absent, `latest` names a snapshot, and the next push works and is incremental.
TEST(RemoteServe, PowerLostOnTheServerAfterAPushLosesNothingEarlierAndTheNextPushWorks) {
  SNAPKEEP_REQUIRE_ROOT();
  PushWorld w;
  ASSERT_TRUE(ok(w));
  std::vector<std::string> before;
  std::unique_ptr<MountGuard> copy_mount;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("power cut after push " + std::to_string(round + 1));
    std::this_thread::sleep_for(1100ms);
    write_random_file(w.source / "round" / ("f" + std::to_string(round)), 300000, 40 + round);
    write_file(w.source / "b.txt", "bravo " + std::to_string(round) + "\n");
    auto pushed = w.json_of({"backup"});
    ASSERT_EQ(pushed["status"], "ok");
    const fs::path copy = w.dir / ("power-" + std::to_string(round) + ".img");
    RunResult cp = run({"cp", "--sparse=always", "--", w.drive.image().string(), copy.string()});
    ASSERT_EQ(cp.exit_code, 0) << cp.err;
    RunResult fsck = run({"e2fsck", "-fy", copy.string()});
    EXPECT_LE(fsck.exit_code, 1) << fsck.out << fsck.err;
    const std::string made = pushed["snapshot"];
    std::vector<std::string> ids;
    {
      LoopMount mounted(copy, w.dir / ("power-mnt-" + std::to_string(round)));
      ASSERT_TRUE(mounted.ok());
      const fs::path preset = mounted.mount_point() / "laptop";
      ids = snapshot_ids(preset);
      for (const auto& id : before) {
        EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end()) << "snapshot " << id << " lost to the power cut";
      }
      for (const auto& id : ids) {
        auto diffs = tree_differences(w.preset_dir / id, preset / id, {});
        EXPECT_TRUE(diffs.empty()) << id << " differs after the power cut:\n" << join_lines(diffs);
      }
      ASSERT_FALSE(ids.empty());
      EXPECT_EQ(fs::read_symlink(preset / "latest"), ids.back()) << "latest names the newest whole snapshot";
    }
    before.push_back(made);
    if (round == 2) {
      // The server boots with the copy as its drive (mounted over it): the next push goes there.
      const std::string newest = ids.back();
      copy_mount =
          std::make_unique<MountGuard>(std::vector<std::string>{"-o", "loop", copy.string()}, w.drive.mount_point());
      ASSERT_TRUE(copy_mount->ok());
      std::this_thread::sleep_for(1100ms);
      auto next = w.json_of({"backup"});
      ASSERT_EQ(next["status"], "ok");
      const std::string id = next["snapshot"];
      EXPECT_EQ(read_file(w.preset_dir / id / "b.txt"), read_file(w.source / "b.txt"));
      EXPECT_EQ(inode_of(w.preset_dir / id / "docs/a.txt"), inode_of(w.preset_dir / newest / "docs/a.txt"))
          << "the push after the power cut links unchanged files to the snapshots that survived";
    }
  }
  copy_mount.reset();
}

// Seeded kills at random moments of a push (tests/support/kill_trials.hpp): the client's ssh, serve
// on the server, or the server's rsync.
TEST(RemoteServe, SeededKillsAtRandomMomentsNeverLeaveAHalfSnapshot) {
  SNAPKEEP_REQUIRE_ROOT();
  PushWorld w("", "bwlimit = 4M\n");
  ASSERT_TRUE(ok(w));
  auto first = w.json_of({"backup"});
  ASSERT_EQ(first["status"], "ok");
  const std::string id1 = first["snapshot"];
  const std::string serve_marker = "serve --restrict-path " + w.drive.mount_point().string();
  KillTrials trials;
  trials.label = "remote-push-kill";
  trials.source = w.source;
  trials.preset_dir = w.preset_dir;
  trials.victim_names = {"the client's ssh", "serve", "the server's rsync"};
  trials.victims = [&](int victim) {
    const std::string marker = victim == 0   ? "-p " + std::to_string(w.sshd.port()) + " "
                               : victim == 1 ? serve_marker
                                             : (w.preset_dir / ".snapkeep").string();
    return processes_named(victim == 0 ? "ssh" : victim == 1 ? "snapkeep" : "rsync", marker);
  };
  trials.start = [&](int trial) { return background_backup(w.config, w.dir.path(), trial); };
  trials.settle = [&] { EXPECT_TRUE(wait_until([&] { return processes_with(serve_marker).empty(); }, 30s, 50ms)); };
  run_kill_trials(trials, {id1});

  std::this_thread::sleep_for(1100ms);
  auto last = w.json_of({"backup"});
  ASSERT_EQ(last["status"], "ok");
  const std::string newest = last["snapshot"];
  expect_whole_and_linked(w.source, w.preset_dir, id1, newest);
}

}  // namespace
}  // namespace snapkeep::test
