// btrfs send over ssh (docs/remote.md "btrfs send over ssh"), against a real sshd
// (tests/support/sshd.hpp) and loop-mounted btrfs filesystems at both ends:
// - a push whose source is a subvolume: the client's `btrfs send` goes through serve's relay into
//   `btrfs receive` on the server;
// - `pull = btrfs-send`: `snapkeep serve --source-only` on the source host sends, `btrfs receive`
//   here.
// Each end keeps only what btrfs receive completed, verified by received uuid; source snapshots are
// kept on the sending host as parents, so the next send is incremental, and a moved file is not
// sent again. A process of the stream killed at a random moment (ssh, serve, btrfs send or receive)
// leaves no half snapshot, and the next run is incremental.

#include <fcntl.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "backends/btrfs/extents.hpp"
#include "backends/btrfs/subvolume.hpp"
#include "core/base/fd.hpp"
#include "core/base/process.hpp"
#include "core/config/config.hpp"
#include "core/serve/client.hpp"
#include "tests/support/kill_trials.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/sshd.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

using namespace std::chrono_literals;

// The received uuid of a snapshot, as text ("-" when it has none).
std::string received_uuid(const fs::path& snapshot) {
  auto info = btrfs::subvolume_info(snapshot);
  return info ? btrfs::uuid_text(info->received_uuid) : "?";
}
std::string uuid_of(const fs::path& subvolume) {
  auto info = btrfs::subvolume_info(subvolume);
  return info ? btrfs::uuid_text(info->uuid) : "?";
}

// A source subvolume on one btrfs loop filesystem and a btrfs backup drive on another, with an
// sshd whose key runs `serve_command` (serve for a push, serve --source-only for a pull).
struct SendWorld {
  SshServer sshd;
  TempDir dir;
  LoopFs source_fs{"btrfs", 256};
  LoopFs drive{"btrfs", 256};
  fs::path source = source_fs.mount_point() / "data";
  fs::path source_snapshots = source_fs.mount_point() / ".snapkeep-snapshots" / "laptop";
  fs::path config = dir / "snapkeep.conf";
  fs::path preset_dir = drive.mount_point() / "laptop";

  // push: the destination is the sshd; pull: the source is.
  SendWorld(bool push, const std::string& extra = "") {
    if (!source_fs.ok() || !drive.ok()) {
      return;
    }
    RunResult made = run({"btrfs", "subvolume", "create", source.string()});
    EXPECT_EQ(made.exit_code, 0) << made.err;
    fs::create_directories(source / "docs");
    fs::create_directories(source / "photos");
    write_file(source / "docs/a.txt", "alpha\n");
    write_file(source / "b.txt", "bravo\n");
    write_random_file(source / "docs/big.bin", 256 * 1024, 9);
    write_random_file(source / "photos/p.bin", 1 << 20, 10);
    const fs::path served = push ? drive.mount_point() : source_fs.mount_point();
    sshd.force_command(snapkeep_binary().string() + " serve --restrict-path " + served.string() +
                       (push ? "" : " --source-only"));
    const std::string where = push
                                  ? "source = " + source.string() + "\ndestination = " + sshd.url(drive.mount_point())
                                  : "source = " + sshd.url(source) + "\ndestination = " + drive.mount_point().string() +
                                        "\npull = btrfs-send\nrequire_mount = no";
    write_file(config, "[laptop]\n" + where + "\n" + sshd.preset_lines() + extra);
    if (sshd.ok()) {
      RunResult trusted = cli({"trust", "laptop", "--yes"});
      EXPECT_EQ(trusted.exit_code, 0) << trusted.err;
    }
  }
  bool ok() const { return sshd.ok() && source_fs.ok() && drive.ok(); }
  RunResult cli(const std::vector<std::string>& args) const {
    std::vector<std::string> all{"-c", config.string()};
    all.insert(all.end(), args.begin(), args.end());
    return snapkeep(all);
  }
  // `backup --json`, its stderr in *err.
  nlohmann::json backup(std::string* err = nullptr, int expected = 0) const {
    RunResult r = cli({"--json", "backup"});
    EXPECT_EQ(r.exit_code, expected) << r.out << r.err;
    if (err != nullptr) {
      *err = r.err;
    }
    return r.out.empty() ? nlohmann::json{} : nlohmann::json::parse(r.out)["presets"][0];
  }
  // Changes the source: b.txt rewritten, photos/ renamed to pictures/, c.txt added, docs/a.txt removed.
  void change_source() const {
    write_file(source / "b.txt", "bravo, changed\n");
    fs::rename(source / "photos", source / "pictures");
    write_file(source / "c.txt", "charlie\n");
    fs::remove(source / "docs/a.txt");
  }
  // The source snapshot of `id` on the sending host, under its id or still under its dot-name.
  fs::path source_snapshot(const std::string& id) const {
    return fs::exists(source_snapshots / id) ? source_snapshots / id : source_snapshots / (".incoming-" + id);
  }
};

