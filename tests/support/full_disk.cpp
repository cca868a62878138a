#include "tests/support/full_disk.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/base/fd.hpp"
#include "tests/support/source_tree.hpp"
#include "tests/support/tree_compare.hpp"

namespace snapkeep::test::fault {
namespace {

// Asserts that `dir` holds nothing but names in `allowed`.
void expect_only(const std::filesystem::path& dir, const std::set<std::string>& allowed) {
  for (const auto& name : names_in(dir)) {
    EXPECT_TRUE(allowed.count(name) != 0) << "left behind: " << (dir / name);
  }
}

}  // namespace

Filler::Filler(std::filesystem::path dir) : m_dir(std::move(dir)) {
  std::filesystem::create_directories(m_dir);
}

std::uint64_t Filler::take_blocks(std::uint64_t chunk) {
  std::uint64_t taken = 0;
  for (std::uint64_t size = chunk; size >= 1024; size /= 2) {
    while (std::uint64_t bytes = allocate(size)) {
      taken += bytes;
    }
  }
  ::sync();
  return taken;
}

std::uint64_t Filler::take_inodes() {
  std::uint64_t taken = 0;
  for (;;) {
    std::filesystem::path file = m_dir / ("i" + std::to_string(m_next++));
    Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd) {
      EXPECT_EQ(errno, ENOSPC) << "creating the filler " << file << ": " << std::strerror(errno);
      break;
    }
    m_inodes.push_back(file);
    ++taken;
  }
  ::sync();
  return taken;
}

