// The systemd units in packaging/systemd (docs/systemd.md): `systemd-analyze verify` accepts every
// one of them (with the man pages they name, as built from docs/), and each service's ExecStart=
// line, split the way systemd splits it, does its job against a test config.

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/config/command_words.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

struct Unit {
  std::string name;  // as installed (the example is installed as snapkeep-plugged-usb.service)
  std::string text;
};

// Every unit source, with @SNAPKEEP_BIN@ set the way packaging/install_units.cmake sets it.
std::vector<Unit> units_for(const fs::path& binary) {
  std::vector<Unit> units;
  for (const auto& entry : fs::directory_iterator(fs::path(SNAPKEEP_SOURCE_DIR) / "packaging" / "systemd")) {
    std::string name = entry.path().filename().string();
    if (!name.ends_with(".in")) {
      continue;
    }
    name.resize(name.size() - 3);
    if (name.find("example") != std::string::npos) {
      name = "snapkeep-plugged-usb.service";
    }
    std::string text = read_file(entry.path());
    for (auto at = text.find("@SNAPKEEP_BIN@"); at != std::string::npos; at = text.find("@SNAPKEEP_BIN@")) {
      text.replace(at, 14, binary.string());
    }
    units.push_back({name, text});
  }
  std::sort(units.begin(), units.end(), [](const Unit& a, const Unit& b) { return a.name < b.name; });
  return units;
}

fs::path man_dir() {
  return fs::path(SNAPKEEP_BUILD_DIR) / "packaging" / "man";
}

// The value of each `KEY=` line (section names ignored: the units use each key in one section).
std::vector<std::string> values_of(const std::string& text, const std::string& key) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(key + "=")) {
      out.push_back(line.substr(key.size() + 1));
    }
  }
  return out;
}

// systemd's specifiers for an instance of a template: %I the instance, %i it escaped (the test's
// instances need no escaping), %n the full unit name, %% a percent sign.
std::string expand_specifiers(const std::string& value, const std::string& unit, const std::string& instance) {
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '%' || i + 1 == value.size()) {
      out += value[i];
      continue;
    }
    const char c = value[++i];
    if (c == 'I' || c == 'i') {
      out += instance;
    } else if (c == 'n') {
      out += unit;
    } else if (c == '%') {
      out += '%';
    } else {
      ADD_FAILURE() << unit << ": specifier %" << c << " is not known to this test";
    }
  }
  return out;
}

// The name systemd gives a template's instance (snapkeep-backup@.service -> snapkeep-backup@home.service).
std::string instance_name(const std::string& unit, const std::string& instance) {
  const auto at = unit.find("@.");
  return at == std::string::npos ? unit : unit.substr(0, at + 1) + instance + unit.substr(at + 1);
}

TEST(SystemdUnits, TheExpectedUnitsExistWithTheirSettings) {
  std::map<std::string, std::string> by_name;
  for (const Unit& u : units_for("/usr/bin/snapkeep")) {
    by_name[u.name] = u.text;
  }
  for (const char* name : {"snapkeep-backup@.service", "snapkeep-backup@.timer", "snapkeep-scrub@.service",
                           "snapkeep-scrub@.timer", "snapkeep-notify@.service", "snapkeep-plugged-usb.service"}) {
    ASSERT_TRUE(by_name.contains(name)) << name;
  }
  for (const char* timer : {"snapkeep-backup@.timer", "snapkeep-scrub@.timer"}) {
    EXPECT_EQ(values_of(by_name[timer], "Persistent"), std::vector<std::string>{"true"}) << timer;
    EXPECT_EQ(values_of(by_name[timer], "RandomizedDelaySec").size(), 1U) << timer;
  }
  for (const char* service : {"snapkeep-backup@.service", "snapkeep-scrub@.service", "snapkeep-plugged-usb.service"}) {
    EXPECT_EQ(values_of(by_name[service], "IOSchedulingClass"), std::vector<std::string>{"idle"}) << service;
    EXPECT_EQ(values_of(by_name[service], "Nice").size(), 1U) << service;
    EXPECT_EQ(values_of(by_name[service], "OnFailure"), std::vector<std::string>{"snapkeep-notify@%n.service"})
        << service;
  }
  const std::string& plugged = by_name["snapkeep-plugged-usb.service"];
  const std::string device = "dev-disk-by\\x2duuid-0c5f9e1a\\x2d7d3b\\x2d4c2e\\x2d9a41\\x2d2f6d8b7e1c05.device";
  EXPECT_EQ(values_of(plugged, "BindsTo"), std::vector<std::string>{device});
  EXPECT_EQ(values_of(plugged, "WantedBy"), std::vector<std::string>{device});
  EXPECT_EQ(values_of(plugged, "RequiresMountsFor").size(), 1U);
}