// What both directions must leave after two backups with change_source() between them.
void expect_incremental_copies(const SendWorld& w, const nlohmann::json& first, const nlohmann::json& second,
                               const std::string& second_err) {
  const std::string id1 = first["snapshot"];
  const std::string id2 = second["snapshot"];
  EXPECT_EQ(first["backend"], "btrfs");
  EXPECT_TRUE(first["manifest_ok"].get<bool>());
  EXPECT_TRUE(second["manifest_ok"].get<bool>());
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{id1, id2}));
  EXPECT_EQ(fs::read_symlink(w.preset_dir / "latest"), id2);
  for (const auto& id : {id1, id2}) {
    auto info = btrfs::subvolume_info(w.preset_dir / id);
    ASSERT_TRUE(info) << id;
    EXPECT_TRUE(info->read_only) << id;
    // Each copy was received from the source snapshot kept on the sending host.
    EXPECT_EQ(received_uuid(w.preset_dir / id), uuid_of(w.source_snapshot(id))) << id;
  }
  EXPECT_NE(second_err.find("incremental send"), std::string::npos) << second_err;
  EXPECT_NE(second_err.find("parent " + id1), std::string::npos) << second_err;
  EXPECT_EQ(read_file(w.preset_dir / id1 / "b.txt"), "bravo\n");
  EXPECT_EQ(read_file(w.preset_dir / id1 / "docs/a.txt"), "alpha\n");
  EXPECT_EQ(read_file(w.preset_dir / id2 / "b.txt"), "bravo, changed\n");
  EXPECT_EQ(read_file(w.preset_dir / id2 / "c.txt"), "charlie\n");
  EXPECT_FALSE(fs::exists(w.preset_dir / id2 / "docs/a.txt"));
  EXPECT_EQ(read_file(w.preset_dir / id2 / "pictures/p.bin"), read_file(w.source / "pictures/p.bin"));
  // Unchanged and moved files are one set of extents in both snapshots: the move was not sent again.
  EXPECT_TRUE(btrfs::shares_blocks(w.preset_dir / id1 / "docs/big.bin", w.preset_dir / id2 / "docs/big.bin"));
  EXPECT_TRUE(btrfs::shares_blocks(w.preset_dir / id1 / "photos/p.bin", w.preset_dir / id2 / "pictures/p.bin"));
  EXPECT_GT(first["bytes_transferred"].get<std::uint64_t>(), (1u << 20) + 256 * 1024) << "the first send is whole";
  EXPECT_LT(second["bytes_transferred"].get<std::uint64_t>(), 64u * 1024) << "only the changes crossed the link";
  // The counts come from the manifest patched with the stream's paths: pictures, pictures/p.bin and
  // c.txt added; photos, photos/p.bin and docs/a.txt deleted; b.txt's content and docs' times changed.
  ASSERT_TRUE(second["changes"].is_object()) << second.dump();
  EXPECT_EQ(second["changes"]["added"], 3) << second.dump();
  EXPECT_EQ(second["changes"]["deleted"], 3) << second.dump();
  EXPECT_EQ(second["changes"]["content"], 1) << second.dump();
  EXPECT_EQ(second["files"], 7) << "the root, docs, docs/big.bin, b.txt, c.txt, pictures, pictures/p.bin";
}