std::uint64_t Filler::give_bytes(std::uint64_t bytes) {
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

void Filler::give_inodes(std::uint64_t count) {
  for (; count > 0 && !m_inodes.empty(); --count) {
    ::unlink(m_inodes.back().c_str());
    m_inodes.pop_back();
  }
  EXPECT_EQ(count, 0u) << "the filler holds fewer inodes than asked for";
  ::sync();
}

void Filler::give_all() {
  give_inodes(m_inodes.size());
  for (const auto& [file, bytes] : m_blocks) {
    ::unlink(file.c_str());
  }
  m_blocks.clear();
  ::sync();
}

std::uint64_t Filler::allocate(std::uint64_t size) {
  std::filesystem::path file = m_dir / ("b" + std::to_string(m_next++));
  Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  bool grow = !fd && errno == ENOSPC && !m_blocks.empty();
  if (!fd && !grow) {
    EXPECT_EQ(errno, ENOSPC) << "creating the filler " << file << ": " << std::strerror(errno);
    return 0;
  }
  off_t offset = 0;
  if (grow) {
    file = m_blocks.back().first;
    fd.reset(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0) {
      ADD_FAILURE() << "reopening the filler " << file << ": " << std::strerror(errno);
      return 0;
    }
    offset = st.st_size;
  }
  int rc = ::posix_fallocate(fd.get(), offset, static_cast<off_t>(size));
  if (rc != 0) {
    EXPECT_EQ(rc, ENOSPC) << "posix_fallocate " << file << ": " << std::strerror(rc);
    // A partial allocation goes back; the smaller sizes take it.
    if (grow) {
      EXPECT_EQ(::ftruncate(fd.get(), offset), 0) << file;
    } else {
      ::unlink(file.c_str());
    }
    return 0;
  }
  fd.reset();
  std::uint64_t bytes = allocated_bytes(file);
  if (!grow) {
    m_blocks.push_back({file, bytes});
    return bytes;
  }
  std::uint64_t added = bytes - m_blocks.back().second;
  m_blocks.back().second = bytes;
  return added;
}

std::string kind_name(FullKind kind) {
  switch (kind) {
    case FullKind::rsync: return "rsync";
    case FullKind::native: return "native";
    case FullKind::btrfs_send: return "btrfs_send";
    case FullKind::btrfs_plain: return "btrfs_plain";
  }
  return "?";
}

FullWorld::FullWorld(FullKind kind, unsigned dest_mib, const std::vector<std::string>& ext4_extra,
                     const std::string& config_extra)
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

void FullWorld::write_config(const std::string& extra) const {
  write_preset_config(m_config, "home", m_src, m_dest->mount_point(),
                      std::string(m_kind == FullKind::rsync    ? "backend = rsync\ntransfer = rsync\n"
                                  : m_kind == FullKind::native ? "backend = rsync\ntransfer = native\n"
                                                               : "backend = btrfs\n") +
                          extra);
}

RunResult FullWorld::cli(std::vector<std::string> args) const {
  args.insert(args.begin(), {"-c", m_config.string()});
  return snapkeep(args);
}

FullRun FullWorld::backup() const {
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

FullRun FullWorld::backup_ok(const std::string& what) {
  SCOPED_TRACE(what);
  TreeState state = source_state();
  FullRun b = backup();
  EXPECT_EQ(b.exit_code, 0) << what << " failed\nstdout:\n" << b.out << "\nstderr:\n" << b.err;
  EXPECT_EQ(b.status, "ok") << b.out;
  EXPECT_EQ(b.preset.value("manifest_ok", false), true) << b.out;
  adopt(b, state, what);
  return b;
}

FullRun FullWorld::backup_without_manifest(const std::string& what) {
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

TreeState FullWorld::source_state() {
  return describe_tree(m_src, m_cache);
}

void FullWorld::adopt(const FullRun& b, const TreeState& state, const std::string& what) {
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

FullRun FullWorld::backup_fails_full(const std::string& what) {
  SCOPED_TRACE(what);
  FullRun b = backup();
  ++m_counters.failed_runs;
  std::string full = "the destination " + m_dest->mount_point().string() + " is full";
  EXPECT_EQ(b.exit_code, 1) << what << "\nstdout:\n" << b.out << "\nstderr:\n" << b.err;
  EXPECT_NE(b.err.find(full), std::string::npos) << "stderr does not say '" << full << "':\n" << b.err;
  EXPECT_NE(b.err.find("No space left on device"), std::string::npos) << "the errno is lost:\n" << b.err;
  EXPECT_NE(b.err.find("It had copied about "), std::string::npos) << "how far the copy got is not said:\n" << b.err;
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

void FullWorld::check_destination(const std::string& when) {
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
  // records and manifests of the snapshots, scrub's state log (and `current`, with the id of the
  // snapshot it equals, for a btrfs plain source).
  std::set<std::string> allowed(present.begin(), present.end());
  allowed.insert({".snapkeep", "latest"});
  expect_only(m_preset_dir, allowed);
  std::set<std::string> state_allowed{"lock", "snapshots", "manifests", "scrub-state", "preset", "history.jsonl"};
  if (m_kind == FullKind::btrfs_plain) {
    state_allowed.insert({"current", "current.snapshot"});
  }
  expect_only(m_preset_dir / ".snapkeep", state_allowed);
  // The history log a full drive could not take stays whole: every line one record, none torn.
  std::ifstream history(m_preset_dir / ".snapkeep" / "history.jsonl");
  for (std::string line; std::getline(history, line);) {
    EXPECT_TRUE(nlohmann::json::parse(line, nullptr, false).is_object()) << "a torn history line: " << line;
  }
  EXPECT_EQ(names_in(m_preset_dir / ".snapkeep" / "snapshots"), std::set<std::string>(made.begin(), made.end()))
      << "records of unfinished snapshots are left, or records are missing";
  expect_only(m_preset_dir / ".snapkeep" / "manifests", std::set<std::string>(made.begin(), made.end()));
  if (m_kind == FullKind::btrfs_send) {
    // Source snapshots: only id-named ones, and only of snapshots that were made.
    expect_only(m_source_snapshots, std::set<std::string>(made.begin(), made.end()));
  }
}

void FullWorld::expect_incremental(const std::string& prev_id, const FullRun& next) {
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

void FullWorld::expect_snapshot_equal(const std::string& id) {
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

}  // namespace snapkeep::test::fault