// systemd-analyze verify runs offline (no systemd as PID 1 needed): it loads each unit (templates
// as an instance), checks every directive, that ExecStart's program is executable, and (with
// MANPATH) that the Documentation= man pages exist. Warnings (an unknown key) exit 0, so any
// output at all is a failure here.
TEST(SystemdUnits, SystemdAnalyzeVerifyAcceptsEveryUnit) {
  TempDir tmp;
  const fs::path dir = tmp / "units";
  fs::create_directories(dir);
  std::vector<std::string> argv = {"systemd-analyze", "verify"};
  for (const Unit& u : units_for(snapkeep_binary())) {
    write_file(dir / u.name, u.text);
    argv.push_back((dir / u.name).string());
  }
  ASSERT_TRUE(fs::exists(man_dir() / "man1" / "snapkeep.1")) << "the man pages are built with the program";
  const std::map<std::string, std::string> env = {{"SYSTEMD_UNIT_PATH", dir.string() + ":"},
                                                  {"MANPATH", man_dir().string()}};
  RunResult r = run(argv, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err + r.out, "");

  // The same check sees a broken unit, in this environment too.
  write_file(dir / "broken@.service", "[Unit]\nDocumentation=man:snapkeep-nope(1)\n[Service]\nExecStart=" +
                                          (tmp / "missing").string() + " x\nNiceness=3\n");
  RunResult broken = run({"systemd-analyze", "verify", (dir / "broken@.service").string()}, env);
  EXPECT_NE(broken.exit_code, 0);
  EXPECT_NE(broken.err.find("Unknown key"), std::string::npos) << broken.err;
  EXPECT_NE(broken.err.find("is not executable"), std::string::npos) << broken.err;
  EXPECT_NE(broken.err.find("snapkeep-nope(1)"), std::string::npos) << broken.err;
}

// Runs ExecStart= of every service as systemd would start it (specifiers expanded, split like
// ExecStart=, no shell) with $SNAPKEEP_CONFIG naming a test config, and checks what it did.
TEST(SystemdUnits, EveryExecStartWorksAgainstATestConfig) {
  TempDir tmp;
  for (const char* preset : {"home", "usb"}) {
    write_file(tmp / "src" / preset / "a.txt", std::string("alpha of ") + preset + "\n");
    fs::create_directories(tmp / "dest");
  }
  const fs::path config = tmp / "snapkeep.conf";
  write_file(config, "[DEFAULT]\ndestination = " + (tmp / "dest").string() +
                         "\nrequire_mount = no\n\n[home]\nsource = " + (tmp / "src" / "home").string() +
                         "\n\n[usb]\nsource = " + (tmp / "src" / "usb").string() + "\n");
  const std::map<std::string, std::string> env = {{"SNAPKEEP_CONFIG", config.string()}};
  // backup before scrub: the scrub needs a snapshot.
  const std::vector<std::pair<std::string, std::string>> order = {
      {"snapkeep-backup@.service", "home"},
      {"snapkeep-plugged-usb.service", ""},
      {"snapkeep-scrub@.service", "home"},
      {"snapkeep-notify@.service", "snapkeep-backup@home.service"}};
  std::map<std::string, std::string> by_name;
  std::size_t services = 0;
  for (const Unit& u : units_for(snapkeep_binary())) {
    by_name[u.name] = u.text;
    services += u.name.ends_with(".service") ? 1 : 0;
  }
  ASSERT_EQ(services, order.size()) << "a new service unit needs its run here";
  for (const auto& [template_name, instance] : order) {
    const std::string unit = instance_name(template_name, instance);
    const auto lines = values_of(by_name[template_name], "ExecStart");
    ASSERT_EQ(lines.size(), 1U) << unit;
    auto argv = split_command_words(expand_specifiers(lines.front(), unit, instance));
    ASSERT_TRUE(argv) << unit << ": " << argv.error().message;
    ASSERT_TRUE(argv->front().starts_with("/")) << unit << ": ExecStart names its program by absolute path";
    RunResult r = run(*argv, env);
    EXPECT_EQ(r.exit_code, 0) << unit << ": " << r.err;
    EXPECT_EQ(r.out, "") << unit << ": -q prints nothing on success";
  }
  EXPECT_EQ(snapshot_ids(tmp / "dest" / "home").size(), 1U);
  EXPECT_EQ(snapshot_ids(tmp / "dest" / "usb").size(), 1U);
  RunResult status = snapkeep({"--json", "status", "home"}, env);
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const auto doc = nlohmann::json::parse(status.out);
  ASSERT_EQ(doc["presets"].size(), 1U) << status.out;
  EXPECT_EQ(doc["presets"][0]["last_scrub"]["result"], "ok") << status.out;
  EXPECT_EQ(doc["presets"][0]["last_backup"]["result"], "ok") << status.out;
}

}  // namespace
}  // namespace snapkeep::test
