// End-to-end tests of the snapkeep command line on plain folders: JSON shapes (SPEC §2), the legacy
// `snapkeep FILE.ini` form, config merging, check, usage and config errors, --dry-run, and
// independent presets.

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

using nlohmann::json;

const std::regex k_id_re(R"(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})");
const std::regex k_time_re(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2})");

// A TempDir with a small source, an existing empty destination and a config for preset "home".
struct CliWorld {
  CliWorld() {
    src = tmp / "src";
    dest = tmp / "dest";
    fs::create_directories(dest);
    write_file(src / "a.txt", "alpha\n");
    write_file(src / "sub" / "b.txt", "bravo bravo\n");
    write_random_file(src / "sub" / "c.bin", 3000, 11);
    config = write_preset_config(tmp / "snapkeep.ini", "home", src, dest);
  }
  RunResult cli(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) const {
    args.insert(args.begin(), {"-c", config.string()});
    return snapkeep(args, env);
  }
  fs::path preset_dir() const { return dest / "home"; }

  TempDir tmp;
  fs::path src;
  fs::path dest;
  fs::path config;
};

// Parses stdout as exactly one JSON document; a test failure (and null) when it is not.
json parse_json(const RunResult& r) {
  json doc = json::parse(r.out, nullptr, false);
  if (doc.is_discarded()) {
    ADD_FAILURE() << "stdout is not one JSON document:\n" << r.out << "\nstderr:\n" << r.err;
    return json();
  }
  return doc;
}

