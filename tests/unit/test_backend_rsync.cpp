// Unit tests for backends/rsync: the rsync argv, the classification of rsync's exit status, parsing
// of rsync's --stats and progress lines, and the snapkeep CLI run against a fake `rsync` on PATH.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "backends/rsync/rsync_backend.hpp"
#include "core/transfer/rsync.hpp"
#include "core/transfer/rsync_stats.hpp"
#include "core/transfer/rsync_status.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// ---------------------------------------------------------------------------------------------
// rsync_argv

Preset make_preset() {
  Preset preset;
  preset.name = "home";
  preset.source = "/data/home";
  preset.destination = "/mnt/backup";
  return preset;
}

RsyncTransfer make_transfer() {
  RsyncTransfer transfer;
  transfer.source = "/data/home";
  transfer.target = "/mnt/backup/home/.snapkeep/partial";
  return transfer;
}

std::size_t index_of(const std::vector<std::string>& argv, const std::string& arg) {
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == arg) {
      return i;
    }
  }
  return argv.size();
}

bool contains(const std::vector<std::string>& argv, const std::string& arg) {
  return index_of(argv, arg) != argv.size();
}

TEST(BackendRsyncArgv, PathsComeLastAfterDoubleDashWithTrailingSlash) {
  auto argv = rsync_argv(make_preset(), make_transfer(), false);
  ASSERT_GE(argv.size(), 4U);
  EXPECT_EQ(argv.front(), "rsync");
  EXPECT_EQ(argv[argv.size() - 3], "--");
  EXPECT_EQ(argv[argv.size() - 2], "/data/home/");
  EXPECT_EQ(argv[argv.size() - 1], "/mnt/backup/home/.snapkeep/partial/");
  EXPECT_EQ(index_of(argv, "--"), argv.size() - 3) << "only one --, right before the paths";
}

TEST(BackendRsyncArgv, ExistingTrailingSlashIsNotDoubledAndOddPathsStayOneElement) {
  RsyncTransfer transfer = make_transfer();
  transfer.source = "/data/-rf home/";
  transfer.target = "/mnt/back up/--delete/";
  auto argv = rsync_argv(make_preset(), transfer, false);
  ASSERT_GE(argv.size(), 3U);
  EXPECT_EQ(argv[argv.size() - 3], "--");
  EXPECT_EQ(argv[argv.size() - 2], "/data/-rf home/");
  EXPECT_EQ(argv[argv.size() - 1], "/mnt/back up/--delete/");
}

TEST(BackendRsyncArgv, ArchiveHardLinksAclsXattrsAndNumericIds) {
  auto argv = rsync_argv(make_preset(), make_transfer(), false);
  EXPECT_TRUE(contains(argv, "-aHAX"));
  EXPECT_TRUE(contains(argv, "--numeric-ids"));
  EXPECT_TRUE(contains(argv, "--stats"));
  EXPECT_TRUE(contains(argv, "--no-human-readable")) << "stats are parsed as plain numbers";
  EXPECT_FALSE(contains(argv, "--one-file-system"));
  EXPECT_FALSE(contains(argv, "--dry-run"));
  EXPECT_FALSE(contains(argv, "--info=progress2"));
  for (const auto& arg : argv) {
    EXPECT_FALSE(arg.empty());
  }
}

TEST(BackendRsyncArgv, OneFileSystemOnlyWhenSet) {
  Preset preset = make_preset();
  preset.one_file_system = true;
  auto argv = rsync_argv(preset, make_transfer(), false);
  EXPECT_TRUE(contains(argv, "--exclude=/lost+found")) << "the source's top-level lost+found is never copied";
  EXPECT_TRUE(contains(argv, "--one-file-system"));
  EXPECT_LT(index_of(argv, "--one-file-system"), index_of(argv, "--"));
}

TEST(BackendRsyncArgv, ExcludesAreSingleElementsEvenWithSpacesOrLeadingDash) {
  Preset preset = make_preset();
  preset.exclude = {"*.tmp", "Cache dir/", "-rf", "--delete", "+ keep", "with=equals", "/abs/path"};
  auto argv = rsync_argv(preset, make_transfer(), false);
  std::size_t dash_dash = index_of(argv, "--");
  for (const auto& pattern : preset.exclude) {
    std::size_t i = index_of(argv, "--exclude=" + pattern);
    EXPECT_LT(i, dash_dash) << pattern;
  }
  EXPECT_FALSE(contains(argv, "--exclude"));
  EXPECT_FALSE(contains(argv, "-rf"));
  EXPECT_FALSE(contains(argv, "Cache dir/"));
  // No option-looking element after the "--".
  EXPECT_EQ(argv.size() - dash_dash, 3U);
}

