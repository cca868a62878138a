#pragma once
// Helpers for the full-destination suite (tests/fault/test_full_disk.cpp): taking the free blocks
// or inodes of a filesystem with files outside any preset and giving measured amounts back, free
// room as statvfs reports it, and one destination per backend that remembers the source state
// each of its snapshots was made from and checks SPEC §4 after every run. Header-only so no CMake
// change is needed.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/fault/fault_util.hpp"
#include "tests/fault/source_tree.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test::fault {

inline constexpr std::uint64_t k_full_mib = 1024 * 1024;

// Free room of the filesystem holding `path`, after flushing everything: bytes a run may still
// allocate (f_bavail; the suite makes ext4 with -m 0, so root has no reserve beyond it) and inodes.
struct Room {
  std::uint64_t bytes = 0;
  std::uint64_t inodes = 0;
};

inline Room room_of(const std::filesystem::path& path) {
  ::sync();
  struct statvfs sv {};
  EXPECT_EQ(::statvfs(path.c_str(), &sv), 0) << "statvfs " << path << ": " << std::strerror(errno);
  return {static_cast<std::uint64_t>(sv.f_bavail) * sv.f_frsize, static_cast<std::uint64_t>(sv.f_favail)};
}

// Allocated bytes of one file (st_blocks), 0 when it is gone.
inline std::uint64_t allocated_bytes(const std::filesystem::path& file) {
  struct stat st {};
  return ::lstat(file.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_blocks) * 512 : 0;
}

// Files in a folder of their own (outside every preset: snapkeep must never touch them) that take
// the free blocks or inodes of a filesystem and give measured amounts back.
class Filler {
 public:
  explicit Filler(std::filesystem::path dir) : m_dir(std::move(dir)) { std::filesystem::create_directories(m_dir); }

  // Allocates files of `chunk` bytes until the filesystem refuses one, then of half that size and
  // so on down to 1 KiB: afterwards not one more block can be allocated. With no inode left, the
  // newest filler file grows instead. Returns the bytes taken.
  std::uint64_t take_blocks(std::uint64_t chunk) {
    std::uint64_t taken = 0;
    for (std::uint64_t size = chunk; size >= 1024; size /= 2) {
      while (std::uint64_t bytes = allocate(size)) {
        taken += bytes;
      }
    }
    ::sync();
    return taken;
  }

