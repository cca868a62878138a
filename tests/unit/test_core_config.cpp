// Unit tests for core/config: presets built from INI documents, every key, every rule and its message.

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "backends/registry.hpp"
#include "core/config/config.hpp"
#include "core/config/ini.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;

const fs::path k_file = "/etc/snapkeep/a.conf";
const std::string k_at = "/etc/snapkeep/a.conf:";

// parse_ini + build_config of one text read as k_file.
Result<Config> build(std::string_view text) {
  IniDocument doc;
  auto status = parse_ini(text, k_file, doc);
  if (!status) {
    return std::move(status).error();
  }
  return build_config(doc, config_schema());
}

// The single preset of `text`; fails the test on error.
Preset only_preset(std::string_view text) {
  auto config = build(text);
  EXPECT_TRUE(config.ok()) << config.error().message;
  if (!config.ok() || config->presets.size() != 1) {
    ADD_FAILURE() << "expected exactly one preset";
    return {};
  }
  return config->presets[0];
}

// The error message for `text`, "" when it is valid.
std::string error_of(std::string_view text) {
  auto config = build(text);
  if (config.ok()) {
    return "";
  }
  EXPECT_EQ(config.error().kind, ErrorKind::config);
  return config.error().message;
}

const std::string k_minimal = "[home]\nsource = /home/user\ndestination = /mnt/backup\n";

TEST(CoreConfig, MinimalPresetGetsTheDefaults) {
  const Preset p = only_preset(k_minimal);
  EXPECT_EQ(p.name, "home");
  EXPECT_EQ(p.source, "/home/user");
  EXPECT_EQ(p.destination, "/mnt/backup");
  EXPECT_EQ(p.preset_dir(), "/mnt/backup/home");
  EXPECT_EQ(p.backend, "auto");
  EXPECT_TRUE(p.keep.rules.empty());
  EXPECT_FALSE(p.min_free.has_value());
  EXPECT_TRUE(p.exclude.empty());
  EXPECT_FALSE(p.exclude_from.has_value());
  EXPECT_FALSE(p.one_file_system);
  EXPECT_EQ(p.checksum, ChecksumKind::xxh128);
  EXPECT_FALSE(p.snapshot_dir.has_value());
  EXPECT_FALSE(p.allow_empty_source);
  EXPECT_FALSE(p.allow_partial);
  EXPECT_EQ(p.origin, k_at + "1");
}

TEST(CoreConfig, EveryKeyIsParsed) {
  const Preset p = only_preset(
      "[data]\nsource: /srv/data\ndestination = /mnt/b\nbackend = btrfs\nkeep = 3 24h *y\nmin_free = 50G\n"
      "exclude = *.tmp\nexclude_from = /etc/snapkeep/data.exclude\none_file_system = yes\nchecksum = sha256\n"
      "snapshot_dir = /srv/.snapshots\nallow_empty_source = true\nallow_partial = on\n");
  EXPECT_EQ(p.source, "/srv/data");
  EXPECT_EQ(p.backend, "btrfs");
  ASSERT_EQ(p.keep.rules.size(), 3U);
  EXPECT_EQ(p.keep.text, "3 24h *y");
  ASSERT_TRUE(p.min_free.has_value());
  EXPECT_EQ(p.min_free->bytes, 50ULL << 30);
  EXPECT_EQ(p.exclude, std::vector<std::string>{"*.tmp"});
  EXPECT_EQ(p.exclude_from, fs::path("/etc/snapkeep/data.exclude"));
  EXPECT_TRUE(p.one_file_system);
  EXPECT_EQ(p.checksum, ChecksumKind::sha256);
  EXPECT_EQ(p.snapshot_dir, fs::path("/srv/.snapshots"));
  EXPECT_TRUE(p.allow_empty_source);
  EXPECT_TRUE(p.allow_partial);
  EXPECT_EQ(only_preset(k_minimal + "checksum = none\nbackend = rsync\n").checksum, ChecksumKind::none);
  EXPECT_DOUBLE_EQ(only_preset(k_minimal + "min_free = 10%\n").min_free->percent, 10.0);
  EXPECT_DOUBLE_EQ(only_preset(k_minimal + "min_free = 2.5%%\n").min_free->percent, 2.5);
}

