#pragma once
// A preset whose source and destination are plain folders in a TempDir, backed up with the
// FakeBackend: the world of the backup, prune and free-space flow tests that run without root.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/backup/backup.hpp"
#include "core/config/config.hpp"
#include "tests/support/fake_backend.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {

// Preset `name` with source TMP/src (a few files) and destination TMP/dest, and its fake backend.
struct FakeWorld {
  explicit FakeWorld(const std::string& name = "home");

  // DEST/<preset>.
  fs::path preset_dir() const { return preset.preset_dir(); }
  fs::path snap(const std::string& id) const { return preset_dir() / id; }
  // run_backup with the fake; the lock it returns is released at once.
  Result<BackupOutcome> backup(const BackupOptions& options = {});
  // A backup that must succeed; returns its id ("" and a test failure otherwise).
  std::string backup_ok();
  // Ids of the complete snapshots, oldest first.
  std::vector<std::string> ids() const;
  // Where `latest` points ("" when it is missing).
  std::string latest() const;
  // A new version of the source: round.txt says `round` (with an mtime of its own), and
  // unique.bin holds `unique_bytes` bytes that no other round has.
  void change_source(int round, std::size_t unique_bytes = 0);

  TempDir tmp;
  fs::path src;
  fs::path dest;
  Preset preset;
  FakeBackend backend;
};

}  // namespace snapkeep::test
