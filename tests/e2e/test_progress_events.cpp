// End-to-end tests of --progress-fd (docs/usage.md#progress-events): a JSON-lines stream of its
// own for backup, scrub, prune and restore; events come as work is reported and their counters
// only grow; stdout keeps its one JSON document and the log has no events.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/testutil.hpp"

extern char** environ;

namespace snapkeep::test {
namespace {

using nlohmann::json;

// A run whose descriptor 3 is a file: stdout, stderr and the events, each read back.
struct EventRun {
  int exit_code = -1;
  std::string out;
  std::string err;
  std::vector<json> events;
  std::string events_text;
};

EventRun run_with_events(const TempDir& tmp, const std::vector<std::string>& args) {
  const fs::path out = tmp / "run.out";
  const fs::path err = tmp / "run.err";
  const fs::path events = tmp / "run.events";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 3, events.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> argv_text{snapkeep_binary().string()};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_text) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  pid_t pid = 0;
  EventRun r;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
    ADD_FAILURE() << "cannot start snapkeep";
    return r;
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  r.events_text = read_file(events);
  std::ifstream in(events);
  std::string line;
  while (std::getline(in, line)) {
    json event = json::parse(line, nullptr, false);
    EXPECT_FALSE(event.is_discarded()) << "not one JSON object per line: " << line;
    r.events.push_back(event);
  }
  return r;
}

// Start first, end last with `status`, for `operation`; the counters of every event only grow.
// Returns the number of progress events.
std::size_t check_stream(const EventRun& r, const std::string& operation, const std::string& status) {
  EXPECT_GE(r.events.size(), 2U) << r.events_text << r.err;
  if (r.events.size() < 2) {
    return 0;
  }
  EXPECT_EQ(r.events.front()["event"], "start");
  EXPECT_EQ(r.events.back()["event"], "end");
  EXPECT_EQ(r.events.back()["status"], status);
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  double elapsed = 0;
  std::size_t progress = 0;
  for (const auto& e : r.events) {
    EXPECT_EQ(e["operation"], operation) << e.dump();
    EXPECT_EQ(e["preset"], "home") << e.dump();
    EXPECT_GE(e["files"].get<std::uint64_t>(), files) << e.dump();
    EXPECT_GE(e["bytes"].get<std::uint64_t>(), bytes) << e.dump();
    EXPECT_GE(e["elapsed"].get<double>(), elapsed) << e.dump();
    files = e["files"].get<std::uint64_t>();
    bytes = e["bytes"].get<std::uint64_t>();
    elapsed = e["elapsed"].get<double>();
    if (e["event"] == "progress") {
      ++progress;
      EXPECT_TRUE(e["message"].is_string());
    }
  }
  // Never in the log, never on stdout.
  EXPECT_EQ(r.err.find("\"event\""), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("\"event\""), std::string::npos) << r.out;
  return progress;
}

struct ProgressWorld {
  ProgressWorld() {
    src = tmp / "src";
    dest = tmp / "dest";
    fs::create_directories(dest);
    for (int d = 0; d < 10; ++d) {
      for (int f = 0; f < 100; ++f) {
        write_file(src / ("d" + std::to_string(d)) / ("f" + std::to_string(f)), std::string(100 + f, 'a' + d % 26));
      }
    }
    config = write_preset_config(tmp / "c.ini", "home", src, dest, "keep = 1\n");
  }
  EventRun run(std::vector<std::string> args) const {
    args.insert(args.begin(), {"-c", config.string(), "--progress-fd", "3", "--progress-interval", "0"});
    return run_with_events(tmp, args);
  }
  TempDir tmp;
  fs::path src;
  fs::path dest;
  fs::path config;
};

TEST(ProgressEvents, BackupStreamsGrowingCountersBesideItsJsonDocument) {
  ProgressWorld w;
  EventRun r = w.run({"--json", "backup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::size_t progress = check_stream(r, "backup", "ok");
  EXPECT_GE(progress, 4U) << r.events_text;  // 1000 files: the engine reports every 256 entries
  EXPECT_GE(r.events.back()["files"].get<std::uint64_t>(), 1000U);
  EXPECT_GT(r.events.back()["bytes"].get<std::uint64_t>(), 1000U * 100U);
  json doc = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out;  // stdout is still exactly one JSON document
  EXPECT_EQ(doc["presets"][0]["status"], "ok");
}

TEST(ProgressEvents, ScrubPruneAndRestoreStreamToo) {
  ProgressWorld w;
  ASSERT_EQ(w.run({"backup"}).exit_code, 0);
  write_file(w.src / "d0" / "new", "changed");
  // The second backup prunes the first (keep = 1): copy, manifest and deletion in one run.
  EventRun second = w.run({"backup"});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  check_stream(second, "backup", "ok");

  EventRun scrub = w.run({"scrub"});
  ASSERT_EQ(scrub.exit_code, 0) << scrub.err;
  EXPECT_GE(check_stream(scrub, "scrub", "ok"), 1U);
  EXPECT_GT(scrub.events.back()["bytes"].get<std::uint64_t>(), 0U);

  write_file(w.src / "d1" / "newer", "changed again");
  ASSERT_EQ(w.run({"backup"}).exit_code, 0);
  fs::remove_all(w.tmp / "c.ini");
  w.config = write_preset_config(w.tmp / "c.ini", "home", w.src, w.dest, "keep = 1\n");
  EventRun prune = w.run({"prune"});
  ASSERT_EQ(prune.exit_code, 0) << prune.err;
  check_stream(prune, "prune", "ok");

  EventRun restore = w.run({"restore", "home", "latest", "--to", (w.tmp / "restored").string()});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  check_stream(restore, "restore", "ok");
  EXPECT_TRUE(fs::exists(w.tmp / "restored" / "d1" / "newer"));
}

TEST(ProgressEvents, TheDefaultIntervalStillFramesEveryPreset) {
  ProgressWorld w;
  EventRun r = run_with_events(w.tmp, {"-c", w.config.string(), "-q", "--progress-fd", "3", "backup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  check_stream(r, "backup", "ok");
  EXPECT_EQ(r.out, "");  // -q silences stdout, not the event stream
}

TEST(ProgressEvents, AFailedPresetEndsWithItsStatus) {
  ProgressWorld w;
  fs::remove_all(w.src);
  EventRun r = w.run({"backup"});
  EXPECT_EQ(r.exit_code, 1);
  check_stream(r, "backup", "failed");
}

TEST(ProgressEvents, ADescriptorNotOpenIsAUsageError) {
  ProgressWorld w;
  auto r = snapkeep({"-c", w.config.string(), "--progress-fd", "57", "backup"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--progress-fd 57"), std::string::npos) << r.err;
  EXPECT_TRUE(snapshot_ids(w.dest / "home").empty());
}

}  // namespace
}  // namespace snapkeep::test