TEST(CoreConfig, DefaultSuppliesValuesAndPresetsOverrideThem) {
  auto config = build(
      "[DEFAULT]\ndestination = /mnt/backup\nkeep = 7d\none_file_system = yes\n"
      "[home]\nsource = /home\n[srv]\nsource = /srv\ndestination = /media/other\nkeep = 3\n");
  ASSERT_TRUE(config.ok()) << config.error().message;
  ASSERT_EQ(config->presets.size(), 2U);
  const Preset& home = config->presets[0];
  const Preset& root = config->presets[1];
  EXPECT_EQ(home.destination, "/mnt/backup");
  EXPECT_EQ(home.keep.text, "7d");
  EXPECT_TRUE(home.one_file_system);
  EXPECT_EQ(root.name, "srv");
  EXPECT_EQ(root.source, "/srv");
  EXPECT_EQ(root.destination, "/media/other");
  EXPECT_EQ(root.keep.text, "3");
  EXPECT_TRUE(root.one_file_system);
  EXPECT_EQ(config->files, std::vector<fs::path>{k_file});
}

TEST(CoreConfig, EmptyOptionalValueClearsTheDefault) {
  const Preset p = only_preset("[DEFAULT]\nmin_free = 10%\nkeep = 3\n" + k_minimal + "min_free =\nkeep =\n");
  EXPECT_FALSE(p.min_free.has_value());
  EXPECT_TRUE(p.keep.rules.empty());
}

TEST(CoreConfig, ExcludeIsOnePatternPerNonEmptyLine) {
  const Preset p = only_preset(k_minimal + "exclude = *.tmp\n  .cache/\n\n  /lost+found\nkeep = 3\n");
  EXPECT_EQ(p.exclude, (std::vector<std::string>{"*.tmp", ".cache/", "/lost+found"}));
  const Preset q = only_preset(k_minimal + "exclude =\n  # a comment\n  a\n  b\n");
  EXPECT_EQ(q.exclude, (std::vector<std::string>{"a", "b"}));
}

TEST(CoreConfig, PullIsRsyncByDefaultAndBtrfsSendNeedsAWholeRemoteSubvolume) {
  const std::string remote = "[home]\nsource = root@nas:/srv/data\ndestination = /mnt/backup\n";
  EXPECT_EQ(only_preset(remote).pull, PullMethod::rsync);
  EXPECT_EQ(only_preset(remote + "pull = btrfs-send\n").pull, PullMethod::btrfs_send);
  EXPECT_NE(error_of(remote + "pull = zfs\n").find("unknown pull 'zfs' in preset 'home' (use rsync or btrfs-send)"),
            std::string::npos);
  EXPECT_NE(error_of(k_minimal + "pull = btrfs-send\n").find("needs a source on another host"), std::string::npos);
  EXPECT_NE(error_of(remote + "pull = btrfs-send\nexclude = *.tmp\n").find("sends the whole subvolume"),
            std::string::npos);
}

TEST(CoreConfig, TransferIsNativeByDefaultOrRsync) {
  EXPECT_EQ(only_preset(k_minimal).transfer, TransferEngine::native);
  EXPECT_EQ(only_preset(k_minimal + "transfer = rsync\n").transfer, TransferEngine::rsync);
  EXPECT_EQ(only_preset(k_minimal + "transfer = native\n").transfer, TransferEngine::native);
  EXPECT_EQ(error_of(k_minimal + "transfer = cp\n"),
            "/etc/snapkeep/a.conf:4: unknown transfer 'cp' in preset 'home' (use native or rsync)");
}