TEST(BackendRsyncArgv, ExcludeFromAndLinkDests) {
  Preset preset = make_preset();
  preset.exclude_from = fs::path("/etc/snapkeep/home excludes.txt");
  RsyncTransfer transfer = make_transfer();
  transfer.link_dests = {"/mnt/backup/home/2026-11-26_02-18-39", "/mnt/backup/home/.snapkeep/resume-1",
                         "/mnt/back up/-weird"};
  auto argv = rsync_argv(preset, transfer, false);
  EXPECT_TRUE(contains(argv, "--exclude-from=/etc/snapkeep/home excludes.txt"));
  std::size_t first = index_of(argv, "--link-dest=/mnt/backup/home/2026-11-26_02-18-39");
  std::size_t second = index_of(argv, "--link-dest=/mnt/backup/home/.snapkeep/resume-1");
  std::size_t third = index_of(argv, "--link-dest=/mnt/back up/-weird");
  EXPECT_LT(first, second) << "best link base first";
  EXPECT_LT(second, third);
  EXPECT_LT(third, index_of(argv, "--"));
  EXPECT_FALSE(contains(argv, "--link-dest"));
}

TEST(BackendRsyncArgv, DryRunProgressAndInPlace) {
  RsyncTransfer transfer = make_transfer();
  transfer.dry_run = true;
  transfer.in_place = true;
  auto argv = rsync_argv(make_preset(), transfer, true);
  std::size_t dash_dash = index_of(argv, "--");
  for (const char* option : {"--dry-run", "--info=progress2", "--inplace", "--no-whole-file", "--delete-excluded"}) {
    EXPECT_LT(index_of(argv, option), dash_dash) << option;
  }
  // A new tree each time (hard links): nothing excluded can be in the target, and nothing to delete.
  EXPECT_FALSE(contains(rsync_argv(make_preset(), make_transfer(), false), "--delete-excluded"));
}

// ---------------------------------------------------------------------------------------------
// classify_rsync_exit

ProcessResult exited(int code) {
  ProcessResult r;
  r.exit_code = code;
  return r;
}

ProcessResult killed(int signal) {
  ProcessResult r;
  r.term_signal = signal;
  return r;
}

TEST(BackendRsyncStatus, ClassifiesExitStatuses) {
  EXPECT_EQ(classify_rsync_exit(exited(0), false), RsyncOutcome::ok);
  EXPECT_EQ(classify_rsync_exit(exited(0), true), RsyncOutcome::ok);
  EXPECT_EQ(classify_rsync_exit(exited(23), false), RsyncOutcome::failed);
  EXPECT_EQ(classify_rsync_exit(exited(23), true), RsyncOutcome::ok_partial);
  EXPECT_EQ(classify_rsync_exit(exited(24), false), RsyncOutcome::ok_vanished);
  EXPECT_EQ(classify_rsync_exit(exited(24), true), RsyncOutcome::ok_vanished);
  for (int code : {1, 2, 3, 5, 10, 11, 12, 20, 25, 30, 35, 127, 255}) {
    EXPECT_EQ(classify_rsync_exit(exited(code), false), RsyncOutcome::failed) << code;
    EXPECT_EQ(classify_rsync_exit(exited(code), true), RsyncOutcome::failed) << code;
  }
}

// allow_partial forgives files rsync could not read, not files it could not write: exit 23 with a
// full destination in its stderr would leave the snapshot silently short (found by the full-disk
// fault suite: an ext4 out of inodes gave a snapshot missing files and exit 0).
TEST(BackendRsyncStatus, PartialTransferOnAFullDestinationFailsEvenWithAllowPartial) {
  for (const char* tail :
       {"rsync: [receiver] mkstemp \"/mnt/b/home/.snapkeep/partial/.a.XXXX\" failed: No space left on device (28)\n",
        "rsync: [receiver] write failed on \"/mnt/b/x\": Disk quota exceeded (122)\n"}) {
    ProcessResult r = exited(23);
    r.stderr_tail = tail;
    EXPECT_EQ(classify_rsync_exit(r, true), RsyncOutcome::failed) << tail;
    EXPECT_EQ(classify_rsync_exit(r, false), RsyncOutcome::failed) << tail;
  }
  ProcessResult unreadable = exited(23);
  unreadable.stderr_tail = "rsync: [sender] send_files failed to open \"/src/secret\": Permission denied (13)\n";
  EXPECT_EQ(classify_rsync_exit(unreadable, true), RsyncOutcome::ok_partial);
}

