// Integration tests of manifests and scrub through the built CLI on loop-mounted filesystems. Rot is
// made the way nature makes it: bytes flipped in the image file underneath the filesystem (block
// found with FIEMAP; on btrfs mapped from logical to physical with btrfs-map-logical), so mtime and
// ctime stay untouched and the page cache still holds the old data; the product must read past it.

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/file_probes.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/testutil.hpp"
#include "tests/support/tree_compare.hpp"

namespace snapkeep::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// A test's world: src/ and a config in a TempDir; the destination a loop-mounted filesystem.
struct ScrubWorld {
  explicit ScrubWorld(const std::string& type = "ext4", unsigned dest_mib = 64) : dest(type, dest_mib) {
    src = tmp / "src";
    fs::create_directories(src);
    config = tmp / "snapkeep.ini";
    preset_dir = dest.mount_point() / "home";
    write_preset_config(config, "home", src, dest.mount_point());
  }
  RunResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {"-c", config.string()});
    return snapkeep(args);
  }
  // A backup that must succeed; returns its JSON entry.
  json backup_ok() const {
    RunResult r = cli({"--json", "backup"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    json doc = json::parse(r.out, nullptr, false);
    if (doc.is_discarded() || !doc.contains("presets")) {
      ADD_FAILURE() << "no JSON from backup: " << r.out;
      return json::object();
    }
    return doc["presets"][0];
  }
  // `snapkeep --json scrub args...`: the preset's JSON entry, and the exit code in *code.
  json scrub(std::vector<std::string> args, int* code) const {
    args.insert(args.begin(), {"--json", "scrub"});
    RunResult r = cli(args);
    *code = r.exit_code;
    json doc = json::parse(r.out, nullptr, false);
    if (doc.is_discarded() || !doc.contains("presets")) {
      ADD_FAILURE() << "no JSON from scrub (exit " << r.exit_code << "): " << r.out << r.err;
      return json::object();
    }
    return doc["presets"][0];
  }
  fs::path snap(const std::string& id) const { return preset_dir / id; }
  std::vector<std::string> ids() const { return snapshot_ids(preset_dir); }

  TempDir tmp;
  LoopFs dest;
  fs::path src;
  fs::path config;
  fs::path preset_dir;
};

// Where byte `offset` of `file` lies on its filesystem's device (FIEMAP; data synced first). On
// btrfs this is a logical address. nullopt (and a test failure) when it cannot be told.
std::optional<std::uint64_t> fiemap_address(const fs::path& file, std::uint64_t offset) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ADD_FAILURE() << "open " << file << ": " << std::strerror(errno);
    return std::nullopt;
  }
  constexpr unsigned k_extents = 32;
  std::vector<std::uint64_t> storage((sizeof(struct fiemap) + k_extents * sizeof(struct fiemap_extent)) / 8 + 1);
  auto* map = reinterpret_cast<struct fiemap*>(storage.data());
  map->fm_start = 0;
  map->fm_length = FIEMAP_MAX_OFFSET;
  map->fm_flags = FIEMAP_FLAG_SYNC;
  map->fm_extent_count = k_extents;
  int rc = ::ioctl(fd, FS_IOC_FIEMAP, map);
  ::close(fd);
  if (rc != 0) {
    ADD_FAILURE() << "FS_IOC_FIEMAP " << file << ": " << std::strerror(errno);
    return std::nullopt;
  }
  for (unsigned i = 0; i < map->fm_mapped_extents; ++i) {
    const struct fiemap_extent& e = map->fm_extents[i];
    constexpr unsigned bad = FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_INLINE |
                             FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DELALLOC;
    if (offset >= e.fe_logical && offset < e.fe_logical + e.fe_length && (e.fe_flags & bad) == 0) {
      return e.fe_physical + (offset - e.fe_logical);
    }
  }
  ADD_FAILURE() << "no plain extent holds byte " << offset << " of " << file;
  return std::nullopt;
}