TEST(CoreConfig, ExcludeIfPresentIsOneNamePerLine) {
  const Preset p = only_preset(k_minimal + "exclude_if_present = CACHEDIR.TAG\n  .nobackup\n\n");
  EXPECT_EQ(p.exclude_if_present, (std::vector<std::string>{"CACHEDIR.TAG", ".nobackup"}));
  EXPECT_TRUE(only_preset(k_minimal).exclude_if_present.empty());
  EXPECT_EQ(
      error_of(k_minimal + "exclude_if_present = a/b\n"),
      "/etc/snapkeep/a.conf:4: 'exclude_if_present' in preset 'home': 'a/b' is not a file name (one name per line, "
      "without '/')");
  EXPECT_EQ(
      error_of(k_minimal + "exclude_if_present = ..\n"),
      "/etc/snapkeep/a.conf:4: 'exclude_if_present' in preset 'home': '..' is not a file name (one name per line, "
      "without '/')");
  EXPECT_EQ(error_of(k_minimal + "transfer = rsync\nexclude_if_present = CACHEDIR.TAG\n"),
            "/etc/snapkeep/a.conf:5: 'exclude_if_present' in preset 'home' needs transfer = native (rsync has no such "
            "option)");
}

TEST(CoreConfig, PathsAreNormalisedAndRelativeOnesUseTheFileFolder) {
  const Preset p = only_preset(
      "[home]\nsource = /home/./user/../user/\ndestination = ../backup//x/\nexclude_from = ex.txt\n"
      "snapshot_dir = snaps/\n");
  EXPECT_EQ(p.source, "/home/user");
  EXPECT_EQ(p.destination, "/etc/backup/x");
  EXPECT_EQ(p.exclude_from, fs::path("/etc/snapkeep/ex.txt"));
  EXPECT_EQ(p.snapshot_dir, fs::path("/etc/snapkeep/snaps"));
}

TEST(CoreConfig, TwoFilesOverridePerKeyAndResolvePathsPerFile) {
  test::TempDir dir;
  fs::create_directories(dir / "one");
  fs::create_directories(dir / "two");
  test::write_file(dir / "one/a.conf",
                   "[DEFAULT]\ndestination = backups\n[home]\nsource = src\nkeep = 3\nchecksum = sha256\n");
  test::write_file(dir / "two/b.conf", "[home]\nkeep = 5\nexclude_from = ex.txt\n[extra]\nsource = data\n");
  auto config = load_config({dir / "one/a.conf", dir / "two/b.conf"}, config_schema());
  ASSERT_TRUE(config.ok()) << config.error().message;
  ASSERT_EQ(config->presets.size(), 2U);
  const Preset& home = config->presets[0];
  EXPECT_EQ(home.source, dir / "one/src");
  EXPECT_EQ(home.destination, dir / "one/backups");  // DEFAULT written in one/a.conf
  EXPECT_EQ(home.keep.text, "5");
  EXPECT_EQ(home.checksum, ChecksumKind::sha256);
  EXPECT_EQ(home.exclude_from, dir / "two/ex.txt");
  EXPECT_EQ(home.origin, (dir / "one/a.conf").string() + ":3");
  const Preset& extra = config->presets[1];
  EXPECT_EQ(extra.source, dir / "two/data");
  EXPECT_EQ(extra.destination, dir / "one/backups");
  EXPECT_EQ(extra.origin, (dir / "two/b.conf").string() + ":4");
  EXPECT_EQ(config->files, (std::vector<fs::path>{dir / "one/a.conf", dir / "two/b.conf"}));
}

TEST(CoreConfig, LoadConfigErrors) {
  test::TempDir dir;
  auto missing = load_config({dir / "nope.conf"}, config_schema());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::config);
  EXPECT_EQ(missing.error().path, dir / "nope.conf");

  test::write_file(dir / "a.conf", "# nothing yet\n[DEFAULT]\nkeep = 3\n");
  test::write_file(dir / "b.conf", "");
  auto empty = load_config({dir / "a.conf", dir / "b.conf"}, config_schema());
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message, "no presets defined in " + (dir / "a.conf").string() + ", " +
                                       (dir / "b.conf").string() +
                                       " (add a [name] section with source and destination)");
  EXPECT_EQ(empty.error().kind, ErrorKind::config);
}

