// Unit tests for remote presets in core/config (URLs parsed before path resolution, the keys
// ssh_identity, known_hosts, remote_command, bwlimit, compress) and the rsync argv of remote transfers.

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "backends/registry.hpp"
#include "core/config/config.hpp"
#include "core/config/ini.hpp"
#include "core/transfer/rsync.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;

const fs::path k_file = "/etc/snapkeep/a.conf";

Result<Config> build(std::string_view text) {
  IniDocument doc;
  auto status = parse_ini(text, k_file, doc);
  if (!status) {
    return std::move(status).error();
  }
  return build_config(doc, config_schema());
}

Preset only_preset(std::string_view text) {
  auto config = build(text);
  EXPECT_TRUE(config.ok()) << config.error().message;
  return config.ok() && config->presets.size() == 1 ? config->presets[0] : Preset{};
}

std::string error_of(std::string_view text) {
  auto config = build(text);
  if (config.ok()) {
    return "";
  }
  EXPECT_EQ(config.error().kind, ErrorKind::config);
  return config.error().message;
}

TEST(RemoteConfig, RemoteSourceIsParsedNotResolvedAgainstTheConfigFolder) {
  const Preset p = only_preset("[laptop]\nsource = alice@laptop:/home/alice\ndestination = /mnt/backup\n");
  ASSERT_TRUE(p.remote_source);
  EXPECT_FALSE(p.remote_destination);
  EXPECT_EQ(p.remote_source->user, "alice");
  EXPECT_EQ(p.remote_source->host, "laptop");
  EXPECT_EQ(p.source, "/home/alice");  // not /etc/snapkeep/alice@laptop:/home/alice
  EXPECT_EQ(p.remote.remote_command, (std::vector<std::string>{"snapkeep", "serve"}));
  EXPECT_FALSE(p.remote.compress);
  EXPECT_FALSE(p.remote.bwlimit_kib);
  EXPECT_FALSE(p.remote.identity);
}

TEST(RemoteConfig, KnownHostsDefaultsToSnapkeepsStateFolder) {
  {
    test::ScopedEnv unset("SNAPKEEP_STATE_DIR", "");  // empty: the default
    const Preset p = only_preset("[a]\nsource = /home\ndestination = ssh://nas:2222/srv/backup\n");
    EXPECT_EQ(p.remote.known_hosts, "/var/lib/snapkeep/known_hosts");
  }
  test::ScopedEnv moved("SNAPKEEP_STATE_DIR", "/tmp/state");
  const Preset q = only_preset("[a]\nsource = /home\ndestination = ssh://nas:2222/srv/backup\n");
  EXPECT_EQ(q.remote.known_hosts, "/tmp/state/known_hosts");
  ASSERT_TRUE(q.remote_destination);
  EXPECT_EQ(*q.remote_destination->port, 2222);
  EXPECT_EQ(q.destination, "/srv/backup");
  EXPECT_EQ(q.preset_dir(), "/srv/backup/a");
}

TEST(RemoteConfig, EveryRemoteKeyIsParsed) {
  const Preset p = only_preset(
      "[a]\nsource = nas:/data\ndestination = /mnt/b\nssh_identity = keys/id_ed25519\nknown_hosts = /etc/sk/kh\n"
      "remote_command = /opt/snapkeep/bin/snapkeep serve\nbwlimit = 5M\ncompress = yes\n");
  EXPECT_EQ(*p.remote.identity, "/etc/snapkeep/keys/id_ed25519");  // relative to the config file
  EXPECT_EQ(p.remote.known_hosts, "/etc/sk/kh");
  EXPECT_EQ(p.remote.remote_command, (std::vector<std::string>{"/opt/snapkeep/bin/snapkeep", "serve"}));
  EXPECT_EQ(*p.remote.bwlimit_kib, 5u * 1024);
  EXPECT_TRUE(p.remote.compress);
  EXPECT_EQ(*only_preset("[a]\nsource = nas:/d\ndestination = /m\nbwlimit = 500K/s\n").remote.bwlimit_kib, 500u);
}