  // Creates empty files until no inode is left (creat fails with ENOSPC). Returns how many.
  std::uint64_t take_inodes() {
    std::uint64_t taken = 0;
    for (;;) {
      std::filesystem::path file = m_dir / ("i" + std::to_string(m_next++));
      int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0) {
        EXPECT_EQ(errno, ENOSPC) << "creating the filler " << file << ": " << std::strerror(errno);
        break;
      }
      ::close(fd);
      m_inodes.push_back(file);
      ++taken;
    }
    ::sync();
    return taken;
  }

  // Deletes filler data, smallest files first, until at least `bytes` are free again; returns the
  // bytes given back (at most one `chunk` of take_blocks more than asked).
  std::uint64_t give_bytes(std::uint64_t bytes) {
    std::uint64_t given = 0;
    while (given < bytes && !m_blocks.empty()) {
      given += m_blocks.back().second;
      ::unlink(m_blocks.back().first.c_str());
      m_blocks.pop_back();
    }
    EXPECT_GE(given, bytes) << "the filler holds less than asked for";
    ::sync();
    return given;
  }

  // Deletes `count` of the empty filler files.
  void give_inodes(std::uint64_t count) {
    for (; count > 0 && !m_inodes.empty(); --count) {
      ::unlink(m_inodes.back().c_str());
      m_inodes.pop_back();
    }
    EXPECT_EQ(count, 0u) << "the filler holds fewer inodes than asked for";
    ::sync();
  }

  // Deletes every filler file.
  void give_all() {
    give_inodes(m_inodes.size());
    for (const auto& [file, bytes] : m_blocks) {
      ::unlink(file.c_str());
    }
    m_blocks.clear();
    ::sync();
  }

  const std::filesystem::path& dir() const { return m_dir; }

 private:
  // Allocates `size` more bytes in a new filler file (or at the end of the newest one when no
  // inode is left); returns the bytes allocated, 0 when the filesystem refused.
  std::uint64_t allocate(std::uint64_t size) {
    std::filesystem::path file = m_dir / ("b" + std::to_string(m_next++));
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    bool grow = fd < 0 && errno == ENOSPC && !m_blocks.empty();
    if (fd < 0 && !grow) {
      EXPECT_EQ(errno, ENOSPC) << "creating the filler " << file << ": " << std::strerror(errno);
      return 0;
    }
    off_t offset = 0;
    if (grow) {
      file = m_blocks.back().first;
      fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
      struct stat st {};
      if (fd < 0 || ::fstat(fd, &st) != 0) {
        ADD_FAILURE() << "reopening the filler " << file << ": " << std::strerror(errno);
        return 0;
      }
      offset = st.st_size;
    }
    int rc = ::posix_fallocate(fd, offset, static_cast<off_t>(size));
    if (rc != 0) {
      EXPECT_EQ(rc, ENOSPC) << "posix_fallocate " << file << ": " << std::strerror(rc);
      // A partial allocation goes back; the smaller sizes take it.
      if (grow) {
        EXPECT_EQ(::ftruncate(fd, offset), 0) << file;
      } else {
        ::unlink(file.c_str());
      }
      ::close(fd);
      return 0;
    }
    ::close(fd);
    std::uint64_t bytes = allocated_bytes(file);
    if (!grow) {
      m_blocks.push_back({file, bytes});
      return bytes;
    }
    std::uint64_t added = bytes - m_blocks.back().second;
    m_blocks.back().second = bytes;
    return added;
  }

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

inline std::string kind_name(FullKind kind) {
  switch (kind) {
    case FullKind::rsync: return "rsync";
    case FullKind::native: return "native";
    case FullKind::btrfs_send: return "btrfs_send";
    case FullKind::btrfs_plain: return "btrfs_plain";
  }
  return "?";
}

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
//  rsync, native: ext4 destination, source folder in a TempDir (transfer = rsync or native).
//  btrfs_send: btrfs destination, source subvolume on a btrfs of its own (its snapshots beside it).
//  btrfs_plain: btrfs destination, source folder in a TempDir (rsync --inplace into .snapkeep/current).
class FullWorld {
 public:
  // dest_mib: size of the destination; ext4 is made with -m 0 (no root reserve) plus ext4_extra.
  FullWorld(FullKind kind, unsigned dest_mib, const std::vector<std::string>& ext4_extra = {},
            const std::string& config_extra = "")
      : m_kind(kind) {
    if (hard_links(kind)) {
      std::vector<std::string> extra{"-m", "0"};
      extra.insert(extra.end(), ext4_extra.begin(), ext4_extra.end());
      m_dest = std::make_unique<LoopFs>("ext4", dest_mib, extra);
    } else {
      m_dest = std::make_unique<LoopFs>("btrfs", dest_mib);
    }
    if (!m_dest->ok()) {
      return;
    }
    if (kind == FullKind::btrfs_send) {
      m_src_fs = std::make_unique<LoopFs>("btrfs", 160);
      if (!m_src_fs->ok()) {
        return;
      }
      m_src = m_src_fs->mount_point() / "src";
      if (run_ok({"btrfs", "subvolume", "create", "--", m_src.string()}).exit_code != 0) {
        return;
      }
      m_source_snapshots = m_src_fs->mount_point() / ".snapkeep-snapshots" / "home";
    } else {
      m_src = m_tmp / "src";
      std::filesystem::create_directories(m_src);
    }
    m_preset_dir = m_dest->mount_point() / "home";
    m_config = m_tmp / "snapkeep.ini";
    write_config(config_extra);
    m_filler = std::make_unique<Filler>(m_dest->mount_point() / "filler");
    m_ready = true;
  }

