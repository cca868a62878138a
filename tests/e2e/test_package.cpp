// Installing like a package (docs/install.md): scripts/package builds the .deb from this build
// tree; it is unpacked into a scratch root and what it installed is used from there: the binary,
// the man pages (man -w), the bash completion and the systemd units (systemd-analyze verify
// --root). And the man pages, made from docs/ at build time, name every config key and command.

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) {
      out.push_back(line);
    }
  }
  return out;
}

// True when the man page shows `word` at the start of a code span (`key`, `command ARGS`): go-md2man
// writes a Markdown code span as \fB\fC...\fR, and the word must end there or at a blank.
bool shows_code(const std::string& roff, const std::string& word) {
  for (const std::string& start : {std::string("\\fC"), std::string("\\fB")}) {
    for (const std::string& end : {std::string(" "), std::string("\\f")}) {
      if (roff.find(start + word + end) != std::string::npos) {
        return true;
      }
    }
  }
  return false;
}

fs::path built_man(const std::string& section_dir, const std::string& file) {
  return fs::path(SNAPKEEP_BUILD_DIR) / "packaging" / "man" / section_dir / file;
}

// The lists come from the program itself (`snapkeep _complete`, which reads the CLI definition and
// the config's key table), so a new key or command without a word in docs/ fails here.
TEST(ManPages, NameEveryConfigKeyAndCommand) {
  RunResult keys = snapkeep({"_complete", "keys"});
  RunResult commands = snapkeep({"_complete", "commands"});
  ASSERT_EQ(keys.exit_code, 0) << keys.err;
  ASSERT_EQ(commands.exit_code, 0) << commands.err;
  const auto key_list = lines_of(keys.out);
  const auto command_list = lines_of(commands.out);
  ASSERT_GE(key_list.size(), 20U) << keys.out;
  ASSERT_GE(command_list.size(), 10U) << commands.out;
  EXPECT_EQ(std::count(command_list.begin(), command_list.end(), "_complete"), 0) << "hidden";

  const std::string conf = read_file(built_man("man5", "snapkeep.conf.5"));
  const std::string usage = read_file(built_man("man1", "snapkeep.1"));
  ASSERT_NE(conf.find("\n.TH SNAPKEEP.CONF 5 "), std::string::npos) << conf.substr(0, 200);
  ASSERT_NE(usage.find("\n.TH SNAPKEEP 1 "), std::string::npos) << usage.substr(0, 200);
  for (const auto& key : key_list) {
    EXPECT_TRUE(shows_code(conf, key)) << "snapkeep.conf(5) never shows the config key " << key;
  }
  for (const auto& command : command_list) {
    EXPECT_TRUE(shows_code(usage, command)) << "snapkeep(1) never shows the command " << command;
  }
  EXPECT_FALSE(shows_code(usage, "no-such-command"));
}

// Copies `from` to `to` unless `to` exists (the scratch root's base system, taken from this machine).
void provide(const fs::path& from, const fs::path& to) {
  if (!fs::exists(to)) {
    fs::create_directories(to.parent_path());
    fs::copy_file(from, to);
  }
}