// A full send, change_source(), an incremental send: expect_incremental_copies of both.
void two_backups_with_a_change_between(const SendWorld& w, nlohmann::json& first, nlohmann::json& second) {
  std::string err;
  first = w.backup(&err);
  ASSERT_EQ(first["status"], "ok") << err;
  EXPECT_NE(err.find("full send"), std::string::npos) << err;
  std::this_thread::sleep_for(1100ms);
  w.change_source();
  second = w.backup(&err);
  ASSERT_EQ(second["status"], "ok") << err;
  expect_incremental_copies(w, first, second, err);
}

TEST(RemoteBtrfsSend, APushOfASubvolumeSendsSnapshotsIncrementallyAndTheServerKeepsVerifiedCopies) {
  SNAPKEEP_REQUIRE_ROOT();
  SendWorld w(true);
  ASSERT_TRUE(w.ok());
  nlohmann::json first;
  nlohmann::json second;
  ASSERT_NO_FATAL_FAILURE(two_backups_with_a_change_between(w, first, second));
  std::string err;

  // The client keeps its source snapshots as parents: the next run sends against the newest.
  std::this_thread::sleep_for(1100ms);
  auto third = w.backup(&err);
  ASSERT_EQ(third["status"], "ok") << err;
  const std::string id2 = second["snapshot"];
  const std::string id3 = third["snapshot"];
  EXPECT_NE(err.find("parent " + id2), std::string::npos) << err;
  EXPECT_EQ(entries_of(w.source_snapshots),
            (std::vector<std::string>{".incoming-" + id3, first["snapshot"].get<std::string>(), id2}))
      << "the newest snapshot waits under its dot-name until the server names its copy";

  // The server's manifests vouch for every file: scrub reads them all and finds nothing.
  RunResult scrubbed = w.cli({"--json", "scrub"});
  ASSERT_EQ(scrubbed.exit_code, 0) << scrubbed.out << scrubbed.err;
  auto report = nlohmann::json::parse(scrubbed.out)["presets"][0];
  EXPECT_EQ(report["snapshots_checked"], 3);
  EXPECT_TRUE(report["findings"].empty()) << scrubbed.out;
  const fs::path restored = w.dir / "restored";
  RunResult back = w.cli({"restore", "laptop", id2, "--to", restored.string()});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(read_file(restored / "pictures/p.bin"), read_file(w.source / "pictures/p.bin"));

  // The server's key is not a source's: a pull through it is refused, and so is an rsync pull
  // (which once waited forever for serve's answer).
  for (const std::string pull : {"btrfs-send", "rsync"}) {
    write_file(w.dir / "pull.conf", "[other]\nsource = " + w.sshd.url(w.source_fs.mount_point()) +
                                        "\ndestination = " + w.drive.mount_point().string() + "\npull = " + pull +
                                        "\nrequire_mount = no\n" + w.sshd.preset_lines());
    RunResult refused = snapkeep({"-c", (w.dir / "pull.conf").string(), "backup"});
    EXPECT_NE(refused.exit_code, 0) << pull;
    EXPECT_NE(refused.err.find(pull == "rsync" ? "protocol" : "--source-only"), std::string::npos)
        << pull << ": " << refused.err;
    EXPECT_TRUE(snapshot_ids(w.drive.mount_point() / "other").empty()) << pull;
  }
  // pull = btrfs-send onto a hard-link drive is refused by name.
  fs::create_directories(w.dir / "plain");
  write_file(w.dir / "plain.conf", "[plain]\nsource = " + w.sshd.url(w.source_fs.mount_point()) +
                                       "\ndestination = " + (w.dir / "plain").string() +
                                       "\npull = btrfs-send\nrequire_mount = no\n" + w.sshd.preset_lines());
  RunResult plain = snapkeep({"-c", (w.dir / "plain.conf").string(), "backup"});
  EXPECT_EQ(plain.exit_code, 2) << plain.err;
  EXPECT_NE(plain.err.find("pull = btrfs-send needs a btrfs drive"), std::string::npos) << plain.err;
}