TEST(RemoteConfig, BadRemoteValuesPointAtTheirLine) {
  const std::string head = "[a]\nsource = /home\ndestination = /mnt\n";
  EXPECT_EQ(error_of("[a]\nsource = nas:relative\ndestination = /mnt\n"),
            "/etc/snapkeep/a.conf:2: 'source' in preset 'a': remote location 'nas:relative': the path after the "
            "host must be absolute (start with '/')");
  EXPECT_NE(error_of("[a]\nsource = /home\ndestination = -oProxyCommand=x:/m\n").find("a.conf:3: 'destination'"),
            std::string::npos);
  EXPECT_NE(error_of("[a]\nsource = h:/a/../../etc\ndestination = /m\n").find("'..'"), std::string::npos);
  EXPECT_NE(error_of(head + "remote_command = snapkeep serve; reboot\n").find("a.conf:4: 'remote_command'"),
            std::string::npos);
  EXPECT_NE(error_of(head + "bwlimit = fast\n").find("a.conf:4: 'bwlimit'"), std::string::npos);
  EXPECT_NE(error_of(head + "bwlimit = 100\n").find("at least 1K"), std::string::npos);
  EXPECT_NE(error_of(head + "compress = maybe\n").find("a.conf:4: 'compress'"), std::string::npos);
  EXPECT_NE(error_of(head + "ssh_identity = /k\"ey\n").find("a.conf:4: 'ssh_identity'"), std::string::npos);
  EXPECT_NE(error_of(head + "known_hosts = /a${X}\n").find("cannot be given to ssh"), std::string::npos);
  EXPECT_NE(error_of("[a]\nsource = h:/a\ndestination = g:/b\n").find("both remote"), std::string::npos);
  EXPECT_NE(error_of("[a]\nsource = h:/a\ndestination = /b\nexclude_if_present = .nobackup\n")
                .find("remote backups copy with rsync"),
            std::string::npos);
}

TEST(RemoteConfig, LocalPathWithAColonStaysLocal) {
  const Preset p = only_preset("[a]\nsource = ./data:2024\ndestination = /mnt/b\n");
  EXPECT_FALSE(p.remote_source);
  EXPECT_EQ(p.source, "/etc/snapkeep/data:2024");
}

TEST(RemoteRsync, PullArgvHasSshAsRshAndTheHostBeforeThePath) {
  const Preset p = only_preset(
      "[a]\nsource = ssh://alice@laptop:2222/home/alice\ndestination = /mnt/b\nknown_hosts = /var/kh dir/kh\n"
      "bwlimit = 1M\ncompress = yes\n");
  RsyncTransfer t;
  t.source = p.source;
  t.target = "/mnt/b/a/.snapkeep/partial";
  t.remote_source = rsync_remote_end(p, *p.remote_source);
  const auto argv = rsync_argv(p, t, false);
  const auto dashdash = std::find(argv.begin(), argv.end(), "--");
  ASSERT_NE(dashdash, argv.end());
  EXPECT_EQ(*(dashdash + 1), "laptop:/home/alice/");
  EXPECT_EQ(*(dashdash + 2), "/mnt/b/a/.snapkeep/partial/");
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--compress"), argv.end());
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--bwlimit=1024"), argv.end());
  std::string rsh;
  for (const auto& a : argv) {
    if (a.starts_with("--rsh=")) {
      rsh = a.substr(6);
    }
  }
  EXPECT_TRUE(rsh.starts_with("ssh -T -o BatchMode=yes -o StrictHostKeyChecking=yes")) << rsh;
  EXPECT_NE(rsh.find("'UserKnownHostsFile=\"/var/kh dir/kh\"'"), std::string::npos) << rsh;
  EXPECT_NE(rsh.find("-p 2222 -l alice"), std::string::npos) << rsh;
}

TEST(RemoteRsync, RshValueQuotesAsRsyncSplitsIt) {
  EXPECT_EQ(rsync_rsh_value({"ssh", "-p", "22"}), "ssh -p 22");
  EXPECT_EQ(rsync_rsh_value({"/opt/my tools/snapkeep", "it's", ""}), "'/opt/my tools/snapkeep' 'it''s' ''");
  EXPECT_EQ(rsync_rsh_value({"a\"b"}), "'a\"b'");
}