TEST(BackendRsyncStatus, SignalIsAlwaysFailure) {
  for (int signal : {2, 9, 15}) {
    EXPECT_EQ(classify_rsync_exit(killed(signal), true), RsyncOutcome::failed) << signal;
  }
  // Even when the (meaningless) exit code field says 0 or 24.
  ProcessResult odd = killed(9);
  odd.exit_code = 0;
  EXPECT_EQ(classify_rsync_exit(odd, true), RsyncOutcome::failed);
  odd.exit_code = 24;
  EXPECT_EQ(classify_rsync_exit(odd, true), RsyncOutcome::failed);
}

TEST(BackendRsyncStatus, ExitMeaningsFromTheManPage) {
  EXPECT_NE(rsync_exit_meaning(23).find("partial transfer"), std::string::npos);
  EXPECT_NE(rsync_exit_meaning(24).find("vanished"), std::string::npos);
  EXPECT_NE(rsync_exit_meaning(12).find("protocol data stream"), std::string::npos);
  EXPECT_NE(rsync_exit_meaning(11).find("file I/O"), std::string::npos);
  EXPECT_FALSE(rsync_exit_meaning(99).empty());
}

// ---------------------------------------------------------------------------------------------
// parse_rsync_stats_line / parse_rsync_progress_line, on lines rsync 3.x prints

TEST(CoreRsyncStats, ParsesStatsWithAndWithoutThousandsSeparators) {
  RsyncStats plain;
  for (const char* line : {
           "Number of files: 1502 (reg: 1501, dir: 1)",
           "Number of created files: 1501 (reg: 1501)",
           "Number of deleted files: 0",
           "Number of regular files transferred: 1501",
           "Total file size: 3006393 bytes",
           "Total transferred file size: 3006393 bytes",
           "Literal data: 3006393 bytes",
           "Matched data: 0 bytes",
           "File list size: 0",
           "File list generation time: 0.015 seconds",
           "Total bytes sent: 3101263",
           "Total bytes received: 28538",
           "",
           "sent 3101263 bytes  received 28538 bytes  894228.86 bytes/sec",
           "total size is 3006393  speedup is 0.96",
       }) {
    parse_rsync_stats_line(line, plain);
  }
  EXPECT_EQ(plain.files, 1502U);
  EXPECT_EQ(plain.files_transferred, 1501U);
  EXPECT_EQ(plain.bytes_total, 3006393U);
  EXPECT_EQ(plain.bytes_transferred, 3006393U);

  RsyncStats grouped;
  for (const char* line : {
           "Number of files: 1,234,567 (reg: 1,000,000, dir: 234,567)",
           "Number of regular files transferred: 12,345",
           "Total file size: 123,456,789,012 bytes",
           "Total transferred file size: 9,876,543 bytes",
           "Total bytes sent: 10,000,000",
       }) {
    parse_rsync_stats_line(line, grouped);
  }
  EXPECT_EQ(grouped.files, 1234567U);
  EXPECT_EQ(grouped.files_transferred, 12345U);
  EXPECT_EQ(grouped.bytes_total, 123456789012ULL);
  EXPECT_EQ(grouped.bytes_transferred, 9876543U);
}

TEST(CoreRsyncStats, OldRsyncFilesTransferredLineAndOtherLinesLeaveStatsAlone) {
  RsyncStats stats;
  parse_rsync_stats_line("Number of files transferred: 7", stats);  // rsync 3.0 wording
  parse_rsync_stats_line("sent 1,234 bytes  received 35 bytes  2,538.00 bytes/sec", stats);
  parse_rsync_stats_line("rsync: send_files failed to open \"/src/Total file size: 5\"", stats);
  parse_rsync_stats_line("  Number of files: 5", stats);
  EXPECT_EQ(stats.files, 0U);
  EXPECT_EQ(stats.bytes_total, 0U);
  EXPECT_EQ(stats.bytes_transferred, 0U);
}