TEST(RemoteBtrfsSend, APullWithBtrfsSendKeepsSourceSnapshotsOnTheSourceHostAndReceivesIncrementally) {
  SNAPKEEP_REQUIRE_ROOT();
  SendWorld w(false);
  ASSERT_TRUE(w.ok());
  nlohmann::json first;
  nlohmann::json second;
  ASSERT_NO_FATAL_FAILURE(two_backups_with_a_change_between(w, first, second));

  RunResult scrubbed = w.cli({"--json", "scrub"});
  ASSERT_EQ(scrubbed.exit_code, 0) << scrubbed.out << scrubbed.err;
  EXPECT_TRUE(nlohmann::json::parse(scrubbed.out)["presets"][0]["findings"].empty()) << scrubbed.out;

  // The source host's key only sends: a push to it is refused and writes nothing there.
  write_file(w.dir / "push.conf", "[other]\nsource = " + (w.dir / "src2").string() + "\ndestination = " +
                                      w.sshd.url(w.source_fs.mount_point()) + "\n" + w.sshd.preset_lines());
  fs::create_directories(w.dir / "src2");
  write_file(w.dir / "src2/x", "x\n");
  RunResult refused = snapkeep({"-c", (w.dir / "push.conf").string(), "backup"});
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("--source-only"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(w.source_fs.mount_point() / "other"));

  // A source outside the allowed folder, or one that is not a subvolume, is refused by name.
  for (const auto& [source, expected] :
       {std::pair<std::string, std::string>{"/etc", "outside"},
        std::pair<std::string, std::string>{(w.source / "docs").string(), "not a btrfs subvolume"}}) {
    write_file(w.dir / "bad.conf", "[bad]\nsource = " + w.sshd.url(source) +
                                       "\ndestination = " + w.drive.mount_point().string() +
                                       "\npull = btrfs-send\nrequire_mount = no\n" + w.sshd.preset_lines());
    RunResult bad = snapkeep({"-c", (w.dir / "bad.conf").string(), "backup"});
    EXPECT_NE(bad.exit_code, 0) << source;
    EXPECT_NE(bad.err.find(expected), std::string::npos) << source << ": " << bad.err;
    EXPECT_TRUE(snapshot_ids(w.drive.mount_point() / "bad").empty()) << source;
  }
}

// A source host's key (serve --source-only) answers send requests for subvolumes inside its folder
// and nothing else; hand-made requests that try to get out are refused and make nothing.
TEST(RemoteBtrfsSend, TheSourceRoleRefusesHostileSendRequestsAndEveryOtherRequest) {
  SNAPKEEP_REQUIRE_ROOT();
  SendWorld w(false);
  ASSERT_TRUE(w.ok());
  auto loaded = load_config({w.config}, ConfigSchema{{"auto", "rsync", "btrfs"}});
  ASSERT_TRUE(loaded) << loaded.error().describe();
  const Preset preset = loaded->presets.at(0);
  const std::string root = w.source_fs.mount_point().string();
  fs::create_symlink("/etc", w.source_fs.mount_point() / "escape");
  auto answer_to = [&](const std::function<void(nlohmann::json&)>& change) -> std::string {
    auto connection = ServeConnection::open_at(preset, *preset.remote_source);
    if (!connection) {
      return "no connection: " + connection.error().describe();
    }
    nlohmann::json request{{"type", "send"},
                           {"name", "laptop"},
                           {"source", w.source.string()},
                           {"id", "2026-01-01_00-00-00"},
                           {"probe", true},
                           {"received", nlohmann::json::array()}};
    change(request);
    auto answer = connection->call(request);
    return answer ? std::string() : answer.error().message;
  };
  EXPECT_EQ(answer_to([](nlohmann::json&) {}), "") << "the probe as sent is answered";
  struct Case {
    std::string what;
    std::function<void(nlohmann::json&)> change;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"a folder outside", [](auto& r) { r["source"] = "/etc"; }, "outside"},
      {"'..' up and out", [&](auto& r) { r["source"] = root + "/../"; }, "'..'"},
      {"a symlink out", [&](auto& r) { r["source"] = root + "/escape"; }, "outside"},
      {"a relative path", [](auto& r) { r["source"] = "data"; }, "not an absolute path"},
      {"a line break in the source", [&](auto& r) { r["source"] = w.source.string() + "\n/etc"; }, "line break"},
      {"an option as the source", [&](auto& r) { r["source"] = root + "/--help"; }, "refused"},
      {"a name with a slash", [](auto& r) { r["name"] = "../../etc"; }, "not allowed"},
      {"a line break in the name", [](auto& r) { r["name"] = "laptop\nrm -rf /"; }, "not allowed"},
      {"an id that is not one", [](auto& r) { r["id"] = "-p /etc"; }, "not a snapshot id"},
      {"a parent that is not a uuid",
       [](auto& r) {
         r["probe"] = false;
         r["received"] = {"--dump"};
       },
       "not a uuid"},
      {"a folder, not a subvolume", [&](auto& r) { r["source"] = (w.source / "docs").string(); },
       "not a btrfs subvolume"},
      {"another request type", [](auto& r) { r["type"] = "list"; }, "--source-only"},
      {"a prune", [](auto& r) { r["type"] = "prune"; }, "--source-only"},
  };
  for (const auto& c : cases) {
    const std::string message = answer_to(c.change);
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.what << ": " << message;
  }
  EXPECT_FALSE(fs::exists(w.source_snapshots)) << "nothing was snapshotted";
}

