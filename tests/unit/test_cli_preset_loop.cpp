// Unit tests of the one preset loop every command runs (cli/output: run_presets), driving backups
// with fake backends without root: a failing preset does not stop the others, a locked one is
// exit 3 and marked, the most serious status wins, and --json holds one entry per preset.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/output.hpp"
#include "core/backup/backup.hpp"
#include "core/base/log.hpp"
#include "core/store/lock.hpp"
#include "tests/support/fake_backend.hpp"
#include "tests/support/fake_world.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

// Presets "a", "b" and "c", each a FakeWorld of its own, and a backup step for run_presets.
struct ThreeWorlds {
  ThreeWorlds() {
    // Logs on stderr, as the CLI has them: stdout holds the JSON document only. Once per process.
    static const bool k_logging = (setup_logging(0), true);
    (void)k_logging;
    for (const char* name : {"a", "b", "c"}) {
      worlds.emplace(name, std::make_unique<FakeWorld>(name));
      config.presets.push_back(worlds.at(name)->preset);
    }
  }
  // Runs the loop over `names` (all when empty) with --json; the JSON document into *doc.
  int run(const std::vector<std::string>& names, nlohmann::json* doc) {
    cli::GlobalOptions global;
    global.json = true;
    ::testing::internal::CaptureStdout();
    int status =
        cli::run_presets(global, config, names, [&](const Preset& preset, nlohmann::json& entry) -> Result<ExitStatus> {
          FakeWorld& w = *worlds.at(preset.name);
          SNAPKEEP_TRY_ASSIGN(BackupRun run, backup_preset(preset, w.backend, BackupOptions{}, nullptr));
          entry["status"] = "ok";
          entry["snapshot"] = run.outcome.snapshot_id;
          return ExitStatus::ok;
        });
    std::string out = ::testing::internal::GetCapturedStdout();
    *doc = nlohmann::json::parse(out, nullptr, false);
    EXPECT_FALSE(doc->is_discarded()) << out;
    return status;
  }

  std::map<std::string, std::unique_ptr<FakeWorld>> worlds;
  Config config;
};

TEST(PresetLoop, AFailingPresetDoesNotStopTheOthers) {
  ThreeWorlds t;
  t.worlds.at("a")->backend.faults().at[FakeStep::copy_midway] = FakeAction::fail;
  nlohmann::json doc;
  EXPECT_EQ(t.run({}, &doc), 1);
  ASSERT_EQ(doc["presets"].size(), 3u) << doc.dump();
  EXPECT_EQ(doc["presets"][0].value("name", ""), "a");
  EXPECT_EQ(doc["presets"][0].value("status", ""), "failed");
  EXPECT_NE(doc["presets"][0].value("error", "").find("failed on purpose"), std::string::npos) << doc.dump();
  for (int i : {1, 2}) {
    EXPECT_EQ(doc["presets"][i].value("status", ""), "ok") << doc.dump();
    std::string name = doc["presets"][i].value("name", "");
    EXPECT_EQ(t.worlds.at(name)->ids(), std::vector<std::string>{doc["presets"][i].value("snapshot", "")});
  }
  EXPECT_TRUE(t.worlds.at("a")->ids().empty());
}

TEST(PresetLoop, ALockedPresetIsExitThreeAndMarkedAndAFailureIsWorse) {
  ThreeWorlds t;
  FakeWorld& b = *t.worlds.at("b");
  b.backup_ok();
  auto held = PresetLock::acquire(b.preset_dir() / ".snapkeep", "b", false);
  ASSERT_TRUE(held.ok());
  nlohmann::json doc;
  EXPECT_EQ(t.run({"b"}, &doc), 3);
  ASSERT_EQ(doc["presets"].size(), 1u) << doc.dump();
  EXPECT_EQ(doc["presets"][0].value("locked", false), true) << doc.dump();
  EXPECT_EQ(b.backend.calls().create_snapshot, 1) << "a locked preset was backed up";

  t.worlds.at("c")->backend.faults().at[FakeStep::copy_started] = FakeAction::fail;
  EXPECT_EQ(t.run({"b", "c"}, &doc), 1) << "a failure is more serious than a held lock";
  ASSERT_EQ(doc["presets"].size(), 2u) << doc.dump();
  EXPECT_EQ(doc["presets"][0].value("name", ""), "b");
  EXPECT_EQ(doc["presets"][1].value("status", ""), "failed");
}

}  // namespace
}  // namespace snapkeep::test