TEST(CoreConfig, UnknownKeySuggestsTheClosestKnownOne) {
  EXPECT_EQ(error_of(k_minimal + "destinaton = /x\n"),
            k_at + "4: unknown key 'destinaton' in preset 'home' (did you mean 'destination'?)");
  EXPECT_EQ(error_of(k_minimal + "exclude-from = x\n"),
            k_at + "4: unknown key 'exclude-from' in preset 'home' (did you mean 'exclude_from'?)");
  EXPECT_EQ(error_of(k_minimal + "\ncolour = blue\n"), k_at + "5: unknown key 'colour' in preset 'home'");
  EXPECT_EQ(error_of("[DEFAULT]\nkepe = 3\n" + k_minimal),
            k_at + "2: unknown key 'kepe' in [DEFAULT] (did you mean 'keep'?)");
}

TEST(CoreConfig, MissingSourceOrDestinationPointsAtTheHeader) {
  EXPECT_EQ(error_of("[home]\nsource = /a\n\n[work]\ndestination = /b\n"),
            k_at + "1: preset 'home' has no 'destination'");
  EXPECT_EQ(error_of("[DEFAULT]\ndestination = /b\n\n[work]\nkeep = 1\n"), k_at + "4: preset 'work' has no 'source'");
}

TEST(CoreConfig, EmptySourceOrDestinationPointsAtItsLine) {
  EXPECT_EQ(error_of("[home]\nsource =\ndestination = /b\n"), k_at + "2: 'source' is empty in preset 'home'");
  EXPECT_EQ(error_of("[home]\nsource = /a\ndestination:\n"), k_at + "3: 'destination' is empty in preset 'home'");
}

TEST(CoreConfig, MultiLineOrTildePathIsRejected) {
  EXPECT_EQ(error_of("[home]\nsource = /a\n  /b\ndestination = /c\n"),
            k_at + "2: 'source' must be a single path on one line");
  EXPECT_EQ(error_of("[home]\nsource = ~/docs\ndestination = /c\n"),
            k_at + "2: 'source' starts with '~', which is not expanded: write the full path");
}

TEST(CoreConfig, BadValuesPointAtTheirLine) {
  EXPECT_EQ(error_of(k_minimal + "backend = zfs\n"),
            k_at + "4: unknown backend 'zfs' in preset 'home' (use auto, rsync or btrfs)");
  EXPECT_EQ(error_of(k_minimal + "checksum = md5\n"),
            k_at + "4: unknown checksum 'md5' in preset 'home' (use xxh128, sha256 or none)");
  EXPECT_EQ(
      error_of(k_minimal + "one_file_system = sometimes\n"),
      k_at +
          "4: 'one_file_system' in preset 'home': not a boolean: 'sometimes' (use yes/no, true/false, on/off or 1/0)");
  EXPECT_EQ(
      error_of(k_minimal + "keep = 3 24h 5x\n"),
      k_at + "4: 'keep' in preset 'home': bad retention rule '5x': use N, Nh, Nd, Nw, Nm, Ny or *h, *d, *w, *m, *y");
  EXPECT_EQ(
      error_of(k_minimal + "min_free = 101%%\n"),
      k_at + "4: 'min_free' in preset 'home': bad size '101%': a percentage must be more than 0% and at most 100%");
  EXPECT_EQ(error_of(k_minimal + "min_free = lots\n"), k_at +
                                                           "4: 'min_free' in preset 'home': bad size 'lots': expected "
                                                           "a number with an optional unit K, M, G, T or P (e.g. 50G)");
  EXPECT_EQ(error_of(k_minimal + "allow_partial =\n"),
            k_at + "4: 'allow_partial' in preset 'home': not a boolean: '' (use yes/no, true/false, on/off or 1/0)");
}

TEST(CoreConfig, BadDefaultValueIsReportedAtTheDefaultLine) {
  EXPECT_EQ(error_of("[DEFAULT]\nbackend = RSYNC\n" + k_minimal),
            k_at + "2: unknown backend 'RSYNC' in preset 'home' (use auto, rsync or btrfs)");
}