TEST(CoreRsyncStats, ParsesProgress2Lines) {
  auto p = parse_rsync_progress_line("        3000000  99%  404.25MB/s    0:00:00 (xfr#1, to-chk=1500/1502)");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->bytes, 3000000U);
  EXPECT_EQ(p->files_transferred, 1U);
  EXPECT_EQ(p->files_total, 1502U);
  EXPECT_EQ(p->files_checked, 2U);

  auto grouped =
      parse_rsync_progress_line("  1,234,567,890  45%   12.34MB/s    0:01:02 (xfr#1,234, ir-chk=1,000/25,000)");
  ASSERT_TRUE(grouped.has_value());
  EXPECT_EQ(grouped->bytes, 1234567890U);
  EXPECT_EQ(grouped->files_transferred, 1234U);
  EXPECT_EQ(grouped->files_total, 25000U);
  EXPECT_EQ(grouped->files_checked, 24000U);

  auto trailing = parse_rsync_progress_line("        3006357  99%   52.52MB/s    0:00:00 (xfr#1492, to-chk=9/1502) ");
  ASSERT_TRUE(trailing.has_value());
  EXPECT_EQ(trailing->files_checked, 1493U);

  auto first = parse_rsync_progress_line("          32768   1%    0.00kB/s    0:00:00  ");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->bytes, 32768U);
  EXPECT_EQ(first->files_transferred, 0U);
  EXPECT_EQ(first->files_total, 0U);
}

TEST(CoreRsyncStats, NonProgressLinesAreNotProgress) {
  for (const char* line : {"", "Number of files: 1502 (reg: 1501, dir: 1)",
                           "sent 3101263 bytes  received 28538 bytes  894228.86 bytes/sec",
                           "total size is 3006393  speedup is 0.96", "sending incremental file list"}) {
    EXPECT_FALSE(parse_rsync_progress_line(line).has_value()) << line;
  }
}

// ---------------------------------------------------------------------------------------------
// The snapkeep CLI with a fake rsync first on PATH (tests/fakes/rsync), with transfer = rsync.

fs::path fakes_dir() {
  return fs::path(SNAPKEEP_SOURCE_DIR) / "tests" / "fakes";
}

class FakeRsyncBackup : public ::testing::Test {
 protected:
  void SetUp() override {
    m_source = m_tmp / "source";
    m_dest = m_tmp / "dest";
    test::write_file(m_source / "file.txt", "hello");
    fs::create_directories(m_dest);
    write_config("");
  }

  void write_config(const std::string& extra) {
    test::write_preset_config(m_tmp / "snapkeep.conf", "home", m_source, m_dest,
                              "backend = rsync\ntransfer = rsync\n" + extra);
  }