// btrfs receive finds a stream's clone sources by received uuid anywhere on its filesystem. A
// client (here a hand-made one, speaking the protocol itself) whose stream takes data from another
// preset's snapshot could then restore that preset's files: serve refuses such a stream and keeps
// nothing of it.
TEST(RemoteBtrfsSend, AClientStreamTakingDataFromAnotherPresetsSnapshotIsRefused) {
  SNAPKEEP_REQUIRE_ROOT();
  SendWorld w(true);
  ASSERT_TRUE(w.ok());
  std::string err;
  auto first = w.backup(&err);
  ASSERT_EQ(first["status"], "ok") << err;
  const fs::path victim_snapshot = w.source_snapshot(first["snapshot"]);

  // The thief's preset on the same server, and a subvolume holding a clone of the victim's file.
  const fs::path thief = w.source_fs.mount_point() / "thief";
  ASSERT_EQ(run({"btrfs", "subvolume", "create", thief.string()}).exit_code, 0);
  RunResult cloned =
      run({"cp", "--reflink=always", (victim_snapshot / "photos/p.bin").string(), (thief / "stolen.bin").string()});
  ASSERT_EQ(cloned.exit_code, 0) << cloned.err;
  write_file(w.dir / "thief.conf", "[thief]\nsource = " + thief.string() + "\ndestination = " +
                                       w.sshd.url(w.drive.mount_point()) + "\n" + w.sshd.preset_lines());
  auto loaded = load_config({w.dir / "thief.conf"}, ConfigSchema{{"auto", "rsync", "btrfs"}});
  ASSERT_TRUE(loaded) << loaded.error().describe();
  const Preset preset = loaded->presets.at(0);
  auto control = ServeConnection::open(preset);
  ASSERT_TRUE(control) << control.error().describe();
  nlohmann::json request =
      remote_request(preset, "backup", {{"dry_run", false}, {"wait", false}, {"switch_backend", false}});
  request["preset"]["exclude_from_lines"] = nlohmann::json::array();
  request["source_subvolume"] = true;
  ASSERT_TRUE(control->send(request));
  auto transfer = control->receive();
  ASSERT_TRUE(transfer) << transfer.error().describe();
  ASSERT_EQ((*transfer)["type"], "transfer") << transfer->dump();
  auto data = ServeConnection::open(preset);
  ASSERT_TRUE(data) << data.error().describe();
  ASSERT_TRUE(data->send({{"type", "attach"}, {"session", (*transfer)["session"]}, {"token", (*transfer)["token"]}}));
  auto attached = data->receive();
  ASSERT_TRUE(attached) << attached.error().describe();
  const auto words = (*attached)["server_args"].get<std::vector<std::string>>();
  ASSERT_GE(words.size(), 2u);
  ASSERT_EQ(words[0], "btrfs-send");
  EXPECT_EQ(words.size(), 2u) << "the thief's preset has no snapshots to offer as parents";
  // The snapshot under the name serve asked for, sent with the victim's snapshot as its parent and clone source.
  const fs::path snapshots = w.source_fs.mount_point() / "thief-snapshots";
  fs::create_directories(snapshots);
  const fs::path sent = snapshots / (".incoming-" + words[1]);
  ASSERT_EQ(run({"btrfs", "subvolume", "snapshot", "-r", thief.string(), sent.string()}).exit_code, 0);
  Fd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  auto sender = start_process(
      {"btrfs", "send", "-q", "-p", victim_snapshot.string(), "-c", victim_snapshot.string(), "--", sent.string()},
      null.get(), data->to_fd());
  ASSERT_TRUE(sender) << sender.error().describe();
  const ProcessResult streamed = sender->wait();
  EXPECT_TRUE(streamed.succeeded()) << streamed.stderr_tail;
  data->close_and_wait();
  auto answer = control->receive();
  ASSERT_FALSE(answer) << "serve kept the stream: " << answer->dump();
  EXPECT_NE(answer.error().message.find("takes data from the subvolume " + uuid_of(victim_snapshot)), std::string::npos)
      << answer.error().message;
  EXPECT_TRUE(snapshot_ids(w.drive.mount_point() / "thief").empty());
  EXPECT_EQ(entries_of(w.drive.mount_point() / "thief"), std::vector<std::string>{".snapkeep"})
      << "nothing of the stream was kept";
}