TEST(CoreConfig, DestinationInsideOrEqualToSource) {
  EXPECT_EQ(
      error_of("[home]\nsource = /home/user\ndestination = /home/user/backups\n"),
      k_at +
          "3: destination /home/user/backups is inside source /home/user: each backup would contain the previous ones");
  EXPECT_EQ(error_of("[root]\ndestination = /mnt/b\nsource = /\n"),
            k_at + "2: destination /mnt/b is inside source /: each backup would contain the previous ones");
  EXPECT_EQ(error_of("[home]\nsource = /data/\ndestination = /data/x/..\n"),
            k_at + "3: destination /data is the same as source in preset 'home'");
  EXPECT_EQ(error_of("[home]\nsource = /mnt/b/home/user\ndestination = /mnt/b\n"),
            k_at + "3: source /mnt/b/home/user is inside /mnt/b/home, where preset 'home' keeps its snapshots");
}

TEST(CoreConfig, SiblingAndParentFoldersAreFine) {
  EXPECT_EQ(error_of("[home]\nsource = /data\ndestination = /data2\n"), "");
  EXPECT_EQ(error_of("[home]\nsource = /mnt/b/other\ndestination = /mnt/b\n"), "");
  EXPECT_EQ(error_of("[home]\nsource = /mnt/b/homework\ndestination = /mnt/b\n"), "");
}

TEST(CoreConfig, PresetNameRules) {
  const std::string body = "\nsource = /a\ndestination = /b\n";
  EXPECT_EQ(error_of("[a/b]" + body), k_at + "1: preset name 'a/b' must not contain '/'");
  EXPECT_EQ(error_of("[..]" + body), k_at + "1: preset name '..' must not start with '.'");
  EXPECT_EQ(error_of(k_minimal + "[.hidden]" + body), k_at + "4: preset name '.hidden' must not start with '.'");
  EXPECT_EQ(error_of("[latest]" + body),
            k_at + "1: preset name 'latest' is reserved (snapkeep keeps a 'latest' symlink next to the snapshots)");
  EXPECT_EQ(error_of("[a\tb]" + body), k_at + "1: preset name 'a\tb' must not contain control characters");
  EXPECT_EQ(error_of("[" + std::string(201, 'x') + "]" + body),
            k_at + "1: preset name '" + std::string(201, 'x') + "' is longer than 200 bytes");
  EXPECT_EQ(error_of("[" + std::string(200, 'x') + "]" + body), "");
  EXPECT_EQ(error_of("[Latest]" + body), "");
  EXPECT_EQ(error_of("[my home-2]" + body), "");
}

TEST(CoreConfig, EmptyPresetNameInBuiltDocument) {
  IniDocument doc;
  doc.sections.push_back(IniSection{"", "/x.conf", 7, {}});
  auto config = build_config(doc, config_schema());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message, "/x.conf:7: preset name '' is empty");
}

TEST(CoreConfig, InterpolationFollowsBasicInterpolation) {
  const Preset p = only_preset(
      "[DEFAULT]\nroot = /mnt/backup\ndestination = %(root)s/daily\n"
      "[home]\nsource = /home/%(user)s\nuser = alice\nexclude = 100%%\n  %(USER)s.tmp\n");
  EXPECT_EQ(p.destination, "/mnt/backup/daily");
  EXPECT_EQ(p.source, "/home/alice");
  EXPECT_EQ(p.exclude, (std::vector<std::string>{"100%", "alice.tmp"}));
}

TEST(CoreConfig, InterpolationUsesThePresetsOwnValueFirst) {
  auto config = build(
      "[DEFAULT]\nroot = /mnt/a\ndestination = %(root)s\n[one]\nsource = /s1\n[two]\nsource = /s2\nroot = /mnt/b\n");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->presets[0].destination, "/mnt/a");
  EXPECT_EQ(config->presets[1].destination, "/mnt/b");
}