// The physical offset on `device` of a btrfs logical address (single-device filesystem).
std::optional<std::uint64_t> btrfs_physical(const std::string& device, std::uint64_t logical) {
  RunResult r = run_ok({"btrfs-map-logical", "-l", std::to_string(logical), device});
  std::istringstream in(r.out);
  for (std::string word; in >> word;) {
    if (word == "physical") {
      std::uint64_t physical = 0;
      if (in >> physical) {
        return physical;
      }
    }
  }
  ADD_FAILURE() << "cannot map logical " << logical << ": " << r.out << r.err;
  return std::nullopt;
}

// Flips the bits of one byte of the image file at `offset` (through the image's own page cache,
// which the loop device reads, then synced), leaving the mounted filesystem's caches stale.
void flip_image_byte(const fs::path& image, std::uint64_t offset) {
  int fd = ::open(image.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << "open " << image << ": " << std::strerror(errno);
  unsigned char byte = 0;
  ASSERT_EQ(::pread(fd, &byte, 1, static_cast<off_t>(offset)), 1);
  byte = static_cast<unsigned char>(byte ^ 0xff);
  ASSERT_EQ(::pwrite(fd, &byte, 1, static_cast<off_t>(offset)), 1);
  ASSERT_EQ(::fdatasync(fd), 0);
  ::close(fd);
}

// Corrupts byte `offset` of a file on an ext4 loop filesystem underneath the filesystem.
void rot_ext4(const LoopFs& fs_, const fs::path& file, std::uint64_t offset) {
  auto address = fiemap_address(file, offset);
  ASSERT_TRUE(address.has_value());
  flip_image_byte(fs_.image(), *address);
}

std::set<std::string> path_set(const json& finding) {
  std::set<std::string> out;
  for (const auto& p : finding["paths"]) {
    out.insert(p.get<std::string>());
  }
  return out;
}

// The findings of a scrub entry by status.
std::map<std::string, std::vector<json>> by_status(const json& entry) {
  std::map<std::string, std::vector<json>> out;
  for (const auto& f : entry["findings"]) {
    out[f["status"].get<std::string>()].push_back(f);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

TEST(Scrub, Ext4ByteFlippedUnderneathIsFoundPastThePageCache) {
  SNAPKEEP_REQUIRE_ROOT();
  ScrubWorld w;
  ASSERT_TRUE(w.dest.ok());
  write_random_file(w.src / "a.bin", 65536, 1);
  write_random_file(w.src / "dir" / "b.bin", 100000, 2);
  write_file(w.src / "small.txt", "small\n");
  const std::uint64_t unique = 65536 + 100000 + 6;
  json first = w.backup_ok();
  EXPECT_EQ(first["bytes_hashed"], unique);
  EXPECT_EQ(first["manifest_ok"], true);
  json second = w.backup_ok();
  EXPECT_EQ(second["bytes_hashed"], 0u) << "nothing changed: every hash is reused";
  w.backup_ok();
  auto ids = w.ids();
  ASSERT_EQ(ids.size(), 3u);
  // The manifest lives under .snapkeep/, never inside the snapshot.
  EXPECT_TRUE(fs::exists(w.preset_dir / ".snapkeep" / "manifests" / ids[0]));
  EXPECT_EQ(tree_entries(w.snap(ids[0])).size(), 4u);
  ASSERT_EQ(inode_of(w.snap(ids[0]) / "a.bin"), inode_of(w.snap(ids[2]) / "a.bin"));

  int code = -1;
  json clean = w.scrub({}, &code);
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(clean["findings"].empty());

  std::string before = read_file(w.snap(ids[1]) / "a.bin");  // now in the page cache
  rot_ext4(w.dest, w.snap(ids[1]) / "a.bin", 4096 + 17);
  ASSERT_EQ(read_file(w.snap(ids[1]) / "a.bin"), before)
      << "the page cache should still hold the old data, or this test proves nothing";

  json r = w.scrub({}, &code);
  EXPECT_EQ(code, 4);
  EXPECT_EQ(r["status"], "damaged");
  ASSERT_EQ(r["findings"].size(), 1u) << r.dump(2);
  const json& f = r["findings"][0];
  EXPECT_EQ(f["status"], "corrupted");
  EXPECT_EQ(f["repaired"], false);
  EXPECT_EQ(path_set(f),
            (std::set<std::string>{(w.snap(ids[0]) / "a.bin").string(), (w.snap(ids[1]) / "a.bin").string(),
                                   (w.snap(ids[2]) / "a.bin").string()}));
  EXPECT_EQ(r["bytes_read"], unique) << "each unique content is read once, not once per snapshot";
  EXPECT_EQ(r["snapshots_checked"], 3u);
  EXPECT_EQ(r["files_checked"], 9u);
  EXPECT_EQ(r["mismatches"], 1u);
  EXPECT_NE(read_file(w.snap(ids[1]) / "a.bin"), before) << "scrub dropped the stale cached pages";
}

TEST(Scrub, Ext4TruncatedMissingModifiedAndDamagedManifest) {
  SNAPKEEP_REQUIRE_ROOT();
  ScrubWorld w;
  ASSERT_TRUE(w.dest.ok());
  write_file(w.src / "truncated.txt", "this text loses its tail\n");
  write_file(w.src / "deleted.txt", "deleted from one snapshot\n");
  write_file(w.src / "rewritten.txt", "rewritten later\n");
  write_random_file(w.src / "keep.bin", 20000, 3);
  w.backup_ok();
  w.backup_ok();
  w.backup_ok();
  auto ids = w.ids();
  ASSERT_EQ(ids.size(), 3u);
  fs::path s1 = w.snap(ids[0]);
  fs::path s2 = w.snap(ids[1]);

  struct stat st = stat_of(s1 / "truncated.txt");
  ASSERT_EQ(::truncate((s1 / "truncated.txt").c_str(), 5), 0);
  set_mtime(s1 / "truncated.txt", st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  fs::remove(s2 / "deleted.txt");
  write_file(s1 / "rewritten.txt", "REWRITTEN later\n");  // same inode in every snapshot, new mtime
  fs::path manifest = w.preset_dir / ".snapkeep" / "manifests" / ids[2];
  std::string text = read_file(manifest);
  text[text.size() / 2] = static_cast<char>(text[text.size() / 2] ^ 0x04);
  write_file(manifest, text);

  int code = -1;
  json r = w.scrub({}, &code);
  EXPECT_EQ(code, 4);
  auto found = by_status(r);
  ASSERT_EQ(found["corrupted"].size(), 1u) << r.dump(2);
  EXPECT_EQ(path_set(found["corrupted"][0]),
            (std::set<std::string>{(s1 / "truncated.txt").string(), (s2 / "truncated.txt").string()}));
  ASSERT_EQ(found["missing"].size(), 1u);
  EXPECT_EQ(path_set(found["missing"][0]), (std::set<std::string>{(s2 / "deleted.txt").string()}));
  ASSERT_EQ(found["modified"].size(), 1u);
  EXPECT_EQ(path_set(found["modified"][0]),
            (std::set<std::string>{(s1 / "rewritten.txt").string(), (s2 / "rewritten.txt").string()}));
  ASSERT_EQ(found["manifest_damaged"].size(), 1u);
  EXPECT_EQ(path_set(found["manifest_damaged"][0]), (std::set<std::string>{w.snap(ids[2]).string()}));
  EXPECT_EQ(r["findings"].size(), 4u) << r.dump(2);
  EXPECT_EQ(r["snapshots_checked"], 2u) << "the snapshot with a damaged manifest is not verified against it";
}

// A file deleted from every snapshot (no copy left on the drive): scrub --repair brings it back from
// the source while the source file is still what the manifests recorded (size, mtime, hash), with
// its mode, owner, xattrs and mtime, one inode for every snapshot again. A source file that changed
// since is never used.
TEST(Scrub, RepairRestoresAFileMissingEverywhereFromAnUnchangedSource) {
  SNAPKEEP_REQUIRE_ROOT();
  ScrubWorld w;
  ASSERT_TRUE(w.dest.ok());
  write_random_file(w.src / "docs" / "thesis.pdf", 30000, 11);
  write_file(w.src / "docs" / "changed.txt", "original\n");
  ASSERT_EQ(::chown((w.src / "docs" / "thesis.pdf").c_str(), 1234, 5678), 0);
  ASSERT_EQ(::chmod((w.src / "docs" / "thesis.pdf").c_str(), 0640), 0);
  const std::string tag = "kept through the repair";
  ASSERT_EQ(::setxattr((w.src / "docs" / "thesis.pdf").c_str(), "user.tag", tag.data(), tag.size(), 0), 0);
  w.backup_ok();
  w.backup_ok();
  const auto ids = w.ids();
  ASSERT_EQ(ids.size(), 2u);
  const struct stat before = stat_of(w.snap(ids[0]) / "docs" / "thesis.pdf");
  for (const auto& id : ids) {
    fs::remove(w.snap(id) / "docs" / "thesis.pdf");
    fs::remove(w.snap(id) / "docs" / "changed.txt");
  }
  write_file(w.src / "docs" / "changed.txt", "ORIGINAL\n");  // same size, new content and mtime

  int code = -1;
  json r = w.scrub({"--repair"}, &code);
  EXPECT_EQ(code, 4) << r.dump(2);  // changed.txt stays missing
  auto found = by_status(r);
  ASSERT_EQ(found["missing"].size(), 2u) << r.dump(2);
  for (const auto& f : found["missing"]) {
    const bool thesis = f.dump().find("thesis.pdf") != std::string::npos;
    EXPECT_EQ(f.value("repaired", !thesis), thesis) << f.dump();
    if (thesis) {
      EXPECT_EQ(f.value("repaired_from", ""), (w.src / "docs" / "thesis.pdf").string()) << f.dump();
    }
  }
  const fs::path a = w.snap(ids[0]) / "docs" / "thesis.pdf";
  const fs::path b = w.snap(ids[1]) / "docs" / "thesis.pdf";
  EXPECT_EQ(read_file(a), read_file(w.src / "docs" / "thesis.pdf"));
  EXPECT_EQ(inode_of(a), inode_of(b));
  const struct stat after = stat_of(a);
  EXPECT_EQ(after.st_mode, before.st_mode);
  EXPECT_EQ(after.st_uid, 1234u);
  EXPECT_EQ(after.st_gid, 5678u);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  char value[64] = {};
  ASSERT_EQ(::getxattr(a.c_str(), "user.tag", value, sizeof value), static_cast<ssize_t>(tag.size()));
  EXPECT_EQ(std::string(value, tag.size()), tag);
  EXPECT_FALSE(fs::exists(w.snap(ids[0]) / "docs" / "changed.txt")) << "a changed source file was used";

  // What is left is only the file whose source changed.
  json again = w.scrub({}, &code);
  auto left = by_status(again);
  ASSERT_EQ(left["missing"].size(), 1u) << again.dump(2);
  EXPECT_EQ(left["missing"][0].dump().find("thesis.pdf"), std::string::npos) << again.dump(2);
}

TEST(Scrub, NoFalseAlarmsAfterThreeBackupsWithChanges) {
  SNAPKEEP_REQUIRE_ROOT();
  ScrubWorld w;
  ASSERT_TRUE(w.dest.ok());
  for (int i = 0; i < 20; ++i) {
    write_random_file(w.src / ("d" + std::to_string(i % 3)) / ("f" + std::to_string(i)), 5000 + 100 * i,
                      static_cast<unsigned>(i));
  }
  write_file(w.src / "odd\nname with\ttabs", "odd\n");
  fs::create_symlink("d0/f0", w.src / "link");
  fs::create_hard_link(w.src / "d1" / "f1", w.src / "hardlink");
  w.backup_ok();

  // Changes: content, size, a new file, a deleted one, a rename, a mode change, an mtime-only touch.
  write_random_file(w.src / "d0" / "f0", 5000, 100);
  write_random_file(w.src / "d1" / "f4", 9000, 101);
  write_file(w.src / "new.txt", "new file\n");
  fs::remove(w.src / "d2" / "f2");
  fs::rename(w.src / "d2" / "f5", w.src / "d2" / "f5-renamed");
  ::chmod((w.src / "d0" / "f3").c_str(), 0600);
  set_mtime(w.src / "d1" / "f7", 1600000000, 5);
  json second = w.backup_ok();
  // Bytes hashed ~ bytes changed: rewritten, new, renamed, re-moded and touched files only.
  EXPECT_EQ(second["bytes_hashed"], 5000u + 9000u + 9u + 5500u + 5300u + 5700u) << second.dump(2);

  write_random_file(w.src / "d1" / "f10", 6000, 102);
  fs::remove(w.src / "link");
  fs::create_symlink("d1/f1", w.src / "link");
  w.backup_ok();

  int code = -1;
  json r = w.scrub({}, &code);
  EXPECT_EQ(code, 0) << r.dump(2);
  EXPECT_TRUE(r["findings"].empty()) << r.dump(2);
  EXPECT_EQ(r["snapshots_checked"], 3u);
  EXPECT_EQ(r["status"], "ok");
  EXPECT_EQ(r["contents_unverified"], 0u);
}

TEST(Scrub, ByteBudgetFourRunsCoverEverythingExactlyOnce) {
  SNAPKEEP_REQUIRE_ROOT();
  ScrubWorld w;
  ASSERT_TRUE(w.dest.ok());
  for (int i = 0; i < 16; ++i) {
    write_random_file(w.src / ("f" + std::to_string(i)), 65536, static_cast<unsigned>(i));
  }
  w.backup_ok();
  w.backup_ok();
  std::uint64_t total = 0;
  for (int run = 1; run <= 4; ++run) {
    int code = -1;
    json r = w.scrub({"--max-bytes", "256K"}, &code);
    EXPECT_EQ(code, 0);
    EXPECT_EQ(r["bytes_read"], 4u * 65536) << "run " << run;
    EXPECT_EQ(r["contents_verified"], 4u);
    EXPECT_EQ(r["contents_unverified"], 16u - 4u * static_cast<unsigned>(run));
    EXPECT_EQ(r.value("fs_scrub", json()).is_null(), true);
    total += r["bytes_read"].get<std::uint64_t>();
  }
  EXPECT_EQ(total, 16u * 65536);
  std::string state = read_file(w.preset_dir / ".snapkeep" / "scrub-state");
  EXPECT_EQ(std::count(state.begin(), state.end(), '\n'), 16) << "each content verified exactly once";
}

TEST(Scrub, KilledScrubResumesWhereItStopped) {
  SNAPKEEP_REQUIRE_ROOT();
  ScrubWorld w("ext4", 192);
  ASSERT_TRUE(w.dest.ok());
  constexpr int k_files = 3000;
  constexpr std::uint64_t k_size = 16384;
  for (int i = 0; i < k_files; ++i) {
    write_random_file(w.src / ("d" + std::to_string(i % 30)) / ("f" + std::to_string(i)), k_size,
                      static_cast<unsigned>(i));
  }
  w.backup_ok();
  fs::path state = w.preset_dir / ".snapkeep" / "scrub-state";
  auto lines = [&]() {
    std::error_code ec;
    if (!fs::exists(state, ec)) {
      return std::ptrdiff_t{0};
    }
    std::string text = read_file(state);
    return std::count(text.begin(), text.end(), '\n');
  };
  {
    BackgroundRun run({"-c", w.config.string(), "scrub"}, w.tmp.path());
    ASSERT_TRUE(wait_until([&] { return lines() >= 100 || !run.running(); }, 60s, 200us));
    run.kill(SIGKILL);
    int status = run.wait();
    ASSERT_TRUE(WIFSIGNALED(status)) << "the scrub finished before it could be killed; make the tree larger";
  }
  std::ptrdiff_t recorded = lines();
  ASSERT_GT(recorded, 0);
  ASSERT_LT(recorded, k_files);
  // The next run, bounded to exactly what is left, finishes the round: nothing recorded is read again.
  std::uint64_t left = static_cast<std::uint64_t>(k_files - recorded) * k_size;
  int code = -1;
  json r = w.scrub({"--max-bytes", std::to_string(left)}, &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(r["contents_verified"], static_cast<std::uint64_t>(k_files - recorded));
  EXPECT_EQ(r["bytes_read"], left);
  EXPECT_EQ(r["contents_unverified"], 0u);
  EXPECT_TRUE(r["findings"].empty());
}

TEST(Scrub, RepairFromUnchangedSourceFixesEveryLinkAndKeepsMetadata) {
  SNAPKEEP_REQUIRE_ROOT();
  ScrubWorld w;
  ASSERT_TRUE(w.dest.ok());
  write_random_file(w.src / "a.bin", 65536, 1);
  write_random_file(w.src / "b.bin", 65536, 2);
  ::chmod((w.src / "a.bin").c_str(), 0640);
  ASSERT_EQ(::chown((w.src / "a.bin").c_str(), 1234, 5678), 0);
  ASSERT_EQ(::setxattr((w.src / "a.bin").c_str(), "user.note", "kept", 4, 0), 0);
  set_mtime(w.src / "a.bin", 1600000000, 123456789);
  w.backup_ok();
  w.backup_ok();
  w.backup_ok();
  auto ids = w.ids();
  ASSERT_EQ(ids.size(), 3u);
  struct stat before = stat_of(w.snap(ids[0]) / "a.bin");
  rot_ext4(w.dest, w.snap(ids[0]) / "a.bin", 30000);
  rot_ext4(w.dest, w.snap(ids[0]) / "b.bin", 100);
  // b.bin changes at the source: it can no longer vouch for the backed-up data.
  write_random_file(w.src / "b.bin", 65536, 99);

  int code = -1;
  json r = w.scrub({"--repair"}, &code);
  EXPECT_EQ(code, 4) << "b.bin could not be repaired";
  auto found = by_status(r);
  ASSERT_EQ(found["corrupted"].size(), 2u) << r.dump(2);
  for (const auto& f : found["corrupted"]) {
    bool is_a = path_set(f).count((w.snap(ids[0]) / "a.bin").string()) == 1;
    EXPECT_EQ(f["paths"].size(), 3u);
    EXPECT_EQ(f["repaired"], is_a) << f.dump(2);
    if (is_a) {
      EXPECT_EQ(f["repaired_from"], (w.src / "a.bin").string());
    } else {
      EXPECT_NE(f["repair_note"].get<std::string>().find("changed since the backup"), std::string::npos) << f.dump(2);
    }
  }
  for (const auto& id : ids) {
    fs::path a = w.snap(id) / "a.bin";
    struct stat after = stat_of(a);
    EXPECT_EQ(after.st_ino, before.st_ino) << "the shared inode is rewritten in place";
    EXPECT_EQ(after.st_nlink, before.st_nlink);
    EXPECT_EQ(after.st_mode, before.st_mode);
    EXPECT_EQ(after.st_uid, 1234u);
    EXPECT_EQ(after.st_gid, 5678u);
    EXPECT_EQ(after.st_mtim.tv_sec, 1600000000);
    EXPECT_EQ(after.st_mtim.tv_nsec, 123456789);
    EXPECT_EQ(xattrs_of(a), (std::map<std::string, std::string>{{"user.note", "kept"}}));
  }
  w.dest.remount();  // read back from the disk, not from what repair left in the cache
  EXPECT_EQ(read_file(w.snap(ids[2]) / "a.bin"), read_file(w.src / "a.bin"));

  // The rescrub finds only b.bin, still damaged.
  json again = w.scrub({}, &code);
  EXPECT_EQ(code, 4);
  ASSERT_EQ(again["findings"].size(), 1u) << again.dump(2);
  EXPECT_EQ(path_set(again["findings"][0]).count((w.snap(ids[0]) / "b.bin").string()), 1u);
  // With b.bin's snapshots deleted... no: bring the source back, and the repair succeeds.
  write_random_file(w.src / "b.bin", 65536, 2);
  set_mtime(w.src / "b.bin", stat_of(w.snap(ids[0]) / "b.bin").st_mtim.tv_sec,
            stat_of(w.snap(ids[0]) / "b.bin").st_mtim.tv_nsec);
  json fixed = w.scrub({"--repair"}, &code);
  EXPECT_EQ(code, 0) << fixed.dump(2);
  json clean = w.scrub({}, &code);
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(clean["findings"].empty()) << clean.dump(2);
}

TEST(Scrub, BtrfsCorruptedBlockIsUnreadableWithPathsAndFilesystemCounters) {
  SNAPKEEP_REQUIRE_ROOT();
  ScrubWorld w("btrfs", 256);
  ASSERT_TRUE(w.dest.ok());
  write_random_file(w.src / "a.bin", 131072, 1);
  write_random_file(w.src / "b.bin", 50000, 2);
  json first = w.backup_ok();
  EXPECT_EQ(first["backend"], "btrfs");
  EXPECT_EQ(first["bytes_hashed"], 131072u + 50000u);
  write_file(w.src / "c.txt", "changed between backups\n");
  json second = w.backup_ok();
  EXPECT_EQ(second["bytes_hashed"], 24u) << "unchanged files (same inode number and ctime) are not read again";
  auto ids = w.ids();
  ASSERT_EQ(ids.size(), 2u);

  int code = -1;
  json clean = w.scrub({}, &code);
  EXPECT_EQ(code, 0) << clean.dump(2);
  EXPECT_EQ(clean["bytes_read"], 131072u + 50000u + 24u) << "shared extents are read once";
  ASSERT_TRUE(clean.contains("fs_scrub")) << clean.dump(2);
  EXPECT_EQ(clean["fs_scrub"]["uncorrectable_errors"], 0u);

  auto logical = fiemap_address(w.snap(ids[0]) / "a.bin", 70000);
  ASSERT_TRUE(logical.has_value());
  auto physical = btrfs_physical(w.dest.device(), *logical);
  ASSERT_TRUE(physical.has_value());
  flip_image_byte(w.dest.image(), *physical);

  json r = w.scrub({}, &code);
  EXPECT_EQ(code, 4);
  auto found = by_status(r);
  ASSERT_EQ(found["unreadable"].size(), 1u) << r.dump(2);
  EXPECT_EQ(path_set(found["unreadable"][0]),
            (std::set<std::string>{(w.snap(ids[0]) / "a.bin").string(), (w.snap(ids[1]) / "a.bin").string()}));
  EXPECT_EQ(r["findings"].size(), 1u) << r.dump(2);
  ASSERT_TRUE(r.contains("fs_scrub")) << r.dump(2);
  EXPECT_GE(r["fs_scrub"]["data_csum_errors"].get<std::uint64_t>(), 1u);
  EXPECT_GE(r["fs_scrub"]["uncorrectable_errors"].get<std::uint64_t>(), 1u);
  EXPECT_EQ(r["fs_scrub"]["corrected_errors"], 0u);

  // Read-only snapshots: --repair finds the good copy (the unchanged source) and reports what it
  // would do, changing nothing.
  json repair = w.scrub({"--repair"}, &code);
  EXPECT_EQ(code, 4);
  ASSERT_EQ(repair["findings"].size(), 1u);
  const json& f = repair["findings"][0];
  EXPECT_EQ(f["repaired"], false);
  std::string note = f.value("repair_note", "");
  EXPECT_NE(note.find("would rewrite from " + (w.src / "a.bin").string()), std::string::npos) << note;
  EXPECT_NE(note.find("read-only"), std::string::npos) << note;
}

TEST(Scrub, UsageErrorsAndEmptyPresets) {
  // No root needed: nothing is mounted.
  TempDir tmp;
  fs::create_directories(tmp / "src");
  fs::create_directories(tmp / "dst");
  fs::path config = write_preset_config(tmp / "c.ini", "home", tmp / "src", tmp / "dst");
  EXPECT_EQ(snapkeep({"-c", config.string(), "scrub", "--max-bytes", "lots"}).exit_code, 2);
  EXPECT_EQ(snapkeep({"-c", config.string(), "scrub", "--max-time", "soon"}).exit_code, 2);
  EXPECT_EQ(snapkeep({"-c", config.string(), "scrub", "nope"}).exit_code, 2);
  RunResult none = snapkeep({"-c", config.string(), "--json", "scrub"});
  EXPECT_EQ(none.exit_code, 0) << none.err;
  json doc = json::parse(none.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << none.out;
  EXPECT_EQ(doc["presets"][0]["snapshots_checked"], 0u);
  EXPECT_TRUE(doc["presets"][0]["findings"].empty());
  fs::path gone = write_preset_config(tmp / "gone.ini", "home", tmp / "src", tmp / "not-mounted");
  RunResult missing = snapkeep({"-c", gone.string(), "scrub"});
  EXPECT_EQ(missing.exit_code, 1);
  // The same words as every other command (backends/registry.cpp resolves the backend first).
  EXPECT_NE(missing.err.find("does not exist (is the backup drive mounted?)"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace snapkeep::test