TEST(Package, DebBuildsInstallsAndWorksFromAScratchRoot) {
  TempDir tmp;
  const fs::path out = tmp / "out";
  // --no-build: ctest runs after the build, and other tests are running from this tree meanwhile.
  RunResult built = run({(fs::path(SNAPKEEP_SOURCE_DIR) / "scripts" / "package").string(), "--no-build",
                         SNAPKEEP_BUILD_DIR, out.string()});
  ASSERT_EQ(built.exit_code, 0) << built.err.substr(built.err.size() > 4000 ? built.err.size() - 4000 : 0);
  const auto printed = lines_of(built.out);
  ASSERT_FALSE(printed.empty());
  const fs::path deb = printed.back();
  ASSERT_TRUE(deb.string().ends_with(".deb")) << built.out;
  ASSERT_TRUE(fs::is_regular_file(deb)) << deb;
  EXPECT_EQ(deb.parent_path(), out);

  // Depends: the tools it runs, and the libraries dpkg-shlibdeps found.
  RunResult depends = run({"dpkg-deb", "-f", deb.string(), "Depends"});
  ASSERT_EQ(depends.exit_code, 0) << depends.err;
  for (const char* package : {"rsync", "btrfs-progs", "libcurl4", "libblkid1", "libc6", "libstdc++6"}) {
    EXPECT_NE(depends.out.find(package), std::string::npos) << package << " missing from Depends: " << depends.out;
  }

  const fs::path root = tmp / "root";
  RunResult unpacked = run({"dpkg", "-x", "--", deb.string(), root.string()});
  ASSERT_EQ(unpacked.exit_code, 0) << unpacked.err;
  const fs::path bin = root / "usr/bin/snapkeep";
  const fs::path units = root / "usr/lib/systemd/system";
  for (const fs::path& file :
       {bin, root / "usr/share/man/man1/snapkeep.1.gz", root / "usr/share/man/man5/snapkeep.conf.5.gz",
        root / "usr/share/bash-completion/completions/snapkeep", root / "usr/share/doc/snapkeep/examples/snapkeep.conf",
        root / "usr/share/doc/snapkeep/examples/snapkeep-plugged-usb.service", units / "snapkeep-backup@.service",
        units / "snapkeep-backup@.timer", units / "snapkeep-scrub@.service", units / "snapkeep-scrub@.timer",
        units / "snapkeep-notify@.service"}) {
    EXPECT_TRUE(fs::is_regular_file(file)) << file << " is not in the package";
  }

  // The installed binary runs and is the one built here.
  RunResult version = run({bin.string(), "--version"});
  RunResult built_version = snapkeep({"--version"});
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_EQ(version.out, built_version.out);
  EXPECT_NE(version.out.find("snapkeep"), std::string::npos) << version.out;
  EXPECT_NE(read_file(units / "snapkeep-backup@.service").find("ExecStart=/usr/bin/snapkeep "), std::string::npos);

  // man finds both pages in the scratch root.
  const std::map<std::string, std::string> man_env = {{"MANPATH", (root / "usr/share/man").string()}};
  RunResult man1 = run({"man", "-w", "snapkeep"}, man_env);
  EXPECT_EQ(man1.exit_code, 0) << man1.err;
  EXPECT_EQ(man1.out, (root / "usr/share/man/man1/snapkeep.1.gz").string() + "\n");
  RunResult man5 = run({"man", "-w", "5", "snapkeep.conf"}, man_env);
  EXPECT_EQ(man5.exit_code, 0) << man5.err;
  EXPECT_EQ(man5.out, (root / "usr/share/man/man5/snapkeep.conf.5.gz").string() + "\n");

  // The completion, sourced into bash as bash-completion would, with the installed snapkeep first
  // on PATH. Words are passed as arguments: COMP_WORDS=(ARGS...), the cursor on the last one.
  write_file(tmp / "snapkeep.conf", "[DEFAULT]\ndestination = " + (tmp / "dest").string() +
                                        "\nrequire_mount = no\n[home]\nsource = /srv/a\n[usb]\nsource = /srv/b\n");
  const std::string script =
      "source \"$0\" && COMP_WORDS=(\"$@\") && COMP_CWORD=$(($# - 1)) && _snapkeep && printf '%s\\n' "
      "\"${COMPREPLY[@]}\"";
  const std::string path = (root / "usr/bin").string() + ":" + std::getenv("PATH");
  auto complete = [&](std::vector<std::string> words) {
    std::vector<std::string> argv = {"bash", "-c", script,
                                     (root / "usr/share/bash-completion/completions/snapkeep").string()};
    argv.insert(argv.end(), words.begin(), words.end());
    RunResult r = run(argv, {{"PATH", path}, {"SNAPKEEP_CONFIG", ""}});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto got = lines_of(r.out);
    return std::set<std::string>(got.begin(), got.end());
  };
  EXPECT_EQ(complete({"snapkeep", "st"}), (std::set<std::string>{"status"}));
  std::set<std::string> re_commands;  // what the program has, so a new command does not break this
  for (const auto& command : lines_of(snapkeep({"_complete", "commands"}).out)) {
    if (command.starts_with("re")) {
      re_commands.insert(command);
    }
  }
  EXPECT_TRUE(re_commands.contains("restore") && re_commands.contains("rename"));
  EXPECT_EQ(complete({"snapkeep", "re"}), re_commands);
  EXPECT_EQ(complete({"snapkeep", "status", "--max"}), (std::set<std::string>{"--max-age"}));
  EXPECT_EQ(complete({"snapkeep", "--progress-"}), (std::set<std::string>{"--progress-fd", "--progress-interval"}));
  EXPECT_EQ(complete({"snapkeep", "-c", (tmp / "snapkeep.conf").string(), "backup", ""}),
            (std::set<std::string>{"home", "usb"}));
  EXPECT_EQ(complete({"snapkeep", "-c", (tmp / "snapkeep.conf").string(), "-q", "scrub", "u"}),
            (std::set<std::string>{"usb"}));

  // The installed units verify against the scratch root: --root resolves ExecStart's /usr/bin/snapkeep
  // and the units' dependencies inside it. The base system they need (targets, slices, logger) is
  // copied in from this machine, as the package would find it on any Debian system.
  for (const auto& entry : fs::directory_iterator("/lib/systemd/system")) {
    const std::string ext = entry.path().extension().string();
    if ((ext == ".target" || ext == ".slice") && entry.is_regular_file()) {
      provide(entry.path(), units / entry.path().filename());
    }
  }
  provide("/usr/bin/logger", root / "usr/bin/logger");
  std::vector<std::string> verify = {"systemd-analyze", "verify", "--root=" + root.string()};
  for (const char* unit : {"snapkeep-backup@.service", "snapkeep-backup@.timer", "snapkeep-scrub@.service",
                           "snapkeep-scrub@.timer", "snapkeep-notify@.service"}) {
    verify.push_back((units / unit).string());
  }
  // The plugged-in example, copied where docs/systemd.md says to put it.
  provide(root / "usr/share/doc/snapkeep/examples/snapkeep-plugged-usb.service",
          root / "etc/systemd/system/snapkeep-plugged-usb.service");
  verify.push_back((root / "etc/systemd/system/snapkeep-plugged-usb.service").string());
  RunResult verified = run(verify, man_env);
  EXPECT_EQ(verified.exit_code, 0) << verified.err;
  EXPECT_EQ(verified.err + verified.out, "");
  // And the check is real: without the binary the same verification fails.
  fs::remove(bin);
  RunResult missing = run(verify, man_env);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("/usr/bin/snapkeep is not executable"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace snapkeep::test