  // snapkeep -c CONF backup, with the fake rsync first on PATH and the given FAKE_RSYNC_* settings.
  test::RunResult backup(std::map<std::string, std::string> env, const std::vector<std::string>& extra_args = {}) {
    const char* path = std::getenv("PATH");
    env["PATH"] = fakes_dir().string() + ":" + (path != nullptr ? path : "/usr/bin:/bin");
    std::vector<std::string> args{"-c", (m_tmp / "snapkeep.conf").string()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    args.emplace_back("backup");
    return test::snapkeep(args, env);
  }

  fs::path preset_dir() const { return m_dest / "home"; }
  std::vector<std::string> ids() const { return test::snapshot_ids(preset_dir()); }
  std::optional<std::string> latest() const {
    std::error_code ec;
    fs::path target = fs::read_symlink(preset_dir() / "latest", ec);
    return ec ? std::nullopt : std::optional<std::string>(target.string());
  }
  std::vector<std::string> records() const {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(preset_dir() / ".snapkeep" / "snapshots", ec)) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  // A first successful backup; returns its id.
  std::string first_snapshot() {
    auto r = backup({{"FAKE_RSYNC_EXIT", "0"}, {"FAKE_RSYNC_CREATE", "first.txt"}});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto now = ids();
    EXPECT_EQ(now.size(), 1U);
    return now.empty() ? "" : now.back();
  }

  TempDir m_tmp;
  fs::path m_source;
  fs::path m_dest;
};

TEST_F(FakeRsyncBackup, ExitZeroMakesSnapshotAndLatest) {
  fs::path argv_log = m_tmp / "argv.log";
  auto r = backup({{"FAKE_RSYNC_EXIT", "0"}, {"FAKE_RSYNC_ARGV_LOG", argv_log.string()}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto now = ids();
  ASSERT_EQ(now.size(), 1U);
  // The fake copied nothing: the renamed-into-place work folder is an empty snapshot.
  EXPECT_TRUE(fs::is_empty(preset_dir() / now[0]));
  EXPECT_EQ(latest(), std::optional<std::string>(now[0]));
  EXPECT_NE(r.out.find(now[0]), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(preset_dir() / ".snapkeep" / "partial"));
  // What rsync was given: options, then --, then the source and the work folder.
  std::string log = test::read_file(argv_log);
  std::string expected_tail =
      "--\n" + m_source.string() + "/\n" + (preset_dir() / ".snapkeep" / "partial").string() + "/\n";
  ASSERT_GE(log.size(), expected_tail.size());
  EXPECT_EQ(log.substr(log.size() - expected_tail.size()), expected_tail) << log;
  EXPECT_NE(log.find("-aHAX\n"), std::string::npos) << log;
}

TEST_F(FakeRsyncBackup, ExitZeroKeepsWhatRsyncWroteAndReportsItsStats) {
  auto r =
      backup({{"FAKE_RSYNC_EXIT", "0"}, {"FAKE_RSYNC_CREATE", "copied.txt"}, {"FAKE_RSYNC_STATS", "1"}}, {"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto now = ids();
  ASSERT_EQ(now.size(), 1U);
  EXPECT_EQ(test::read_file(preset_dir() / now[0] / "copied.txt"), "copied by fake rsync\n");
  auto json = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << r.out;
  const auto& preset = json["presets"][0];
  EXPECT_EQ(preset["name"], "home");
  EXPECT_EQ(preset["status"], "ok");
  EXPECT_EQ(preset["snapshot"], now[0]);
  EXPECT_EQ(preset["backend"], "rsync");
  EXPECT_EQ(preset["files"], 1234);
  EXPECT_EQ(preset["bytes_transferred"], 45678);
}

TEST_F(FakeRsyncBackup, SecondBackupLinksAgainstThePrevious) {
  std::string first = first_snapshot();
  fs::path argv_log = m_tmp / "argv.log";
  auto r = backup({{"FAKE_RSYNC_EXIT", "0"}, {"FAKE_RSYNC_ARGV_LOG", argv_log.string()}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(test::read_file(argv_log).find("--link-dest=" + (preset_dir() / first).string() + "\n"), std::string::npos)
      << test::read_file(argv_log);
  auto now = ids();
  ASSERT_EQ(now.size(), 2U);
  EXPECT_EQ(latest(), std::optional<std::string>(now.back()));
}

TEST_F(FakeRsyncBackup, PartialTransferFailsAndChangesNothing) {
  std::string first = first_snapshot();
  auto r = backup({{"FAKE_RSYNC_EXIT", "23"}, {"FAKE_RSYNC_CREATE", "half.txt"}});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("23"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("partial transfer"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("send_files failed to open \"/src/secret\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("home"), std::string::npos) << r.err;
  EXPECT_EQ(ids(), std::vector<std::string>{first});
  EXPECT_EQ(latest(), std::optional<std::string>(first));
  EXPECT_EQ(records(), std::vector<std::string>{first}) << "the failed id's record is dropped";
}

TEST_F(FakeRsyncBackup, PartialTransferOnFirstRunLeavesNoSnapshotAndNoLatest) {
  auto r = backup({{"FAKE_RSYNC_EXIT", "23"}});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(ids().empty());
  EXPECT_FALSE(latest().has_value());
  EXPECT_TRUE(records().empty());
}

TEST_F(FakeRsyncBackup, InterruptedWorkIsResumedAsExtraLinkBaseNeverAsSnapshot) {
  std::string first = first_snapshot();
  ASSERT_EQ(backup({{"FAKE_RSYNC_EXIT", "23"}, {"FAKE_RSYNC_CREATE", "half.txt"}}).exit_code, 1);
  fs::path argv_log = m_tmp / "argv.log";
  auto r = backup({{"FAKE_RSYNC_EXIT", "0"}, {"FAKE_RSYNC_ARGV_LOG", argv_log.string()}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string log = test::read_file(argv_log);
  std::size_t previous = log.find("--link-dest=" + (preset_dir() / first).string() + "\n");
  std::size_t resume = log.find("--link-dest=" + (preset_dir() / ".snapkeep" / "resume-1").string() + "\n");
  EXPECT_NE(previous, std::string::npos) << log;
  EXPECT_NE(resume, std::string::npos) << log;
  EXPECT_LT(previous, resume) << "the previous complete snapshot is the first link base";
  auto now = ids();
  ASSERT_EQ(now.size(), 2U);
  EXPECT_FALSE(fs::exists(preset_dir() / now.back() / "half.txt")) << "half-done work became a snapshot";
  EXPECT_FALSE(fs::exists(preset_dir() / ".snapkeep" / "resume-1")) << "resumed work is removed after success";
}

TEST_F(FakeRsyncBackup, PartialTransferAllowedGivesSnapshotAndWarning) {
  write_config("allow_partial = yes\n");
  auto r = backup({{"FAKE_RSYNC_EXIT", "23"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warn"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("23"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("send_files failed"), std::string::npos) << r.err;
  auto now = ids();
  ASSERT_EQ(now.size(), 1U);
  EXPECT_EQ(latest(), std::optional<std::string>(now[0]));
}

TEST_F(FakeRsyncBackup, VanishedFilesGiveSnapshotAndWarning) {
  auto r = backup({{"FAKE_RSYNC_EXIT", "24"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warn"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("vanished"), std::string::npos) << r.err;
  auto now = ids();
  ASSERT_EQ(now.size(), 1U);
  EXPECT_EQ(latest(), std::optional<std::string>(now[0]));
}

TEST_F(FakeRsyncBackup, ProtocolErrorFails) {
  std::string first = first_snapshot();
  auto r = backup({{"FAKE_RSYNC_EXIT", "12"}});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("12"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("protocol data stream"), std::string::npos) << r.err;
  EXPECT_EQ(ids(), std::vector<std::string>{first});
  EXPECT_EQ(latest(), std::optional<std::string>(first));
}

TEST_F(FakeRsyncBackup, RsyncKilledBySignalFails) {
  std::string first = first_snapshot();
  auto r = backup({{"FAKE_RSYNC_SIGNAL", "KILL"}, {"FAKE_RSYNC_CREATE", "half.txt"}});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("signal 9"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("send_files failed"), std::string::npos) << r.err;
  EXPECT_EQ(ids(), std::vector<std::string>{first});
  EXPECT_EQ(latest(), std::optional<std::string>(first));
  EXPECT_EQ(records(), std::vector<std::string>{first});
}

TEST_F(FakeRsyncBackup, FailureIsReportedInJson) {
  auto r = backup({{"FAKE_RSYNC_EXIT", "23"}}, {"--json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto json = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << r.out;
  const auto& preset = json["presets"][0];
  EXPECT_EQ(preset["name"], "home");
  EXPECT_EQ(preset["status"], "failed");
  ASSERT_TRUE(preset["error"].is_string());
  EXPECT_NE(preset["error"].get<std::string>().find("partial transfer"), std::string::npos) << preset["error"];
}

TEST_F(FakeRsyncBackup, SecondRunWhileFirstHoldsTheLockExitsThree) {
  fs::path started = m_tmp / "started";
  test::RunResult first;
  std::thread holder([&] {
    first = backup({{"FAKE_RSYNC_EXIT", "0"}, {"FAKE_RSYNC_SLEEP", "3"}, {"FAKE_RSYNC_STARTED", started.string()}});
  });
  for (int i = 0; i < 200 && !fs::exists(started); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(fs::exists(started)) << "the first run never started rsync";
  auto second = backup({{"FAKE_RSYNC_EXIT", "0"}}, {"--json"});
  holder.join();
  EXPECT_EQ(second.exit_code, 3) << second.err;
  EXPECT_NE(second.err.find("pid "), std::string::npos) << second.err;
  auto json = nlohmann::json::parse(second.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << second.out;
  EXPECT_EQ(json["presets"][0]["status"], "failed");
  EXPECT_EQ(json["presets"][0]["locked"], true);
  EXPECT_EQ(first.exit_code, 0) << first.err;
  auto now = ids();
  ASSERT_EQ(now.size(), 1U);
  EXPECT_EQ(latest(), std::optional<std::string>(now[0]));
}

TEST_F(FakeRsyncBackup, LatestThatIsARealFolderIsNeverTouched) {
  fs::create_directories(preset_dir() / "latest");
  test::write_file(preset_dir() / "latest" / "mine.txt", "user data");
  auto r = backup({{"FAKE_RSYNC_EXIT", "0"}});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("latest"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("error: home: "), std::string::npos) << "the error names the preset (SPEC 2):\n" << r.err;
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(preset_dir() / "latest")));
  EXPECT_EQ(test::read_file(preset_dir() / "latest" / "mine.txt"), "user data");
  // Refused up front: no snapshot that `latest` could never point at (SPEC 4.2), no copying for nothing.
  EXPECT_TRUE(ids().empty()) << "a snapshot was made by a run that then reported failure";
}

TEST_F(FakeRsyncBackup, ManyInterruptedRunsNeverExceedRsyncsTwentyLinkDests) {
  std::string first = first_snapshot();
  fs::path state = preset_dir() / ".snapkeep";
  for (int i = 1; i <= 25; ++i) {
    fs::create_directories(state / ("resume-" + std::to_string(i)));
  }
  fs::create_directories(state / "partial");  // the newest interrupted work
  fs::path argv_log = m_tmp / "argv.log";
  auto r = backup({{"FAKE_RSYNC_EXIT", "0"}, {"FAKE_RSYNC_ARGV_LOG", argv_log.string()}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string log = test::read_file(argv_log);
  std::size_t link_dests = 0;
  for (std::size_t pos = log.find("--link-dest="); pos != std::string::npos; pos = log.find("--link-dest=", pos + 1)) {
    ++link_dests;
  }
  EXPECT_LE(link_dests, 20U) << log;
  EXPECT_NE(log.find("--link-dest=" + (preset_dir() / first).string() + "\n"), std::string::npos) << log;
  EXPECT_NE(log.find("--link-dest=" + (state / "resume-26").string() + "\n"), std::string::npos)
      << "the newest interrupted work is offered\n"
      << log;
  for (const auto& entry : fs::directory_iterator(state)) {
    EXPECT_NE(entry.path().filename().string().rfind("resume-", 0), 0U) << entry.path() << " left behind";
  }
}

TEST_F(FakeRsyncBackup, DryRunChangesNothing) {
  first_snapshot();
  fs::path argv_log = m_tmp / "argv.log";
  std::vector<std::string> args{"-c", (m_tmp / "snapkeep.conf").string(), "backup", "--dry-run"};
  const char* path = std::getenv("PATH");
  std::vector<std::string> before = ids();
  auto records_before = records();
  auto dry = test::snapkeep(args, {{"PATH", fakes_dir().string() + ":" + (path != nullptr ? path : "/usr/bin:/bin")},
                                   {"FAKE_RSYNC_EXIT", "0"},
                                   {"FAKE_RSYNC_ARGV_LOG", argv_log.string()}});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  // --dry-run must be there: the dry run may point rsync at a real snapshot.
  std::string log = test::read_file(argv_log);
  std::size_t dry_flag = log.find("\n--dry-run\n");
  ASSERT_NE(dry_flag, std::string::npos) << log;
  EXPECT_LT(dry_flag, log.find("\n--\n")) << log;
  EXPECT_EQ(ids(), before) << "the dry run made a snapshot";
  EXPECT_EQ(latest(), std::optional<std::string>(before.back()));
  EXPECT_EQ(records(), records_before);
  EXPECT_FALSE(fs::exists(preset_dir() / ".snapkeep" / "partial"));
}

TEST_F(FakeRsyncBackup, MissingRsyncIsAClearError) {
  TempDir empty_path;
  std::vector<std::string> args{"-c", (m_tmp / "snapkeep.conf").string(), "backup"};
  auto r = test::snapkeep(args, {{"PATH", empty_path.path().string()}});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("rsync"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
  EXPECT_TRUE(ids().empty());
}

}  // namespace
}  // namespace snapkeep