// The server argv rsync itself sends for rsync_argv's options, captured through a fake rsh.
std::vector<std::string> what_rsync_sends(const Preset& preset, RsyncTransfer transfer, const fs::path& dir) {
  const fs::path script = dir / "fake-rsh";
  const fs::path out = dir / "args";
  test::write_file(script, "#!/bin/sh\nprintf '%s\\n' \"$@\" > '" + out.string() + "'\nexit 1\n");
  fs::permissions(script, fs::perms::owner_all);
  RsyncRemoteEnd end;
  end.rsh = {script.string()};
  end.host = "snapkeep-client";
  (transfer.remote_source ? transfer.remote_source : transfer.remote_target) = end;
  test::run(rsync_argv(preset, transfer, false));
  std::vector<std::string> words;
  std::string text = test::read_file(out);
  for (std::size_t pos = 0; pos < text.size();) {
    const auto end_of_line = text.find('\n', pos);
    words.push_back(text.substr(pos, end_of_line - pos));
    pos = end_of_line + 1;
  }
  // host, "rsync", then the server's words.
  return std::vector<std::string>(words.begin() + 2, words.end());
}

TEST(RemoteRsync, ServerArgvMatchesWhatRsyncSendsForEachRole) {
  test::TempDir dir;
  fs::create_directories(dir / "src");
  fs::create_directories(dir / "dst");
  for (int variant = 0; variant < 32; ++variant) {
    const bool fs_once = (variant & 1) != 0;
    const bool compress = (variant & 2) != 0;
    const bool dry = (variant & 4) != 0;
    const bool in_place = (variant & 8) != 0;  // a btrfs server's working copy
    const bool fresh = (variant & 16) != 0;    // ... made new: --sparse too
    Preset p = only_preset(std::string("[a]\nsource = h:/s\ndestination = /d\nbwlimit = 2M\n") +
                           (fs_once ? "one_file_system = yes\n" : "") + (compress ? "compress = yes\n" : ""));
    // Push: serve's rsync pulls from the client's rsync --server --sender.
    RsyncTransfer pull;
    pull.source = "/";
    pull.target = dir / "dst";
    pull.dry_run = dry;
    pull.exact_mtimes = true;
    pull.in_place = in_place;
    pull.fresh_target = fresh;
    pull.remote_source = RsyncRemoteEnd{};
    const auto sent = what_rsync_sends(p, pull, dir.path());
    RsyncServerRole sender;
    sender.sender = true;
    sender.in_place = in_place;
    sender.sparse = !in_place || fresh;
    sender.dry_run = dry;
    sender.one_file_system = fs_once;
    sender.compress = compress;
    sender.bwlimit_kib = 2048;
    sender.capabilities = rsync_server_capabilities(sent);
    sender.path = "/src";
    const auto ours = rsync_server_argv(sender);
    EXPECT_EQ(rsync_server_options(std::vector<std::string>(ours.begin() + 1, ours.end())), rsync_server_options(sent))
        << "variant " << variant;
    EXPECT_EQ(ours.back(), "/src/");
    EXPECT_EQ(ours[ours.size() - 2], ".");
    EXPECT_FALSE(sender.capabilities.empty());

    // Restore: serve's rsync pushes a snapshot into the client's rsync --server.
    RsyncTransfer push;
    push.source = dir / "src";
    push.target = "/";
    push.mirror = false;
    push.exact_mtimes = fs_once;  // both ways
    push.remote_target = RsyncRemoteEnd{};
    const auto sent_restore = what_rsync_sends(p, push, dir.path());
    RsyncServerRole receiver;
    receiver.compress = compress;
    receiver.exact_mtimes = fs_once;
    receiver.bwlimit_kib = 2048;
    receiver.capabilities = rsync_server_capabilities(sent_restore);
    receiver.path = "/restore";
    const auto ours_restore = rsync_server_argv(receiver);
    EXPECT_EQ(rsync_server_options(std::vector<std::string>(ours_restore.begin() + 1, ours_restore.end())),
              rsync_server_options(sent_restore))
        << "variant " << variant;
  }
}

TEST(RemoteRsync, ServerOptionsNormaliseSpellings) {
  EXPECT_EQ(rsync_server_options({"--server", "-nlHe.iLs", "-@-1", "--stats", "--numeric-ids", ".", "/x/"}),
            (std::set<std::string>{"-n", "-l", "-H", "--modify-window=-1", "--numeric-ids"}));
  EXPECT_EQ(rsync_server_capabilities({"--server", "--sender", "-lHogDtpAXrSe.iLsfxCIvu", "."}), "iLsfxCIvu");
  EXPECT_EQ(rsync_server_capabilities({"--server", "-lr"}), "");
}

}  // namespace
}  // namespace snapkeep