TEST(CoreConfig, InterpolationSeesKeysFromLaterFiles) {
  IniDocument doc;
  ASSERT_TRUE(parse_ini("[home]\nsource = /h\ndestination = %(root)s/x\n", "/a.conf", doc).ok());
  ASSERT_TRUE(parse_ini("[DEFAULT]\nroot = /mnt\n", "/b.conf", doc).ok());
  auto config = build_config(doc, config_schema());
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->presets[0].destination, "/mnt/x");
}

TEST(CoreConfig, InterpolationErrors) {
  EXPECT_EQ(error_of("[home]\nsource = /a\ndestination = %(root)s/x\n"),
            k_at + "3: 'destination' refers to %(root)s but preset 'home' has no key 'root' (nor [DEFAULT])");
  EXPECT_EQ(
      error_of("[home]\nsource = /%(a)s\ndestination = /b\na = %(b)s\nb = %(a)s\n"),
      k_at + "2: interpolation of 'source' in preset 'home' nests more than 10 levels (does a value refer to itself?)");
  EXPECT_EQ(error_of(k_minimal + "keep = 3%d\n"), k_at + "4: '%' must be written '%%'");
  IniDocument doc;  // a built document bypasses the parser's check
  doc.sections.push_back(
      IniSection{"h", "/x.conf", 1, {{"source", {"/a%b", "/x.conf", 2}}, {"destination", {"/b", "/x.conf", 3}}}});
  auto config = build_config(doc, config_schema());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message, "/x.conf:2: '%' must be written '%%'");
}

TEST(CoreConfig, SelectPresets) {
  auto config = build(
      "[a]\nsource = /a\ndestination = /d\n[b]\nsource = /b\ndestination = /d\n"
      "[c]\nsource = /c\ndestination = /d\n");
  ASSERT_TRUE(config.ok());
  auto all = select_presets(*config, {});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3U);
  auto some = select_presets(*config, {"c", "a", "c"});
  ASSERT_TRUE(some.ok());
  ASSERT_EQ(some->size(), 2U);
  EXPECT_EQ((*some)[0].name, "a");
  EXPECT_EQ((*some)[1].name, "c");
  auto unknown = select_presets(*config, {"a", "x"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind, ErrorKind::config);
  EXPECT_EQ(unknown.error().message, "no preset named 'x' (known: a, b, c)");
}

TEST(CoreConfig, DefaultConfigFilesFollowTheEnvironment) {
  const char* saved = std::getenv("SNAPKEEP_CONFIG");
  const std::string saved_value = saved != nullptr ? saved : "";
  ::setenv("SNAPKEEP_CONFIG", "/tmp/my.conf", 1);
  EXPECT_EQ(default_config_files(), std::vector<fs::path>{"/tmp/my.conf"});
  ::setenv("SNAPKEEP_CONFIG", "", 1);
  EXPECT_EQ(default_config_files(), std::vector<fs::path>{"/etc/snapkeep/snapkeep.conf"});
  ::unsetenv("SNAPKEEP_CONFIG");
  EXPECT_EQ(default_config_files(), std::vector<fs::path>{"/etc/snapkeep/snapkeep.conf"});
  if (saved != nullptr) {
    ::setenv("SNAPKEEP_CONFIG", saved_value.c_str(), 1);
  }
}