TEST(CliJson, BackupOutputMatchesSpec) {
  CliWorld s;
  RunResult r = s.cli({"--json", "backup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json doc = parse_json(r);
  ASSERT_TRUE(doc.is_object());
  ASSERT_TRUE(doc.contains("presets") && doc["presets"].is_array()) << doc.dump(2);
  ASSERT_EQ(doc["presets"].size(), 1u);
  const json& p = doc["presets"][0];
  ASSERT_TRUE(p.is_object());
  EXPECT_EQ(p.value("name", ""), "home");
  EXPECT_EQ(p.value("status", ""), "ok");
  ASSERT_TRUE(p.contains("snapshot") && p["snapshot"].is_string()) << p.dump(2);
  std::string id = p["snapshot"].get<std::string>();
  EXPECT_TRUE(std::regex_match(id, k_id_re)) << id;
  EXPECT_EQ(snapshot_ids(s.preset_dir()), std::vector<std::string>{id});
  EXPECT_EQ(p.value("backend", ""), "rsync");
  ASSERT_TRUE(p.contains("files") && p["files"].is_number_integer()) << p.dump(2);
  EXPECT_GE(p["files"].get<std::int64_t>(), 3) << "three files were backed up";
  ASSERT_TRUE(p.contains("bytes_transferred") && p["bytes_transferred"].is_number_integer()) << p.dump(2);
  EXPECT_EQ(p["bytes_transferred"].get<std::int64_t>(), 6 + 12 + 3000) << "a first backup copies every byte";
  ASSERT_TRUE(p.contains("seconds") && p["seconds"].is_number()) << p.dump(2);
  EXPECT_GE(p["seconds"].get<double>(), 0.0);
  EXPECT_LT(p["seconds"].get<double>(), 120.0);
  EXPECT_FALSE(p.contains("error")) << p.dump(2);
  EXPECT_EQ(r.out.find("info:"), std::string::npos) << "logs leaked into stdout";

  // Unchanged second run: nothing transferred, a new snapshot all the same.
  RunResult again = s.cli({"--json", "backup"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  json doc2 = parse_json(again);
  ASSERT_EQ(doc2["presets"].size(), 1u);
  const json& p2 = doc2["presets"][0];
  EXPECT_EQ(p2.value("status", ""), "ok");
  EXPECT_EQ(p2["bytes_transferred"], 0) << p2.dump(2);
  EXPECT_EQ(p2["files"], p["files"]);
  EXPECT_GT(p2.value("snapshot", ""), id);
  EXPECT_EQ(snapshot_ids(s.preset_dir()).size(), 2u);
}

TEST(CliJson, ListOutputMatchesSpec) {
  CliWorld s;
  std::vector<std::string> made;
  for (int i = 0; i < 3; ++i) {
    write_file(s.src / ("n" + std::to_string(i)), std::string(static_cast<std::size_t>(i + 1), 'x'));
    RunResult r = s.cli({"--json", "backup"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    made.push_back(parse_json(r)["presets"][0].value("snapshot", ""));
  }
  RunResult r = s.cli({"--json", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json doc = parse_json(r);
  ASSERT_TRUE(doc.contains("presets") && doc["presets"].is_array());
  ASSERT_EQ(doc["presets"].size(), 1u);
  const json& p = doc["presets"][0];
  EXPECT_EQ(p.value("name", ""), "home");
  EXPECT_EQ(p.value("backend", ""), "rsync");
  EXPECT_EQ(p.value("destination", ""), s.preset_dir().string());
  ASSERT_TRUE(p.contains("snapshots") && p["snapshots"].is_array());
  const json& snaps = p["snapshots"];
  ASSERT_EQ(snaps.size(), 3u) << p.dump(2);
  int latest_count = 0;
  std::string previous;
  for (std::size_t i = 0; i < snaps.size(); ++i) {
    const json& snap = snaps[i];
    ASSERT_TRUE(snap["id"].is_string()) << snap.dump();
    std::string id = snap["id"];
    EXPECT_EQ(id, made[i]) << "snapshots are listed oldest first";
    EXPECT_TRUE(std::regex_match(id, k_id_re)) << id;
    EXPECT_GT(id, previous);
    previous = id;
    ASSERT_TRUE(snap["path"].is_string());
    EXPECT_EQ(snap["path"], (s.preset_dir() / id).string());
    ASSERT_TRUE(snap["time"].is_string()) << snap.dump();
    EXPECT_TRUE(std::regex_match(snap["time"].get<std::string>(), k_time_re)) << snap["time"];
    ASSERT_TRUE(snap["latest"].is_boolean()) << snap.dump();
    if (snap["latest"].get<bool>()) {
      ++latest_count;
      EXPECT_EQ(i, snaps.size() - 1) << "latest:true on a snapshot that is not the newest";
    }
  }
  EXPECT_EQ(latest_count, 1);
  EXPECT_EQ(fs::read_symlink(s.preset_dir() / "latest").string(), made.back());

  // Human form: one line per snapshot, the newest marked.
  RunResult human = s.cli({"list"});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  for (const auto& id : made) {
    EXPECT_NE(human.out.find(id), std::string::npos) << human.out;
  }
  EXPECT_NE(human.out.find("latest"), std::string::npos) << human.out;
}

// The time field carries the local offset, and a fresh snapshot's time is its id's wall clock.
void check_time_offset(const std::string& tz, const std::string& offset_re) {
  if (!fs::exists("/usr/share/zoneinfo/" + tz)) {
    if (root_tests_required()) {  // CI installs tzdata: nothing may skip there
      FAIL() << "no zoneinfo for " << tz << " (install tzdata); SNAPKEEP_REQUIRE_ROOT_TESTS=1 forbids skipping";
    }
    GTEST_SKIP() << "no zoneinfo for " << tz << " (install tzdata)";
  }
  CliWorld s;
  std::map<std::string, std::string> env{{"TZ", tz}};
  RunResult b = s.cli({"--json", "backup"}, env);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  RunResult r = s.cli({"--json", "list"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json doc = parse_json(r);
  const json& snap = doc["presets"][0]["snapshots"][0];
  std::string time = snap.value("time", "");
  std::string id = snap.value("id", "");
  EXPECT_TRUE(std::regex_match(time, std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})" + offset_re))) << time;
  std::string wall = id;
  wall[10] = 'T';
  wall[13] = ':';
  wall[16] = ':';
  EXPECT_EQ(time.substr(0, 19), wall) << "time " << time << " does not match id " << id;
}

TEST(CliJson, ListTimeHasPositiveHalfHourOffset) {
  check_time_offset("Asia/Kolkata", R"(\+05:30)");
}

TEST(CliJson, ListTimeHasNegativeOffset) {
  check_time_offset("America/St_Johns", R"(-0[23]:30)");
}

// The relay's stdout is rsync's protocol stream: its messages must go to stderr, or the far rsync
// reads them as protocol bytes ("is your shell clean?") and the cause is lost.
TEST(Cli, TheRelayKeepsItsMessagesOffStdout) {
  RunResult r = snapkeep({"__relay", "not-a-session", "snapkeep-client", "rsync", "--server", "."});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("relay: started without a valid session"), std::string::npos) << r.err;
}

TEST(Cli, LegacyIniFormMeansBackup) {
  CliWorld s;
  RunResult r = snapkeep({s.config.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ids = snapshot_ids(s.preset_dir());
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(read_file(s.preset_dir() / ids[0] / "a.txt"), "alpha\n");
  EXPECT_EQ(fs::read_symlink(s.preset_dir() / "latest").string(), ids[0]);
  EXPECT_NE(r.out.find(ids[0]), std::string::npos) << "the result line names the snapshot:\n" << r.out;

  // Several files: every preset of every file.
  fs::path src2 = s.tmp / "src2";
  write_file(src2 / "z.txt", "zulu\n");
  fs::path second = write_preset_config(s.tmp / "second.ini", "other", src2, s.dest);
  r = snapkeep({s.config.string(), second.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(snapshot_ids(s.preset_dir()).size(), 2u);
  auto other = snapshot_ids(s.dest / "other");
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(read_file(s.dest / "other" / other[0] / "z.txt"), "zulu\n");

  // With --json it is still a backup.
  r = snapkeep({"--json", s.config.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_json(r)["presets"][0].value("status", ""), "ok");
  EXPECT_EQ(snapshot_ids(s.preset_dir()).size(), 3u);
}

TEST(Cli, SecondConfigFileOverridesDestination) {
  CliWorld s;
  fs::path dest2 = s.tmp / "dest2";
  fs::create_directories(dest2);
  fs::path override_file = s.tmp / "override.ini";
  write_file(override_file, "[home]\ndestination = " + dest2.string() + "\n");
  RunResult r = snapkeep({"-c", s.config.string(), "-c", override_file.string(), "backup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(entries_of(s.dest).empty()) << "the first file's destination was used";
  auto ids = snapshot_ids(dest2 / "home");
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(read_file(dest2 / "home" / ids[0] / "sub" / "b.txt"), "bravo bravo\n");

  r = snapkeep({"-c", s.config.string(), "-c", override_file.string(), "--json", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_json(r)["presets"][0].value("destination", ""), (dest2 / "home").string());
  // Order matters: the later file wins.
  r = snapkeep({"-c", override_file.string(), "-c", s.config.string(), "--json", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_json(r)["presets"][0].value("destination", ""), (s.dest / "home").string());
}

TEST(Cli, RelativePathsResolveAgainstConfigFolder) {
  CliWorld s;
  fs::path conf = s.tmp / "etc" / "snapkeep.ini";
  write_file(conf, "[home]\nsource = ../src\ndestination = ../dest\nrequire_mount = no\n");
  RunResult r = snapkeep({"-c", conf.string(), "backup"});  // our working directory is elsewhere
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ids = snapshot_ids(s.preset_dir());
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(read_file(s.preset_dir() / ids[0] / "a.txt"), "alpha\n");
}

TEST(Cli, GlobalOptionsMayFollowTheCommand) {
  CliWorld s;
  RunResult r = snapkeep({"backup", "-c", s.config.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_json(r)["presets"][0].value("status", ""), "ok");
  r = snapkeep({"list", "--json", "-c", s.config.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_json(r)["presets"][0]["snapshots"].size(), 1u);
}

TEST(Cli, VerbosityFlags) {
  CliWorld s;
  write_preset_config(s.config, "home", s.src, s.dest, "transfer = rsync\n");  // a child to log
  RunResult verbose = s.cli({"-v", "backup"});
  ASSERT_EQ(verbose.exit_code, 0) << verbose.err;
  // -v logs every command; paths follow "--" (SPEC §4.5).
  EXPECT_NE(verbose.err.find("running: rsync"), std::string::npos) << verbose.err;
  EXPECT_NE(verbose.err.find(" -- "), std::string::npos) << verbose.err;
  RunResult quiet = s.cli({"-q", "backup"});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err.find("info:"), std::string::npos) << quiet.err;
  RunResult both = s.cli({"-v", "-q", "backup"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_EQ(snapshot_ids(s.preset_dir()).size(), 2u);
}

TEST(Cli, CheckReportsGoodPresetAndMissingSource) {
  CliWorld s;
  RunResult ok = s.cli({"check"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("home: ok"), std::string::npos) << ok.out;
  EXPECT_TRUE(entries_of(s.dest).empty()) << "check must change nothing";

  fs::path missing = s.tmp / "no-such-source";
  write_preset_config(s.config, "home", missing, s.dest);
  RunResult bad = s.cli({"check"});
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  EXPECT_NE(bad.err.find(missing.string()), std::string::npos) << "stderr must name the source:\n" << bad.err;
  EXPECT_NE(bad.err.find("home"), std::string::npos) << bad.err;
  RunResult bad_json = s.cli({"--json", "check"});
  EXPECT_EQ(bad_json.exit_code, 1);
  json doc = parse_json(bad_json);
  EXPECT_EQ(doc["presets"][0].value("status", ""), "failed");
  EXPECT_NE(doc["presets"][0].value("error", "").find(missing.string()), std::string::npos) << doc.dump(2);
  EXPECT_TRUE(entries_of(s.dest).empty()) << "check must change nothing";
  EXPECT_FALSE(fs::exists(missing));
}

TEST(Cli, UnknownPresetIsUsageError) {
  CliWorld s;
  fs::path target = s.tmp / "restore-target";
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"backup", "nosuch"},
                                             {"backup", "home", "nosuch"},
                                             {"list", "nosuch"},
                                             {"check", "nosuch"},
                                             {"restore", "nosuch", "latest", "--to", target.string()}}) {
    RunResult r = s.cli(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << args[1] << ": " << r.err;
    EXPECT_NE(r.err.find("nosuch"), std::string::npos) << r.err;
  }
  EXPECT_TRUE(entries_of(s.dest).empty()) << "an unknown preset name must not back up the known one";
  EXPECT_FALSE(fs::exists(target));
}

TEST(Cli, UsageErrorsExit2) {
  CliWorld s;
  EXPECT_EQ(s.cli({"backup", "--bogus-option"}).exit_code, 2);
  EXPECT_EQ(s.cli({}).exit_code, 2) << "no command";
  EXPECT_EQ(s.cli({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(s.cli({"restore", "home", "latest"}).exit_code, 2) << "restore without --to";
  EXPECT_EQ(snapkeep({"-c", (s.tmp / "absent.ini").string(), "backup"}).exit_code, 2) << "missing config file";
  EXPECT_TRUE(entries_of(s.dest).empty());
}

TEST(Cli, ConfigErrorNamesFileAndLineAndChangesNothing) {
  CliWorld s;
  struct Case {
    std::string text;
    int line;
  };
  const std::string paths = "source = " + s.src.string() + "\ndestination = " + s.dest.string() + "\n";
  const std::vector<Case> cases = {
      {"[home]\n" + paths + "sourse = /typo\n", 4},
      {"# a comment\n[home]\nsource = " + s.src.string() + "\n", 2},
      {"[home]\n" + paths + "one_file_system = perhaps\n", 4},
      {"[home]\n" + paths + "\n[home]\n" + paths, 5},
      {"[home]\n" + paths + "backend = zfs\n", 4},
  };
  for (const auto& c : cases) {
    write_file(s.config, c.text);
    for (const char* command : {"backup", "list", "check"}) {
      RunResult r = s.cli({command});
      EXPECT_EQ(r.exit_code, 2) << command << " with\n" << c.text << "\nstderr:\n" << r.err;
      std::string where = s.config.string() + ":" + std::to_string(c.line) + ":";
      EXPECT_NE(r.err.find(where), std::string::npos) << "stderr does not contain " << where << ":\n" << r.err;
    }
    RunResult j = s.cli({"--json", "backup"});
    EXPECT_EQ(j.exit_code, 2);
    json doc = parse_json(j);
    EXPECT_TRUE(doc.contains("error") && doc["error"].is_string()) << j.out;
    EXPECT_TRUE(entries_of(s.dest).empty()) << "a config error must change nothing, config:\n" << c.text;
  }
}

TEST(Cli, DryRunCreatesNoSnapshot) {
  CliWorld s;
  RunResult first = s.cli({"--json", "backup", "--dry-run"});
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(parse_json(first)["presets"][0].value("status", ""), "ok");
  EXPECT_TRUE(entries_of(s.dest).empty()) << "a dry run on a fresh destination created something";

  RunResult real = s.cli({"backup"});
  ASSERT_EQ(real.exit_code, 0) << real.err;
  auto ids = snapshot_ids(s.preset_dir());
  ASSERT_EQ(ids.size(), 1u);
  auto before = entries_of(s.preset_dir());
  auto state_before = entries_of(s.preset_dir() / ".snapkeep");

  write_file(s.src / "new.txt", "new\n");
  RunResult dry = s.cli({"--json", "backup", "-n"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  json doc = parse_json(dry);
  EXPECT_EQ(doc["presets"][0].value("status", ""), "ok");
  EXPECT_EQ(snapshot_ids(s.preset_dir()), ids);
  EXPECT_EQ(entries_of(s.preset_dir()), before);
  EXPECT_EQ(fs::read_symlink(s.preset_dir() / "latest").string(), ids[0]);
  EXPECT_EQ(entries_of(s.preset_dir() / ".snapkeep"), state_before) << "a dry run left state behind";
  EXPECT_FALSE(fs::exists(s.preset_dir() / ids[0] / "new.txt"));
}

TEST(Cli, FailingPresetDoesNotStopOthers) {
  CliWorld s;
  fs::path missing = s.tmp / "unplugged";
  write_file(s.config, "[DEFAULT]\nrequire_mount = no\n[bad]\nsource = " + missing.string() +
                           "\ndestination = " + s.dest.string() + "\n\n[good]\nsource = " + s.src.string() +
                           "\ndestination = " + s.dest.string() + "\n");
  RunResult r = s.cli({"--json", "backup"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  json doc = parse_json(r);
  ASSERT_TRUE(doc["presets"].is_array());
  ASSERT_EQ(doc["presets"].size(), 2u) << doc.dump(2);
  const json* bad = nullptr;
  const json* good = nullptr;
  for (const auto& p : doc["presets"]) {
    (p.value("name", "") == "bad" ? bad : good) = &p;
  }
  ASSERT_TRUE(bad != nullptr && good != nullptr) << doc.dump(2);
  EXPECT_EQ(bad->value("status", ""), "failed");
  ASSERT_TRUE(bad->contains("error") && (*bad)["error"].is_string()) << bad->dump(2);
  EXPECT_NE((*bad)["error"].get<std::string>().find(missing.string()), std::string::npos) << bad->dump(2);
  EXPECT_EQ(good->value("name", ""), "good");
  EXPECT_EQ(good->value("status", ""), "ok");
  EXPECT_FALSE(good->contains("error"));
  std::string id = good->value("snapshot", "");
  EXPECT_EQ(snapshot_ids(s.dest / "good"), std::vector<std::string>{id});
  EXPECT_EQ(read_file(s.dest / "good" / id / "a.txt"), "alpha\n");
  EXPECT_TRUE(snapshot_ids(s.dest / "bad").empty());

  // Human form: the failure names the preset on stderr, the success is on stdout.
  RunResult human = s.cli({"backup"});
  EXPECT_EQ(human.exit_code, 1);
  EXPECT_NE(human.err.find("bad:"), std::string::npos) << human.err;
  EXPECT_NE(human.out.find("good:"), std::string::npos) << human.out;
  EXPECT_EQ(snapshot_ids(s.dest / "good").size(), 2u);
}

TEST(Cli, NamedPresetsOnly) {
  CliWorld s;
  fs::path src2 = s.tmp / "src2";
  write_file(src2 / "z.txt", "zulu\n");
  write_file(s.config, "[DEFAULT]\nrequire_mount = no\n[home]\nsource = " + s.src.string() +
                           "\ndestination = " + s.dest.string() + "\n[other]\nsource = " + src2.string() +
                           "\ndestination = " + s.dest.string() + "\n");
  RunResult r = s.cli({"--json", "backup", "other"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json doc = parse_json(r);
  ASSERT_EQ(doc["presets"].size(), 1u);
  EXPECT_EQ(doc["presets"][0].value("name", ""), "other");
  EXPECT_EQ(snapshot_ids(s.dest / "other").size(), 1u);
  EXPECT_FALSE(fs::exists(s.dest / "home")) << "a preset not named was backed up";

  // list of a preset without snapshots: an empty array, not an error.
  r = s.cli({"--json", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  doc = parse_json(r);
  ASSERT_EQ(doc["presets"].size(), 2u);
  EXPECT_EQ(doc["presets"][0].value("name", ""), "home");
  EXPECT_TRUE(doc["presets"][0]["snapshots"].is_array());
  EXPECT_TRUE(doc["presets"][0]["snapshots"].empty());
  EXPECT_EQ(doc["presets"][1]["snapshots"].size(), 1u);
  EXPECT_EQ(doc["presets"][1]["snapshots"][0].value("latest", false), true);
}

// Ids are local wall-clock time, so a clock or zone change (a DST fall-back) can give a newer
// snapshot a smaller id. Newest means made last: for `latest`, for list order and as link base.
TEST(Cli, NewestSnapshotIsTheLastMadeEvenWhenItsIdSortsFirst) {
  CliWorld s;
  write_file(s.src / "changing.txt", "v1\n");
  auto backup_in = [&](const std::string& tz) {
    RunResult r = s.cli({"--json", "backup"}, {{"TZ", tz}});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return parse_json(r)["presets"][0].value("snapshot", "");
  };
  std::string a = backup_in("Asia/Kolkata");  // UTC+05:30
  write_file(s.src / "changing.txt", "v2, longer\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // as an hour apart would be
  std::string b = backup_in("UTC");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  std::string c = backup_in("America/St_Johns");  // UTC-03:30
  ASSERT_FALSE(a.empty() || b.empty() || c.empty());
  ASSERT_LT(c, b);
  ASSERT_LT(b, a);

  EXPECT_EQ(fs::read_symlink(s.preset_dir() / "latest").string(), c);
  RunResult r = s.cli({"--json", "list"}, {{"TZ", "UTC"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json snaps = parse_json(r)["presets"][0]["snapshots"];
  ASSERT_EQ(snaps.size(), 3u);
  EXPECT_EQ(snaps[0].value("id", ""), a);
  EXPECT_EQ(snaps[1].value("id", ""), b);
  EXPECT_EQ(snaps[2].value("id", ""), c);
  EXPECT_EQ(snaps[2].value("latest", false), true);
  // c was linked against b (the newest then), not against a (the largest id).
  EXPECT_EQ(inode_of(s.preset_dir() / c / "changing.txt"), inode_of(s.preset_dir() / b / "changing.txt"));
  EXPECT_EQ(read_file(s.preset_dir() / c / "changing.txt"), "v2, longer\n");
}

TEST(Cli, MissingDestinationExit1AndNotCreated) {
  CliWorld s;
  fs::path missing = s.tmp / "unmounted-drive";
  write_preset_config(s.config, "home", s.src, missing);
  RunResult r = s.cli({"backup"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(missing));
  RunResult c = s.cli({"check"});
  EXPECT_EQ(c.exit_code, 1) << c.err;
  EXPECT_FALSE(fs::exists(missing));
}

}  // namespace
}  // namespace snapkeep::test
