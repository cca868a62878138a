// Known damage never spreads: what scrub found damaged and did not repair is recorded, and the next
// backup does not build on it (btrfs: a full send instead of an incremental one from a damaged
// parent, or fresh copies into the plain-source sync target; hard-link trees: fresh copies instead
// of links); `scrub --repair` on btrfs remakes a damaged snapshot from its source snapshot and
// reports exactly which snapshots stay damaged. Damage is made underneath the filesystem: a byte
// flipped in the image file (FIEMAP -> btrfs-map-logical -> image offset).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/integration_util.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

using nlohmann::json;

constexpr std::size_t k_kib = 1024;

// Where byte `offset` of `file` lies on its filesystem (FIEMAP; on btrfs a logical address).
std::optional<std::uint64_t> address_of(const fs::path& file, std::uint64_t offset) {
  for (const auto& e : extents_of(file)) {
    if (offset >= e.logical && offset < e.logical + e.length) {
      return e.physical + (offset - e.logical);
    }
  }
  ADD_FAILURE() << "no extent holds byte " << offset << " of " << file;
  return std::nullopt;
}

// Flips one byte of the image file at `offset`, underneath the mounted filesystem.
void flip_image_byte(const fs::path& image, std::uint64_t offset) {
  int fd = ::open(image.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << image << ": " << std::strerror(errno);
  unsigned char byte = 0;
  ASSERT_EQ(::pread(fd, &byte, 1, static_cast<off_t>(offset)), 1);
  byte = static_cast<unsigned char>(byte ^ 0xff);
  ASSERT_EQ(::pwrite(fd, &byte, 1, static_cast<off_t>(offset)), 1);
  ASSERT_EQ(::fdatasync(fd), 0);
  ::close(fd);
}

// Corrupts byte `offset` of `file` on a loop filesystem (btrfs: logical mapped to physical).
void rot(const LoopFs& fs_, const fs::path& file, std::uint64_t offset, bool btrfs) {
  auto address = address_of(file, offset);
  ASSERT_TRUE(address.has_value());
  std::uint64_t physical = *address;
  if (btrfs) {
    RunResult r = run_ok({"btrfs-map-logical", "-l", std::to_string(*address), fs_.device()});
    std::istringstream in(r.out);
    bool found = false;
    for (std::string word; in >> word;) {
      if (word == "physical" && (in >> physical)) {
        found = true;
        break;
      }
    }
    ASSERT_TRUE(found) << r.out << r.err;
  }
  flip_image_byte(fs_.image(), physical);
}

// `snapkeep --json ARGS` with the exit status checked: presets[0] (stderr into *err when given).
json preset_json(const fs::path& config, std::vector<std::string> args, int expected, std::string* err = nullptr) {
  args.insert(args.begin(), {"-c", config.string(), "-v", "--json"});
  RunResult r = snapkeep(args);
  EXPECT_EQ(r.exit_code, expected) << ::testing::PrintToString(args) << "\n" << r.out << r.err;
  if (err != nullptr) {
    *err = r.err;
  }
  json doc = json::parse(r.out, nullptr, false);
  if (doc.is_discarded() || !doc.contains("presets")) {
    ADD_FAILURE() << "no JSON: " << r.out << r.err;
    return json::object();
  }
  return doc["presets"][0];
}

std::set<std::string> statuses(const json& scrub) {
  std::set<std::string> out;
  for (const auto& f : scrub["findings"]) {
    out.insert(f["status"].get<std::string>() + (f["repaired"].get<bool>() ? " repaired" : ""));
  }
  return out;
}

void expect_same_tree(const fs::path& expected, const fs::path& actual, const TreeCompare& what = {}) {
  auto diffs = tree_differences(expected, actual, what);
  EXPECT_TRUE(diffs.empty()) << expected << " vs " << actual << ":\n" << join_lines(diffs);
}

// The damage record's text (NUL bytes as '|'), "" when there is none.
std::string damage_record(const fs::path& preset_dir) {
  fs::path file = preset_dir / ".snapkeep" / "damaged";
  if (!exists_nofollow(file)) {
    return {};
  }
  std::string text = read_file(file);
  std::replace(text.begin(), text.end(), '\0', '|');
  return text;
}

TEST(KnownDamage, BtrfsDamagedParentGivesAFullSendAndRepairSwapsInACleanCopy) {
  SNAPKEEP_REQUIRE_ROOT();
  TempDir tmp;
  LoopFs source_fs("btrfs", 256);
  LoopFs dest("btrfs", 256);
  ASSERT_TRUE(source_fs.ok() && dest.ok());
  fs::path src = source_fs.mount_point() / "src";
  run_ok({"btrfs", "subvolume", "create", "--", src.string()});
  write_random_file(src / "a.bin", 128 * k_kib, 1);
  write_random_file(src / "dir" / "b.bin", 50000, 2);
  write_file(src / "c.txt", "one\n");
  fs::path config = write_preset_config(tmp / "snapkeep.ini", "home", src, dest.mount_point());
  fs::path preset_dir = dest.mount_point() / "home";
  fs::path source_snaps = source_fs.mount_point() / ".snapkeep-snapshots" / "home";

  std::string s1 = preset_json(config, {"backup"}, 0).value("snapshot", "");
  write_file(src / "c.txt", "two\n");
  std::string s2 = preset_json(config, {"backup"}, 0).value("snapshot", "");
  ASSERT_FALSE(s1.empty() || s2.empty());
  ASSERT_EQ(address_of(preset_dir / s1 / "a.bin", 0), address_of(preset_dir / s2 / "a.bin", 0))
      << "the unchanged file shares its extent";

  // A block of a.bin goes bad: scrub finds it unreadable in both snapshots and records it.
  rot(dest, preset_dir / s2 / "a.bin", 70000, true);
  json found = preset_json(config, {"scrub"}, 4);
  EXPECT_EQ(statuses(found), std::set<std::string>{"unreadable"}) << found.dump(2);
  std::string record = damage_record(preset_dir);
  EXPECT_NE(record.find(s1 + "|a.bin|"), std::string::npos) << record;
  EXPECT_NE(record.find(s2 + "|a.bin|"), std::string::npos) << record;

  // The next backup does not send incrementally from the damaged parent.
  write_file(src / "c.txt", "three\n");
  std::string log;
  json third = preset_json(config, {"backup"}, 0, &log);
  std::string s3 = third.value("snapshot", "");
  ASSERT_FALSE(s3.empty());
  EXPECT_NE(log.find("full send"), std::string::npos) << log;
  EXPECT_EQ(log.find("incremental send from parent " + s2), std::string::npos) << log;
  std::string warned = third["warnings"].dump();
  EXPECT_NE(warned.find("damage in the parent snapshot " + s2), std::string::npos) << warned;
  EXPECT_NE(warned.find("a.bin"), std::string::npos) << warned;
  EXPECT_GE(third.value("bytes_transferred", 0u), 128 * k_kib);
  expect_same_tree(src, preset_dir / s3);  // reads every byte: no EIO
  EXPECT_NE(address_of(preset_dir / s3 / "a.bin", 0), address_of(preset_dir / s2 / "a.bin", 0));

  // scrub --repair receives clean copies of both damaged snapshots from their source snapshots.
  std::string repair_log;
  json repaired = preset_json(config, {"scrub", "--repair"}, 0, &repair_log);
  ASSERT_TRUE(repaired.contains("snapshot_repairs")) << repaired.dump(2);
  std::set<std::string> remade;
  for (const auto& r : repaired["snapshot_repairs"]) {
    EXPECT_EQ(r["repaired"], true) << r.dump();
    remade.insert(r["snapshot"].get<std::string>());
  }
  EXPECT_EQ(remade, (std::set<std::string>{s1, s2}));
  EXPECT_EQ(statuses(repaired), std::set<std::string>{"unreadable repaired"}) << repaired.dump(2);
  for (const auto& id : {s1, s2}) {
    EXPECT_TRUE(is_read_only_subvolume(preset_dir / id));
    expect_same_tree(source_snaps / id, preset_dir / id);
  }
  EXPECT_EQ(names_in(preset_dir).count(".remake-" + s1), 0u) << "the damaged copy is gone";
  EXPECT_EQ(damage_record(preset_dir), "") << "repaired damage leaves the record";
  json clean = preset_json(config, {"scrub"}, 0);
  EXPECT_TRUE(clean["findings"].empty()) << clean.dump(2);
  ASSERT_TRUE(clean.contains("fs_scrub")) << clean.dump(2);
  EXPECT_EQ(clean["fs_scrub"]["uncorrectable_errors"], 0u);
  // The remade snapshot is still a parent pair: the next backup is incremental from the newest.
  write_file(src / "c.txt", "four\n");
  std::string fourth_log;
  json fourth = preset_json(config, {"backup"}, 0, &fourth_log);
  EXPECT_NE(fourth_log.find("incremental send from parent " + s3), std::string::npos) << fourth_log;

  // A damaged snapshot whose source snapshot is gone (only those of the 3 newest pairs are kept)
  // stays damaged, and the report says which.
  ASSERT_FALSE(exists_nofollow(source_snaps / s1));
  rot(dest, preset_dir / s1 / "dir" / "b.bin", 100, true);
  json stays = preset_json(config, {"scrub", "--repair"}, 4);
  ASSERT_EQ(stays["snapshot_repairs"].size(), 1u) << stays.dump(2);
  EXPECT_EQ(stays["snapshot_repairs"][0]["snapshot"], s1);
  EXPECT_EQ(stays["snapshot_repairs"][0]["repaired"], false);
  std::string note = stays["snapshot_repairs"][0].value("note", "");
  EXPECT_NE(note.find("is no longer in"), std::string::npos) << note;
  ASSERT_EQ(stays["findings"].size(), 1u) << stays.dump(2);
  EXPECT_NE(stays["findings"][0].value("repair_note", "").find("Snapshots that stay damaged: " + s1), std::string::npos)
      << stays.dump(2);
  RunResult human = snapkeep({"-c", config.string(), "scrub", "--repair"});
  EXPECT_EQ(human.exit_code, 4);
  EXPECT_NE(human.out.find("home: snapshot " + s1 + " stays damaged: "), std::string::npos) << human.out;
  EXPECT_NE(damage_record(preset_dir).find(s1 + "|dir/b.bin|"), std::string::npos);
}

TEST(KnownDamage, BtrfsPlainSourceCopiesDamagedFilesAfresh) {
  SNAPKEEP_REQUIRE_ROOT();
  TempDir tmp;
  LoopFs dest("btrfs", 256);
  ASSERT_TRUE(dest.ok());
  fs::path src = tmp / "src";
  write_random_file(src / "a.bin", 128 * k_kib, 3);
  write_file(src / "c.txt", "one\n");
  fs::path config = write_preset_config(tmp / "snapkeep.ini", "home", src, dest.mount_point());
  fs::path preset_dir = dest.mount_point() / "home";
  std::string s1 = preset_json(config, {"backup"}, 0).value("snapshot", "");
  ASSERT_FALSE(s1.empty());
  rot(dest, preset_dir / s1 / "a.bin", 5000, true);
  json found = preset_json(config, {"scrub"}, 4);
  EXPECT_EQ(statuses(found), std::set<std::string>{"unreadable"}) << found.dump(2);

  write_file(src / "c.txt", "two\n");
  json next = preset_json(config, {"backup"}, 0);
  std::string s2 = next.value("snapshot", "");
  ASSERT_FALSE(s2.empty());
  EXPECT_NE(next["warnings"].dump().find("a.bin"), std::string::npos) << next.dump(2);
  expect_same_tree(src, preset_dir / s2);
  EXPECT_NE(address_of(preset_dir / s2 / "a.bin", 0), address_of(preset_dir / s1 / "a.bin", 0))
      << "the new snapshot shares the damaged extent";
  // Once copied afresh, the file is shared again by the snapshots that follow.
  json later = preset_json(config, {"backup"}, 0);
  std::string s3 = later.value("snapshot", "");
  ASSERT_FALSE(s3.empty());
  EXPECT_EQ(later["warnings"].dump().find("a.bin"), std::string::npos) << later.dump(2);
  EXPECT_EQ(address_of(preset_dir / s3 / "a.bin", 0), address_of(preset_dir / s2 / "a.bin", 0));
}

// The hard-link backend, with either engine: a file whose link base is recorded damaged is a fresh
// copy (a new inode with the source's content and metadata), never another link to the damaged inode.
class KnownDamageEngines : public ::testing::TestWithParam<std::string> {};

TEST_P(KnownDamageEngines, HardLinkBackupCopiesDamagedFilesInsteadOfLinkingThem) {
  SNAPKEEP_REQUIRE_ROOT();
  PresetWorld w(64);
  ASSERT_TRUE(w.dest.ok());
  write_random_file(w.src / "dir" / "a.bin", 64 * k_kib, 4);
  fs::create_hard_link(w.src / "dir" / "a.bin", w.src / "a-link.bin");
  write_file(w.src / "b.txt", "unchanged\n");
  w.write_config("transfer = " + GetParam() + "\n");
  std::string s1 = w.backup_id();
  std::string s2 = w.backup_id();
  ASSERT_FALSE(s1.empty() || s2.empty());
  ASSERT_EQ(inode_of(w.snap(s1) / "dir" / "a.bin"), inode_of(w.snap(s2) / "dir" / "a.bin"));

  rot(w.dest, w.snap(s2) / "dir" / "a.bin", 4096 + 9, false);
  json found = preset_json(w.config, {"scrub"}, 4);
  EXPECT_EQ(statuses(found), std::set<std::string>{"corrupted"}) << found.dump(2);

  json third = preset_json(w.config, {"backup"}, 0);
  std::string s3 = third.value("snapshot", "");
  ASSERT_FALSE(s3.empty());
  std::string warned = third["warnings"].dump();
  EXPECT_NE(warned.find("dir/a.bin"), std::string::npos) << warned;
  EXPECT_NE(warned.find("a-link.bin"), std::string::npos) << warned;
  const ino_t damaged = inode_of(w.snap(s2) / "dir" / "a.bin");
  EXPECT_NE(inode_of(w.snap(s3) / "dir" / "a.bin"), damaged) << "linked to the damaged inode";
  EXPECT_NE(inode_of(w.snap(s3) / "a-link.bin"), damaged) << "linked to the damaged inode";
  EXPECT_EQ(inode_of(w.snap(s3) / "b.txt"), inode_of(w.snap(s2) / "b.txt")) << "clean files are still linked";
  // Content, metadata and the source's own hard link, as in the source.
  expect_same_tree(w.src, w.snap(s3), whole_second_mtimes());
  EXPECT_EQ(read_file(w.snap(s3) / "dir" / "a.bin"), read_file(w.src / "dir" / "a.bin"));
}

INSTANTIATE_TEST_SUITE_P(Transfer, KnownDamageEngines, ::testing::Values("native", "rsync"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace snapkeep::test