  bool ready() const { return m_ready; }
  const std::filesystem::path& src() const { return m_src; }
  std::filesystem::path dest() const { return m_dest->mount_point(); }
  std::filesystem::path snap(const std::string& id) const { return m_preset_dir / id; }
  std::filesystem::path manifest(const std::string& id) const { return m_preset_dir / ".snapkeep" / "manifests" / id; }
  Filler& filler() { return *m_filler; }
  const std::vector<std::string>& order() const { return m_order; }
  FullCounters& counters() { return m_counters; }

  void write_config(const std::string& extra) const {
    std::string lines = m_kind == FullKind::rsync    ? "backend = rsync\ntransfer = rsync\n"
                        : m_kind == FullKind::native ? "backend = rsync\ntransfer = native\n"
                                                     : "backend = btrfs\n";
    write_preset_config(m_config, "home", m_src, m_dest->mount_point(), lines + extra);
  }

  // `snapkeep -c CONFIG args...`.
  RunResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {"-c", m_config.string()});
    return snapkeep(args);
  }

  // One `snapkeep -v --json backup`, parsed.
  FullRun backup() const {
    FullRun b;
    RunResult r = cli({"-v", "--json", "backup"});
    b.exit_code = r.exit_code;
    b.out = r.out;
    b.err = r.err;
    auto doc = nlohmann::json::parse(b.out, nullptr, false);
    if (!doc.is_discarded() && doc.contains("presets") && doc["presets"].size() == 1) {
      b.preset = doc["presets"][0];
      b.status = b.preset.value("status", "");
      b.id = b.preset.value("snapshot", "");
      b.bytes_transferred = b.preset.value("bytes_transferred", std::uint64_t{0});
    }
    return b;
  }

  // A backup that must succeed and add one snapshot equal to the source, sharing the storage of
  // unchanged files with the snapshot before it (when there is one), with its manifest.
  FullRun backup_ok(const std::string& what) {
    SCOPED_TRACE(what);
    TreeState state = source_state();
    FullRun b = backup();
    EXPECT_EQ(b.exit_code, 0) << what << " failed\nstdout:\n" << b.out << "\nstderr:\n" << b.err;
    EXPECT_EQ(b.status, "ok") << b.out;
    EXPECT_EQ(b.preset.value("manifest_ok", false), true) << b.out;
    adopt(b, state, what);
    return b;
  }

  // A backup whose snapshot is made but whose manifest cannot be written: exit 1 and status
  // "failed", yet the snapshot is there, complete, incremental and `latest` (nothing is lost).
  FullRun backup_without_manifest(const std::string& what) {
    SCOPED_TRACE(what);
    TreeState state = source_state();
    FullRun b = backup();
    ++m_counters.manifest_failures;
    EXPECT_EQ(b.exit_code, 1) << what << "\nstdout:\n" << b.out << "\nstderr:\n" << b.err;
    EXPECT_EQ(b.status, "failed") << b.out;
    EXPECT_EQ(b.preset.value("manifest_ok", true), false) << "the manifest fitted after all: " << b.out;
    adopt(b, state, what);
    return b;
  }

  // The source as a snapshot made now must hold it.
  TreeState source_state() { return describe_tree(m_src, m_cache); }

  // Takes the snapshot of a successful run `b` as made from `state`, and checks that it is
  // incremental against the snapshot before it and that the destination is as it must be.
  void adopt(const FullRun& b, const TreeState& state, const std::string& what) {
    if (b.id.empty() || !std::filesystem::is_directory(snap(b.id))) {
      return;
    }
    EXPECT_EQ(m_expected.count(b.id), 0u) << "the id " << b.id << " was used twice";
    m_expected[b.id] = state;
    m_order.push_back(b.id);
    if (m_order.size() >= 2) {
      expect_incremental(m_order[m_order.size() - 2], b);
    }
    check_destination(what);
  }

  // A backup that must fail because the destination is full, and leave everything as it was:
  // exit 1, "the destination DEST is full" on stderr and in the JSON error, status "failed", no new
  // snapshot, every snapshot still equal to its source state, latest unchanged, no record of the
  // unfinished snapshot, no leftover work. Returns the run for more checks.
  FullRun backup_fails_full(const std::string& what) {
    SCOPED_TRACE(what);
    FullRun b = backup();
    ++m_counters.failed_runs;
    std::string full = "the destination " + m_dest->mount_point().string() + " is full";
    EXPECT_EQ(b.exit_code, 1) << what << "\nstdout:\n" << b.out << "\nstderr:\n" << b.err;
    EXPECT_NE(b.err.find(full), std::string::npos) << "stderr does not say '" << full << "':\n" << b.err;
    EXPECT_NE(b.err.find("No space left on device"), std::string::npos) << "the errno is lost:\n" << b.err;
    EXPECT_EQ(b.status, "failed") << b.out;
    EXPECT_NE(b.preset.value("error", "").find(full), std::string::npos) << b.out;
    EXPECT_TRUE(b.id.empty()) << "a failed run reports a snapshot: " << b.out;
    if (m_kind == FullKind::btrfs_send) {
      // A deleted receive frees its space in the background: wake the cleaner and wait for it, so
      // room measurements are exact.
      run_ok({"btrfs", "filesystem", "sync", "--", m_dest->mount_point().string()});
      run_ok({"btrfs", "subvolume", "sync", "--", m_dest->mount_point().string()});
    }
    check_destination(what);
    return b;
  }

  // Everything SPEC §4 says about the destination now: exactly the snapshots made so far, each
  // equal to the source state that made it (read-only on btrfs), latest naming the newest, `list`
  // showing them, records and manifests only of them, and no work left but the allowed.
  void check_destination(const std::string& when) {
    SCOPED_TRACE("destination " + when);
    std::vector<std::string> present = snapshot_ids(m_preset_dir);
    std::vector<std::string> made = m_order;
    std::sort(made.begin(), made.end());
    EXPECT_EQ(present, made) << "the snapshot folders are not the ones made";
    std::set<std::string> present_set(present.begin(), present.end());
    for (const auto& id : m_order) {
      if (present_set.count(id) == 0) {
        ++m_counters.data_lost;
        ADD_FAILURE() << "snapshot " << id << " is gone";
        continue;
      }
      expect_snapshot_equal(id);
    }
    if (!m_order.empty()) {
      std::error_code ec;
      std::filesystem::path target = std::filesystem::read_symlink(m_preset_dir / "latest", ec);
      EXPECT_FALSE(ec) << "latest is not a symlink: " << ec.message();
      EXPECT_EQ(target.string(), m_order.back()) << "latest does not name the newest snapshot";
      EXPECT_TRUE(std::filesystem::is_directory(m_preset_dir / target)) << "latest dangles";
    }
    RunResult list = cli({"--json", "list"});
    EXPECT_EQ(list.exit_code, 0) << list.err;
    auto doc = nlohmann::json::parse(list.out, nullptr, false);
    std::vector<std::string> listed;
    if (!doc.is_discarded() && doc.contains("presets") && doc["presets"].size() == 1) {
      for (const auto& s : doc["presets"][0]["snapshots"]) {
        listed.push_back(s.value("id", ""));
      }
    }
    EXPECT_EQ(listed, m_order) << "list does not show the snapshots made, oldest first:\n" << list.out;
    // Allowed in the preset folder: the snapshots, latest and .snapkeep; in .snapkeep: the lock,
    // records and manifests of the snapshots, scrub's state log (and `current` for a btrfs plain source).
    std::set<std::string> allowed(present.begin(), present.end());
    allowed.insert({".snapkeep", "latest"});
    expect_only(m_preset_dir, allowed);
    std::set<std::string> state_allowed{"lock", "snapshots", "manifests", "scrub-state"};
    if (m_kind == FullKind::btrfs_plain) {
      state_allowed.insert("current");
    }
    expect_only(m_preset_dir / ".snapkeep", state_allowed);
    EXPECT_EQ(names_in(m_preset_dir / ".snapkeep" / "snapshots"), std::set<std::string>(made.begin(), made.end()))
        << "records of unfinished snapshots are left, or records are missing";
    expect_only(m_preset_dir / ".snapkeep" / "manifests", std::set<std::string>(made.begin(), made.end()));
    if (m_kind == FullKind::btrfs_send) {
      // Source snapshots: only id-named ones, and only of snapshots that were made.
      expect_only(m_source_snapshots, std::set<std::string>(made.begin(), made.end()));
    }
  }

  // Unchanged files share storage with the snapshot before: the same inode (rsync), the same
  // extents (btrfs plain source); btrfs send: an incremental send from that snapshot carrying
  // no more than the changed data.
  void expect_incremental(const std::string& prev_id, const FullRun& next) {
    const TreeState& prev = m_expected[prev_id];
    const TreeState& now = m_expected[next.id];
    std::size_t compared = 0;
    std::vector<std::string> unshared;
    for (const auto& [path, e] : now) {
      auto it = prev.find(path);
      if (e.type != 'f' || it == prev.end() || !(it->second == e) || e.size == 0) {
        continue;
      }
      if (hard_links(m_kind)) {
        ++compared;
        if (inode_of(snap(prev_id) / path) != inode_of(snap(next.id) / path)) {
          unshared.push_back(path);
        }
      } else if (m_kind == FullKind::btrfs_plain && e.size >= 16 * k_kib) {
        ++compared;
        if (extents_of(snap(prev_id) / path) != extents_of(snap(next.id) / path)) {
          unshared.push_back(path);
        }
      }
    }
    EXPECT_TRUE(unshared.empty()) << unshared.size() << " of " << compared
                                  << " unchanged files do not share storage with snapshot " << prev_id << ", e.g. "
                                  << (unshared.empty() ? "" : unshared.front());
    if (m_kind != FullKind::btrfs_send) {
      EXPECT_GT(compared, 0u) << "nothing unchanged to compare: the test proves nothing about increments";
      return;
    }
    static const std::string key = "incremental send from parent ";
    auto pos = next.err.find(key);
    std::string parent = pos == std::string::npos ? "" : next.err.substr(pos + key.size(), prev_id.size());
    EXPECT_EQ(parent, prev_id) << "not an incremental send from the previous snapshot:\n" << next.err;
    std::uint64_t changed = changed_file_bytes(prev, now);
    EXPECT_LE(next.bytes_transferred, changed + 256 * k_kib)
        << "the send carried more than the changed data (" << changed << " bytes)";
  }

 private:
  void expect_snapshot_equal(const std::string& id) {
    ++m_counters.snapshots_checked;
    std::filesystem::path dir = snap(id);
    if (!hard_links(m_kind) && !is_read_only_subvolume(dir)) {
      ++m_counters.data_lost;
      ADD_FAILURE() << dir << " is not a read-only subvolume, so it may be unfinished";
    }
    TreeState actual = describe_tree(dir, m_cache);
    const TreeState& expected = m_expected[id];
    // btrfs receive leaves a received root with the receive's time when the root did not change
    // (see the crash-consistency suite); not snapkeep's doing.
    if (m_kind == FullKind::btrfs_send && actual.count(".") != 0 && expected.count(".") != 0) {
      actual["."].mtime = expected.at(".").mtime;
    }
    auto diffs = state_differences(expected, actual);
    if (!diffs.empty()) {
      ++m_counters.data_lost;
      ADD_FAILURE() << "snapshot " << dir << " is not the source state that made it:\n" << join_lines(diffs);
    }
  }

  static std::set<std::string> names_in(const std::filesystem::path& dir) {
    std::set<std::string> out;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      out.insert(entry.path().filename().string());
    }
    return out;
  }

  static void expect_only(const std::filesystem::path& dir, const std::set<std::string>& allowed) {
    for (const auto& name : names_in(dir)) {
      EXPECT_TRUE(allowed.count(name) != 0) << "left behind: " << (dir / name);
    }
  }

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
