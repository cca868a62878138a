#pragma once
// The full-destination suite's world (tests/fault/test_full_disk.cpp): taking the free blocks or
// inodes of a filesystem with files outside any preset and giving measured amounts back, and one
// destination per backend that remembers the source state each of its snapshots was made from and
// checks SPEC §4 after every run.

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/file_probes.hpp"
#include "tests/support/testutil.hpp"
#include "tests/support/tree_state.hpp"

namespace snapkeep::test::fault {

inline constexpr std::uint64_t k_full_mib = 1024 * 1024;

// Files in a folder of their own (outside every preset: snapkeep must never touch them) that take
// the free blocks or inodes of a filesystem and give measured amounts back.
class Filler {
 public:
  explicit Filler(std::filesystem::path dir);

  // Allocates files of `chunk` bytes until the filesystem refuses one, then of half that size and
  // so on down to 1 KiB: afterwards not one more block can be allocated. With no inode left, the
  // newest filler file grows instead. Returns the bytes taken.
  std::uint64_t take_blocks(std::uint64_t chunk);

  // Creates empty files until no inode is left (creat fails with ENOSPC). Returns how many.
  std::uint64_t take_inodes();

  // Deletes filler data, smallest files first, until at least `bytes` are free again; returns the
  // bytes given back (at most one `chunk` of take_blocks more than asked).
  std::uint64_t give_bytes(std::uint64_t bytes);

  // Deletes `count` of the empty filler files.
  void give_inodes(std::uint64_t count);

  // Deletes every filler file.
  void give_all();

  const std::filesystem::path& dir() const { return m_dir; }

 private:
  // Allocates `size` more bytes in a new filler file (or at the end of the newest one when no
  // inode is left); returns the bytes allocated, 0 when the filesystem refused.
  std::uint64_t allocate(std::uint64_t size);

  std::filesystem::path m_dir;
  std::uint64_t m_next = 0;
  std::vector<std::pair<std::filesystem::path, std::uint64_t>> m_blocks;  // file, allocated bytes
  std::vector<std::filesystem::path> m_inodes;
};

// ---------------------------------------------------------------------------------------------
// A destination per backend

enum class FullKind { rsync, native, btrfs_send, btrfs_plain };

// Hard-link trees on ext4 (both engines of the hard-link backend).
inline bool hard_links(FullKind kind) {
  return kind == FullKind::rsync || kind == FullKind::native;
}

// "rsync", "btrfs_send" or "btrfs_plain".
std::string kind_name(FullKind kind);

// The parsed result of one `snapkeep -v --json backup`.
struct FullRun {
  int exit_code = -1;
  std::string out;
  std::string err;
  nlohmann::json preset = nlohmann::json::object();  // presets[0]; empty when stdout was not the expected JSON
  std::string status;
  std::string id;
  std::uint64_t bytes_transferred = 0;
};

// What a test saw, printed as one FULLDISK line for docs/reliability.md.
struct FullCounters {
  int failed_runs = 0;        // backups that met ENOSPC and failed (exit 1)
  int manifest_failures = 0;  // backups whose manifest met ENOSPC (exit 1, the snapshot kept)
  int snapshots_checked = 0;  // snapshot trees compared with their source state
  int data_lost = 0;          // snapshots missing, changed or not read-only (must stay 0)
};

// A destination filesystem for one backend with its source, its config, a filler outside the
// preset, and the source state each snapshot was made from.
//  rsync: ext4 destination, source folder in a TempDir.
//  btrfs_send: btrfs destination, source subvolume on a btrfs of its own (its snapshots beside it).
//  btrfs_plain: btrfs destination, source folder in a TempDir (rsync --inplace into .snapkeep/current).
class FullWorld {
 public:
  // dest_mib: size of the destination; ext4 is made with -m 0 (no root reserve) plus ext4_extra.
  FullWorld(FullKind kind, unsigned dest_mib, const std::vector<std::string>& ext4_extra = {},
            const std::string& config_extra = "");

  bool ready() const { return m_ready; }
  const std::filesystem::path& src() const { return m_src; }
  std::filesystem::path dest() const { return m_dest->mount_point(); }
  std::filesystem::path snap(const std::string& id) const { return m_preset_dir / id; }
  std::filesystem::path manifest(const std::string& id) const { return m_preset_dir / ".snapkeep" / "manifests" / id; }
  Filler& filler() { return *m_filler; }
  const std::vector<std::string>& order() const { return m_order; }
  FullCounters& counters() { return m_counters; }

  // (Re)writes the config: the backend of this kind, then `extra`.
  void write_config(const std::string& extra) const;

  // `snapkeep -c CONFIG args...`.
  RunResult cli(std::vector<std::string> args) const;

  // One `snapkeep -v --json backup`, parsed.
  FullRun backup() const;

  // A backup that must succeed and add one snapshot equal to the source, sharing the storage of
  // unchanged files with the snapshot before it (when there is one), with its manifest.
  FullRun backup_ok(const std::string& what);

  // A backup whose snapshot is made but whose manifest cannot be written: exit 1 and status
  // "failed", yet the snapshot is there, complete, incremental and `latest` (nothing is lost).
  FullRun backup_without_manifest(const std::string& what);

  // The source as a snapshot made now must hold it.
  TreeState source_state();

  // Takes the snapshot of a successful run `b` as made from `state`, and checks that it is
  // incremental against the snapshot before it and that the destination is as it must be.
  void adopt(const FullRun& b, const TreeState& state, const std::string& what);

  // A backup that must fail because the destination is full, and leave everything as it was:
  // exit 1, "the destination DEST is full" on stderr and in the JSON error, status "failed", no new
  // snapshot, every snapshot still equal to its source state, latest unchanged, no record of the
  // unfinished snapshot, no leftover work. Returns the run for more checks.
  FullRun backup_fails_full(const std::string& what);

  // Everything SPEC §4 says about the destination now: exactly the snapshots made so far, each
  // equal to the source state that made it (read-only on btrfs), latest naming the newest, `list`
  // showing them, records and manifests only of them, and no work left but the allowed.
  void check_destination(const std::string& when);

  // Unchanged files share storage with the snapshot before: the same inode (rsync), the same
  // extents (btrfs plain source); btrfs send: an incremental send from that snapshot carrying
  // no more than the changed data.
  void expect_incremental(const std::string& prev_id, const FullRun& next);

 private:
  // Snapshot `id` equals the source state that made it (and is read-only on btrfs).
  void expect_snapshot_equal(const std::string& id);

  FullKind m_kind;
  TempDir m_tmp;
  std::unique_ptr<LoopFs> m_src_fs;  // btrfs_send only
  std::unique_ptr<LoopFs> m_dest;
  std::unique_ptr<Filler> m_filler;
  std::filesystem::path m_src;
  std::filesystem::path m_source_snapshots;
  std::filesystem::path m_preset_dir;
  std::filesystem::path m_config;
  bool m_ready = false;
  HashCache m_cache;
  std::map<std::string, TreeState> m_expected;  // id -> the source state that made it
  std::vector<std::string> m_order;             // ids in the order they were made
  FullCounters m_counters;
};

}  // namespace snapkeep::test::fault
