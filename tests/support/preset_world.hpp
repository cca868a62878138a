#pragma once
// A test's world for CLI runs of one preset on a loop-mounted ext4 destination, and what tests ask
// of its preset folder: backdated histories, prune results, a valid `latest`.

#include <ctime>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/testutil.hpp"

namespace snapkeep::test {

// A test's world for CLI runs of preset "home": a TempDir with src/ and the config, and a loop-mounted
// ext4 destination of `dest_mib` MiB (check dest.ok() first).
struct PresetWorld {
  explicit PresetWorld(unsigned dest_mib);
  // (Re)writes the config for preset "home": source src, destination the loop mount, then `extra`.
  void write_config(const std::string& extra = "") const;
  // Runs `snapkeep -c CONFIG args...`.
  RunResult cli(std::vector<std::string> args) const;
  // `snapkeep --json args...`, parsed, with the exit status checked (stderr into *err when given).
  nlohmann::json cli_json(std::vector<std::string> args, int expected_exit = 0, std::string* err = nullptr) const;
  // A `--json backup` that must succeed (exit 0, status "ok"); returns its JSON entry for the preset.
  nlohmann::json backup_entry() const;
  // backup_entry()'s new snapshot id ("" after a failure).
  std::string backup_id() const;
  fs::path snap(const std::string& id) const { return preset_dir / id; }
  // The time record of snapshot `id` (.snapkeep/snapshots/ID).
  fs::path record(const std::string& id) const { return preset_dir / ".snapkeep" / "snapshots" / id; }

  TempDir tmp;
  LoopFs dest;
  fs::path src;
  fs::path config;
  fs::path preset_dir;
};

// The snapshot id naming local time `t`.
std::string id_for(std::time_t t);

// Moves snapkeep-made snapshots of `w` into the past: renames each (hard links untouched) to the id of
// base + i*step, writes its time record, and points `latest` at the last. Returns the new ids.
// Tests that are not about the clock use this so that retention sees a settled history.
std::vector<std::string> backdate(const PresetWorld& w, const std::vector<std::string>& ids, std::time_t base,
                                  std::time_t step);

// The entries of a `prune --json` document's only preset, by id (its status must be "ok").
std::map<std::string, nlohmann::json> prune_entries(const nlohmann::json& doc);

// Asserts PRESET_DIR/latest is a symlink naming an existing snapshot folder; returns its target
// ("" and a test failure when it is not a symlink).
std::string expect_latest_valid(const fs::path& preset_dir);

}  // namespace snapkeep::test
