#include "tests/support/fake_world.hpp"

#include <gtest/gtest.h>

#include "core/store/catalog.hpp"
#include "tests/support/file_probes.hpp"

namespace snapkeep::test {

FakeWorld::FakeWorld(const std::string& name) {
  src = tmp / "src";
  dest = tmp / "dest";
  fs::create_directories(dest);
  write_file(src / "stable.txt", "the same every time\n");
  write_random_file(src / "data" / "stable.bin", 20000, 99);
  preset.name = name;
  preset.source = src;
  preset.destination = dest;
  preset.origin = "fake_world:1";
  preset.require_mount = false;  // plain folders on the system disk, as a user would allow them
  change_source(0);
}

Result<BackupOutcome> FakeWorld::backup(const BackupOptions& options) {
  auto outcome = run_backup(preset, backend, options);
  if (outcome) {
    outcome->lock.reset();
  }
  return outcome;
}

std::string FakeWorld::backup_ok() {
  auto outcome = backup();
  if (!outcome) {
    ADD_FAILURE() << "backup failed: " << outcome.error().describe();
    return {};
  }
  EXPECT_TRUE(fs::is_directory(snap(outcome->snapshot_id))) << outcome->snapshot_id;
  return outcome->snapshot_id;
}

std::vector<std::string> FakeWorld::ids() const {
  std::vector<std::string> out;
  auto snapshots = list_snapshots(preset_dir());
  EXPECT_TRUE(snapshots.ok()) << (snapshots ? "" : snapshots.error().describe());
  if (snapshots) {
    for (const auto& s : *snapshots) {
      out.push_back(s.id);
    }
  }
  return out;
}

std::string FakeWorld::latest() const {
  return read_latest(preset_dir()).value_or("");
}

void FakeWorld::change_source(int round, std::size_t unique_bytes) {
  write_file(src / "round.txt", "round " + std::to_string(round) + "\n");
  set_mtime(src / "round.txt", 1700000000 + round);
  std::error_code ec;
  fs::remove(src / "unique.bin", ec);
  if (unique_bytes > 0) {
    write_random_file(src / "unique.bin", unique_bytes, 1000 + static_cast<unsigned>(round));
  }
}

}  // namespace snapkeep::test