// The drive keys (docs/drives.md): defaults, lists of UUIDs, where each value was written.
TEST(CoreConfig, DriveKeys) {
  const std::string base = "[p]\nsource = /s\ndestination = /d\n";
  Preset p = only_preset(base);
  EXPECT_TRUE(p.require_mount);
  EXPECT_TRUE(p.destination_uuids.empty());
  EXPECT_FALSE(p.skip_if_unmounted);
  EXPECT_TRUE(p.min_free_overrides_keep);
  p = only_preset(base +
                  "require_mount = no\ndestination_uuid = 0C5F9E1A-7D3B-4C2E-9A41-2F6D8B7E1C05, 1a2b-3c4d\n"
                  "   5e6f-7a8b\nif_unmounted = skip\n");
  EXPECT_FALSE(p.require_mount);
  EXPECT_EQ(p.destination_uuids,
            (std::vector<std::string>{"0c5f9e1a-7d3b-4c2e-9a41-2f6d8b7e1c05", "1a2b-3c4d", "5e6f-7a8b"}));
  EXPECT_TRUE(p.skip_if_unmounted);
  EXPECT_EQ(p.origins.at("require_mount"), k_at + "4");
  EXPECT_EQ(p.origins.at("source"), k_at + "2");
  EXPECT_EQ(error_of(base + "destination_uuid = my-drive\n"),
            k_at +
                "4: 'destination_uuid' in preset 'p': 'my-drive' is not a filesystem UUID (blkid or lsblk -f "
                "shows them, e.g. 0c5f9e1a-7d3b-4c2e-9a41-2f6d8b7e1c05 or 1A2B-3C4D)");
  EXPECT_EQ(error_of(base + "if_unmounted = later\n"),
            k_at + "4: 'if_unmounted' in preset 'p' is 'later' (use fail or skip)");
  EXPECT_NE(error_of(base + "require_mount = perhaps\n"), "");
}

// The registry is the one table of backend names; config takes its values from there.
TEST(CoreConfig, KnownBackendValues) {
  EXPECT_EQ(config_schema().backend_values, (std::vector<std::string>{"auto", "rsync", "btrfs"}));
  EXPECT_EQ(only_preset("[p]\nsource = /s\ndestination = /d\nbackend = btrfs\n").backend, "btrfs");
  EXPECT_FALSE(build("[p]\nsource = /s\ndestination = /d\nbackend = Rsync\n").ok());
  EXPECT_FALSE(build("[p]\nsource = /s\ndestination = /d\nbackend =  \n").ok());
}

// forget_drive_after: a duration (default 90 days), or never; errors at the value's line.
TEST(CoreConfig, ForgetDriveAfter) {
  EXPECT_EQ(only_preset(k_minimal).forget_drive_after, std::optional<std::uint64_t>(90ULL * 86400));
  EXPECT_EQ(only_preset(k_minimal + "forget_drive_after = 30d\n").forget_drive_after,
            std::optional<std::uint64_t>(30ULL * 86400));
  EXPECT_EQ(only_preset(k_minimal + "forget_drive_after = 2s\n").forget_drive_after, std::optional<std::uint64_t>(2));
  EXPECT_EQ(only_preset("[DEFAULT]\nforget_drive_after = 1d12h\n" + k_minimal).forget_drive_after,
            std::optional<std::uint64_t>(36ULL * 3600));
  EXPECT_FALSE(only_preset(k_minimal + "forget_drive_after = never\n").forget_drive_after.has_value());
  EXPECT_FALSE(only_preset(k_minimal + "forget_drive_after = Never\n").forget_drive_after.has_value());
  EXPECT_FALSE(only_preset("[DEFAULT]\nforget_drive_after = 7d\n" + k_minimal + "forget_drive_after =\n")
                   .forget_drive_after.has_value());
  EXPECT_EQ(error_of(k_minimal + "forget_drive_after = soon\n"),
            k_at +
                "4: 'forget_drive_after' in preset 'home': bad duration 'soon' (use seconds, or d, h, m, s largest "
                "first, e.g. 90, 45s, 1h30m, 2d)");
  EXPECT_EQ(error_of(k_minimal + "forget_drive_after = 0\n"),
            k_at + "4: 'forget_drive_after' in preset 'home' must be longer than 0 (or never)");
  EXPECT_EQ(error_of(k_minimal + "forget_drives_after = 9d\n"),
            k_at + "4: unknown key 'forget_drives_after' in preset 'home' (did you mean 'forget_drive_after'?)");
}

}  // namespace
}  // namespace snapkeep

