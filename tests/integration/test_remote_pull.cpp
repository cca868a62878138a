// Pull backups over a real ssh (tests/support/sshd.hpp): snapkeep's own known_hosts and `trust`,
// the three ssh error classes, hard-link snapshots of a remote source on a loop-mounted ext4 (and
// subvolume snapshots on btrfs), and a connection killed mid-transfer leaving no half snapshot, the
// next run resuming.

#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/kill_trials.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/remote_btrfs.hpp"
#include "tests/support/sshd.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

using namespace std::chrono_literals;

// A remote source (a folder reached through the test's sshd) and a local ext4 destination.
struct PullWorld {
  SshServer sshd;
  TempDir dir;
  LoopFs dest;
  fs::path source = dir / "src";
  fs::path config = dir / "snapkeep.conf";
  fs::path preset_dir = dest.mount_point() / "laptop";

  explicit PullWorld(const std::string& extra = "", const std::string& fs_type = "ext4") : dest(fs_type, 128) {
    fs::create_directories(source / "docs");
    write_file(source / "docs/a.txt", "alpha\n");
    write_file(source / "b.txt", "bravo\n");
    write_file(config, "[laptop]\nsource = " + sshd.url(source) + "\ndestination = " + dest.mount_point().string() +
                           "\n" + sshd.preset_lines() + extra);
  }
  RunResult cli(const std::vector<std::string>& args) const {
    std::vector<std::string> all{"-c", config.string()};
    all.insert(all.end(), args.begin(), args.end());
    return snapkeep(all);
  }
  void trust() const {
    RunResult r = cli({"trust", "laptop", "--yes"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  nlohmann::json backup_json() const {
    RunResult r = cli({"--json", "backup"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out)["presets"][0] : nlohmann::json{};
  }
};

bool ok(const PullWorld& w) {
  return w.sshd.ok() && w.dest.ok();
}

TEST(RemotePull, FirstContactIsRefusedUntilTrustStoresTheFingerprint) {
  SNAPKEEP_REQUIRE_ROOT();
  PullWorld w;
  ASSERT_TRUE(ok(w));
  RunResult refused = w.cli({"backup"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("unknown host key"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("snapkeep trust"), std::string::npos) << refused.err;
  EXPECT_TRUE(snapshot_ids(w.preset_dir).empty());
  EXPECT_EQ(read_file(w.sshd.known_hosts()), "") << "ssh never stores a key on its own";

  // Without a terminal and without --yes, trust shows the key but stores nothing.
  RunResult asked = w.cli({"trust", "laptop"});
  EXPECT_NE(asked.exit_code, 0);
  EXPECT_EQ(read_file(w.sshd.known_hosts()), "");

  RunResult trusted = w.cli({"--json", "trust", "laptop", "--yes"});
  ASSERT_EQ(trusted.exit_code, 0) << trusted.err;
  auto json = nlohmann::json::parse(trusted.out);
  // The fingerprint shown is the host key's own (as ssh-keygen -lf prints it on the server).
  RunResult fp = run_ok({"ssh-keygen", "-lf", w.sshd.host_public_key().string()});
  ASSERT_EQ(json["keys"].size(), 1u);
  EXPECT_NE(fp.out.find(json["keys"][0]["fingerprint"].get<std::string>()), std::string::npos) << fp.out;
  EXPECT_EQ(json["keys"][0]["type"], "ssh-ed25519");
  EXPECT_TRUE(json["stored"].get<bool>());
  const std::string stored = read_file(w.sshd.known_hosts());
  EXPECT_EQ(stored.rfind("[127.0.0.1]:" + std::to_string(w.sshd.port()) + " ssh-ed25519 ", 0), 0u) << stored;

  // Trusting again changes nothing.
  ASSERT_EQ(w.cli({"trust", "laptop", "--yes"}).exit_code, 0);
  EXPECT_EQ(read_file(w.sshd.known_hosts()), stored);

  auto done = w.backup_json();
  EXPECT_EQ(done["status"], "ok");
  EXPECT_EQ(snapshot_ids(w.preset_dir).size(), 1u);
}

TEST(RemotePull, SnapshotsAreCompleteIncrementalAndKeptByRetention) {
  SNAPKEEP_REQUIRE_ROOT();
  PullWorld w("keep = 2\n");
  ASSERT_TRUE(ok(w));
  w.trust();
  auto first = w.backup_json();
  ASSERT_EQ(first["status"], "ok");
  const std::string id1 = first["snapshot"];
  EXPECT_EQ(read_file(w.preset_dir / id1 / "docs/a.txt"), "alpha\n");
  EXPECT_EQ(read_file(w.preset_dir / id1 / "b.txt"), "bravo\n");
  EXPECT_EQ(fs::read_symlink(w.preset_dir / "latest"), id1);

  std::this_thread::sleep_for(1100ms);  // snapshot ids are per second
  write_file(w.source / "b.txt", "bravo, changed\n");
  auto second = w.backup_json();
  ASSERT_EQ(second["status"], "ok");
  const std::string id2 = second["snapshot"];
  EXPECT_EQ(inode_of(w.preset_dir / id1 / "docs/a.txt"), inode_of(w.preset_dir / id2 / "docs/a.txt"))
      << "an unchanged file is a hard link into the previous snapshot";
  EXPECT_NE(inode_of(w.preset_dir / id1 / "b.txt"), inode_of(w.preset_dir / id2 / "b.txt"));
  EXPECT_EQ(read_file(w.preset_dir / id2 / "b.txt"), "bravo, changed\n");
  EXPECT_EQ(read_file(w.preset_dir / id1 / "b.txt"), "bravo\n");
  EXPECT_EQ(fs::read_symlink(w.preset_dir / "latest"), id2);

  // Manifests were written: scrub checks every file and finds nothing.
  RunResult scrub = w.cli({"--json", "scrub"});
  ASSERT_EQ(scrub.exit_code, 0) << scrub.err;
  auto scrubbed = nlohmann::json::parse(scrub.out)["presets"][0];
  EXPECT_EQ(scrubbed["snapshots_checked"], 2);
  EXPECT_TRUE(scrubbed["findings"].empty());

  RunResult du = w.cli({"--json", "du"});
  ASSERT_EQ(du.exit_code, 0) << du.err;
  EXPECT_EQ(nlohmann::json::parse(du.out)["presets"][0]["snapshots"].size(), 2u);

  std::this_thread::sleep_for(1100ms);
  write_file(w.source / "c.txt", "charlie\n");
  auto third = w.backup_json();
  ASSERT_EQ(third["status"], "ok");
  auto ids = snapshot_ids(w.preset_dir);
  EXPECT_EQ(ids, (std::vector<std::string>{id2, third["snapshot"].get<std::string>()})) << "keep = 2";
}

TEST(RemotePull, KeyAndKnownHostsPathsWithBlanksQuotesAndPercentReachSsh) {
  SNAPKEEP_REQUIRE_ROOT();
  PullWorld w;
  ASSERT_TRUE(ok(w));
  // rsync splits its --rsh value at blanks and ssh expands %-tokens: both must see these names whole.
  const fs::path keys = w.dir / "my keys 100%";
  fs::create_directories(keys);
  const fs::path key = keys / "it's a key";
  const fs::path known = keys / "known hosts";
  fs::copy_file(w.sshd.client_key(), key);
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
  std::string text = read_file(w.config);
  for (const auto& [from, to] : {std::pair{w.sshd.client_key().string(), key.string()},
                                 std::pair{w.sshd.known_hosts().string(), known.string()}}) {
    std::string escaped;  // the config language writes a literal '%' as "%%"
    for (char c : to) {
      escaped += c == '%' ? std::string("%%") : std::string(1, c);
    }
    text.replace(text.find(from), from.size(), escaped);
  }
  write_file(w.config, text);
  RunResult trusted = w.cli({"trust", "laptop", "--yes"});
  ASSERT_EQ(trusted.exit_code, 0) << trusted.err;
  EXPECT_NE(read_file(known).find("ssh-ed25519"), std::string::npos);
  auto done = w.backup_json();
  EXPECT_EQ(done["status"], "ok");
  EXPECT_EQ(snapshot_ids(w.preset_dir).size(), 1u);
}

TEST(RemotePull, TheNativeEngineGivesWayToRsyncWithANote) {
  SNAPKEEP_REQUIRE_ROOT();
  PullWorld w("transfer = native\n");
  ASSERT_TRUE(ok(w));
  w.trust();
  RunResult r = w.cli({"backup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("copies with rsync"), std::string::npos) << r.err;
  EXPECT_EQ(snapshot_ids(w.preset_dir).size(), 1u);
}

TEST(RemotePull, AChangedHostKeyIsRefusedAndNotStored) {
  SNAPKEEP_REQUIRE_ROOT();
  PullWorld w;
  ASSERT_TRUE(ok(w));
  w.trust();
  auto first = w.backup_json();
  ASSERT_EQ(first["status"], "ok");
  const std::string known = read_file(w.sshd.known_hosts());

  w.sshd.change_host_key();
  ASSERT_TRUE(w.sshd.ok());
  write_file(w.source / "b.txt", "bravo, changed\n");
  RunResult r = w.cli({"backup"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("host key changed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("REMOTE HOST IDENTIFICATION HAS CHANGED"), std::string::npos)
      << "the remote's stderr tail is shown: " << r.err;
  EXPECT_EQ(snapshot_ids(w.preset_dir).size(), 1u);

  RunResult retrust = w.cli({"trust", "laptop", "--yes"});
  EXPECT_EQ(retrust.exit_code, 1);
  EXPECT_NE(retrust.err.find("host key changed"), std::string::npos) << retrust.err;
  EXPECT_EQ(read_file(w.sshd.known_hosts()), known) << "a changed key is never stored over the old one";
}

TEST(RemotePull, PermissionDeniedAndCannotConnectAreToldApart) {
  SNAPKEEP_REQUIRE_ROOT();
  PullWorld w;
  ASSERT_TRUE(ok(w));
  w.trust();

  // A key the server does not accept.
  run_ok({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (w.dir / "other_key").string()});
  std::string text = read_file(w.config);
  const std::string key = w.sshd.client_key().string();
  text.replace(text.find(key), key.size(), (w.dir / "other_key").string());
  write_file(w.config, text);
  RunResult denied = w.cli({"backup"});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_NE(denied.err.find("permission denied"), std::string::npos) << denied.err;
  EXPECT_NE(denied.err.find("Permission denied (publickey)"), std::string::npos) << denied.err;

  // A port where nothing listens.
  const std::string port = std::to_string(w.sshd.port());
  text = read_file(w.config);
  const std::string from = "127.0.0.1:" + port;
  text.replace(text.find(from), from.size(), "127.0.0.1:1");
  write_file(w.config, text);
  RunResult unreachable = w.cli({"backup"});
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_NE(unreachable.err.find("cannot connect"), std::string::npos) << unreachable.err;
  EXPECT_NE(unreachable.err.find("Connection refused"), std::string::npos) << unreachable.err;
  EXPECT_TRUE(snapshot_ids(w.preset_dir).empty());
}

TEST(RemotePull, ABtrfsDriveKeepsReadOnlySubvolumesOfARemoteFolderSharingUnchangedData) {
  SNAPKEEP_REQUIRE_ROOT();
  PullWorld w("", "btrfs");
  ASSERT_TRUE(ok(w));
  write_random_file(w.source / "docs/big.bin", 256 * 1024, 7);  // larger than btrfs's inline limit
  const std::string big = read_file(w.source / "docs/big.bin");
  w.trust();
  auto first = w.backup_json();
  ASSERT_EQ(first["status"], "ok");
  EXPECT_EQ(first["backend"], "btrfs");
  const std::string id1 = first["snapshot"];

  std::this_thread::sleep_for(1100ms);
  write_file(w.source / "b.txt", "bravo, changed\n");
  auto second = w.backup_json();
  ASSERT_EQ(second["status"], "ok");
  const std::string id2 = second["snapshot"];
  expect_btrfs_snapshots_share_unchanged_data(w.preset_dir, id1, id2, big);
  EXPECT_LT(second["bytes_transferred"].get<std::uint64_t>(), big.size()) << "only the change crossed the link";

  // Manifests were written at backup time: scrub verifies both snapshots and finds nothing.
  RunResult scrub = w.cli({"--json", "scrub"});
  ASSERT_EQ(scrub.exit_code, 0) << scrub.err;
  auto scrubbed = nlohmann::json::parse(scrub.out)["presets"][0];
  EXPECT_EQ(scrubbed["snapshots_checked"], 2);
  EXPECT_TRUE(scrubbed["findings"].empty());
}

// The ssh processes rsync started for a run (their command line names the test's port).
std::vector<pid_t> ssh_children_of(pid_t run, std::uint16_t port) {
  return processes_where([&](const fs::path& proc) {
    const std::string cmdline = fault::read_proc_file((proc / "cmdline").string());
    if (cmdline.rfind(std::string("ssh") + '\0', 0) != 0 ||
        cmdline.find(std::string("-p") + '\0' + std::to_string(port) + '\0') == std::string::npos) {
      return false;
    }
    // Below our run: its rsync's child.
    auto info = fault::read_proc(std::stoi(proc.filename().string()));
    for (int depth = 0; info && depth < 4; ++depth) {
      if (info->ppid == run) {
        return true;
      }
      info = fault::read_proc(info->ppid);
    }
    return false;
  });
}

TEST(RemotePull, AKilledConnectionLeavesNoHalfSnapshotAndTheNextRunResumes) {
  SNAPKEEP_REQUIRE_ROOT();
  PullWorld w("bwlimit = 2M\n");
  ASSERT_TRUE(ok(w));
  w.trust();
  auto first = w.backup_json();
  ASSERT_EQ(first["status"], "ok");
  const std::string id1 = first["snapshot"];

  // 12 MiB of new files at 2 MiB/s: a transfer of several seconds to cut.
  for (int i = 0; i < 12; ++i) {
    write_random_file(w.source / "big" / ("f" + std::to_string(i)), 1 << 20, 100 + i);
  }
  std::this_thread::sleep_for(1100ms);
  BackgroundRun run({"-c", w.config.string(), "backup"}, w.dir.path(), {}, {.name = "killed"});
  std::vector<pid_t> ssh;
  // Wait until part of the new data has arrived in the work space.
  auto arrived = [&] { return bytes_arrived(w.preset_dir) >= (3u << 20); };
  ASSERT_TRUE(wait_until(arrived, 60s, 20ms)) << run.stderr_text();
  ssh = ssh_children_of(run.pid(), w.sshd.port());
  ASSERT_FALSE(ssh.empty()) << "rsync's ssh not found";
  for (pid_t pid : ssh) {
    ::kill(pid, SIGKILL);  // a dropped link
  }
  EXPECT_EQ(run.exit_code(), 1) << run.stderr_text();
  EXPECT_EQ(snapshot_ids(w.preset_dir), std::vector<std::string>{id1}) << "no half snapshot";
  EXPECT_EQ(fs::read_symlink(w.preset_dir / "latest"), id1);

  std::this_thread::sleep_for(1100ms);
  auto resumed = w.backup_json();
  ASSERT_EQ(resumed["status"], "ok");
  const std::string id2 = resumed["snapshot"];
  EXPECT_EQ(snapshot_ids(w.preset_dir), (std::vector<std::string>{id1, id2}));
  RecordProperty("bytes_transferred_after_resume", std::to_string(resumed["bytes_transferred"].get<std::uint64_t>()));
  EXPECT_LT(resumed["bytes_transferred"].get<std::uint64_t>(), 11u << 20)
      << "what the killed run copied is not copied again";
  expect_whole_and_linked(w.source, w.preset_dir, id1, id2);
  RunResult scrub = w.cli({"scrub"});
  EXPECT_EQ(scrub.exit_code, 0) << scrub.err;
}

// Seeded kills at random moments of a pull (tests/support/kill_trials.hpp): rsync's ssh, the source
// host's rsync --server --sender, or this machine's rsync.
TEST(RemotePull, SeededKillsAtRandomMomentsNeverLeaveAHalfSnapshot) {
  SNAPKEEP_REQUIRE_ROOT();
  PullWorld w("bwlimit = 4M\n");
  ASSERT_TRUE(ok(w));
  w.trust();
  auto first = w.backup_json();
  ASSERT_EQ(first["status"], "ok");
  const std::string id1 = first["snapshot"];
  KillTrials trials;
  trials.label = "remote-pull-kill";
  trials.source = w.source;
  trials.preset_dir = w.preset_dir;
  trials.victim_names = {"rsync's ssh", "the source host's rsync", "this machine's rsync"};
  trials.victims = [&](int victim) {
    const std::string port = std::to_string(w.sshd.port());
    return processes_where([&](const fs::path& proc) {
      const std::string cmdline = fault::read_proc_file((proc / "cmdline").string());
      auto info = fault::read_proc(std::stoi(proc.filename().string()));
      if (!info) {
        return false;
      }
      const bool server = cmdline.find(std::string("--server") + '\0') != std::string::npos;
      switch (victim) {
        case 0: return info->comm == "ssh" && cmdline.find(std::string("-p") + '\0' + port + '\0') != std::string::npos;
        case 1: return info->comm == "rsync" && server && cmdline.find(w.source.string()) != std::string::npos;
        default:
          return info->comm == "rsync" && !server &&
                 cmdline.find((w.preset_dir / ".snapkeep").string()) != std::string::npos;
      }
    });
  };
  trials.start = [&](int trial) { return background_backup(w.config, w.dir.path(), trial); };
  run_kill_trials(trials, {id1});

  std::this_thread::sleep_for(1100ms);
  auto last = w.backup_json();
  ASSERT_EQ(last["status"], "ok");
  const std::string newest = last["snapshot"];
  expect_whole_and_linked(w.source, w.preset_dir, id1, newest);
}

}  // namespace
}  // namespace snapkeep::test