// Seeded kills at random moments of a 12 MiB stream (tests/support/kill_trials.hpp), each of the
// processes on its way in turn: after every trial no half snapshot is in place and every snapshot in
// place is whole; the run after the last trial is whole and incremental, and what the killed runs
// received is gone.
void seeded_kills(bool push) {
  SendWorld w(push, "bwlimit = 4M\n");
  ASSERT_TRUE(w.ok());
  std::string err;
  auto first = w.backup(&err);
  ASSERT_EQ(first["status"], "ok") << err;
  const std::string id1 = first["snapshot"];
  // Each marker names this test's own folders or port: tests run side by side (ctest -j), and a
  // kill must never reach another test's processes.
  const std::string serve_marker =
      "serve --restrict-path " + (push ? w.drive.mount_point() : w.source_fs.mount_point()).string();
  const std::string ssh_marker = "-p " + std::to_string(w.sshd.port()) + " ";
  const std::string send_marker = w.source_snapshots.string();
  const std::string receive_marker = "receive -e -C -- " + w.preset_dir.string();
  KillTrials trials;
  trials.label = push ? "btrfs-push-kill" : "btrfs-pull-kill";
  trials.source = w.source;
  trials.preset_dir = w.preset_dir;
  trials.victim_names = {"the client's ssh", "serve", "btrfs send", "btrfs receive"};
  trials.trials = 4;
  trials.victims = [&](int victim) {
    const std::string marker = victim == 0   ? ssh_marker
                               : victim == 1 ? serve_marker
                               : victim == 2 ? send_marker
                                             : receive_marker;
    return processes_named(victim == 0 ? "ssh" : victim == 1 ? "snapkeep" : "btrfs", marker);
  };
  trials.start = [&](int trial) { return background_backup(w.config, w.dir.path(), trial); };
  trials.settle = [&] { EXPECT_TRUE(wait_until([&] { return processes_with(serve_marker).empty(); }, 30s, 50ms)); };
  const auto whole = run_kill_trials(trials, {id1});

  std::this_thread::sleep_for(1100ms);
  auto last = w.backup(&err);
  ASSERT_EQ(last["status"], "ok") << err;
  EXPECT_NE(err.find("parent " + whole.back()), std::string::npos) << "incremental from the last whole pair: " << err;
  const std::string newest = last["snapshot"];
  for (int i = 0; i < 12; ++i) {
    const std::string name = "big/f" + std::to_string(i);
    EXPECT_EQ(read_file(w.preset_dir / newest / name), read_file(w.source / name)) << name;
  }
  EXPECT_TRUE(btrfs::shares_blocks(w.preset_dir / id1 / "photos/p.bin", w.preset_dir / newest / "photos/p.bin"));
  for (const auto& name : entries_of(w.preset_dir)) {
    EXPECT_NE(name.rfind(".incoming-", 0), 0u) << "what the killed runs received was removed: " << name;
  }
}

TEST(RemoteBtrfsSend, SeededKillsDuringAPushNeverLeaveAHalfSnapshot) {
  SNAPKEEP_REQUIRE_ROOT();
  seeded_kills(true);
}

TEST(RemoteBtrfsSend, SeededKillsDuringAPullNeverLeaveAHalfSnapshot) {
  SNAPKEEP_REQUIRE_ROOT();
  seeded_kills(false);
}

}  // namespace
}  // namespace snapkeep::test