namespace snapkeep {
namespace {

TEST(CoreConfigMonitoring, KeysAreParsed) {
  const Preset p = only_preset(k_minimal +
                               "healthcheck_url = https://hc-ping.com/1234/\n"
                               "metrics_file = node/snapkeep.prom\n"
                               "before_backup = /usr/bin/pg_dump -f \"/var/backups/my db.sql\" mydb\n"
                               "after_backup = rm -f /var/backups/db.sql\n"
                               "on_success = logger ok\n"
                               "on_failure = /usr/local/bin/notify 'backup failed'\n"
                               "  /usr/bin/logger -p user.err \"snapkeep: failed\"\n");
  EXPECT_EQ(p.hooks.healthcheck_url, "https://hc-ping.com/1234");
  EXPECT_EQ(p.hooks.metrics_file, fs::path("/etc/snapkeep/node/snapkeep.prom"));
  ASSERT_EQ(p.hooks.before_backup.size(), 1U);
  EXPECT_EQ(p.hooks.before_backup[0],
            (std::vector<std::string>{"/usr/bin/pg_dump", "-f", "/var/backups/my db.sql", "mydb"}));
  EXPECT_EQ(p.hooks.after_backup[0], (std::vector<std::string>{"rm", "-f", "/var/backups/db.sql"}));
  EXPECT_EQ(p.hooks.on_success[0], (std::vector<std::string>{"logger", "ok"}));
  ASSERT_EQ(p.hooks.on_failure.size(), 2U);
  EXPECT_EQ(p.hooks.on_failure[0], (std::vector<std::string>{"/usr/local/bin/notify", "backup failed"}));
  EXPECT_EQ(p.hooks.on_failure[1], (std::vector<std::string>{"/usr/bin/logger", "-p", "user.err", "snapkeep: failed"}));
  // Nothing configured: nothing runs.
  const Preset plain = only_preset(k_minimal);
  EXPECT_TRUE(plain.hooks.healthcheck_url.empty());
  EXPECT_FALSE(plain.hooks.metrics_file.has_value());
  EXPECT_TRUE(plain.hooks.before_backup.empty());
  EXPECT_TRUE(plain.hooks.on_failure.empty());
}

TEST(CoreConfigMonitoring, MistakesNameTheirLine) {
  EXPECT_EQ(error_of(k_minimal + "on_failure = notify \"unclosed\n"),
            k_at + "4: 'on_failure' in preset 'home': column 8: the \" opened here is never closed");
  EXPECT_EQ(error_of(k_minimal + "before_backup = dump\n  echo \\q\n"),
            k_at +
                "4: 'before_backup' in preset 'home': line 2 of the value, column 6: unknown escape '\\q' (write "
                "\\\\ for a backslash)");
  EXPECT_NE(error_of(k_minimal + "healthcheck_url = hc-ping.com/1234\n").find(k_at + "4: 'healthcheck_url'"),
            std::string::npos);
  EXPECT_NE(error_of(k_minimal + "on_sucess = x\n").find("did you mean 'on_success'?"), std::string::npos);
}

TEST(CoreConfigMonitoring, DefaultSectionSuppliesHooksToEveryPreset) {
  auto config = build(
      "[DEFAULT]\non_failure = /usr/local/bin/alert\nmetrics_file = /var/lib/prom/snapkeep.prom\n"
      "[a]\nsource = /a\ndestination = /mnt/b\n[b]\nsource = /b\ndestination = /mnt/b\n");
  ASSERT_TRUE(config.ok()) << config.error().message;
  for (const auto& p : config->presets) {
    EXPECT_EQ(p.hooks.on_failure[0], std::vector<std::string>{"/usr/local/bin/alert"});
    EXPECT_EQ(p.hooks.metrics_file, fs::path("/var/lib/prom/snapkeep.prom"));
  }
}

TEST(CoreConfigMonitoring, ConfigKeysListsTheTable) {
  const auto keys = config_keys();
  for (const char* key : {"source", "destination", "healthcheck_url", "metrics_file", "on_failure", "on_success",
                          "before_backup", "after_backup"}) {
    EXPECT_NE(std::find(keys.begin(), keys.end(), key), keys.end()) << key;
  }
}

}  // namespace
}  // namespace snapkeep
