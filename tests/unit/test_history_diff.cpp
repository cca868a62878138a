// Unit tests for core/history/diff over snapshots made by the fake backend: every kind of change,
// moves paired by content in path order (also across the partitions that keep memory bounded), and
// a snapshot without a manifest read from its tree.

#include <sys/stat.h>

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/history/diff.hpp"
#include "core/integrity/manifest.hpp"
#include "core/store/catalog.hpp"
#include "tests/support/fake_world.hpp"
#include "tests/support/file_probes.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::FakeWorld;
using test::write_file;

// Collects a diff as lines: "+path", "-path", "M path", "m path", "R from>to".
struct Collect : DiffSink {
  void begin(const DiffSide& f, const DiffSide& t, bool moves) override {
    from = f;
    to = t;
    moves_detected = moves;
  }
  void group(DiffGroup g) override { groups.push_back(g); }
  void change(const DiffChange& c) override {
    if (c.moved) {
      lines.push_back("R " + c.from + ">" + c.path);
    } else if (c.kind == PathChange::added) {
      lines.push_back("+" + c.path);
    } else if (c.kind == PathChange::deleted) {
      lines.push_back("-" + c.path);
    } else {
      lines.push_back((c.kind == PathChange::content ? "M " : "m ") + c.path);
    }
  }
  DiffSide from;
  DiffSide to;
  bool moves_detected = false;
  std::vector<DiffGroup> groups;
  std::vector<std::string> lines;
};

DiffSummary diff_ok(const FakeWorld& w, Collect& out, const DiffRequest& request = {}) {
  auto summary = run_diff(w.preset, request, out);
  EXPECT_TRUE(summary.ok()) << summary.error().describe();
  return summary ? *summary : DiffSummary{};
}

TEST(HistoryDiff, ReportsEveryKindOfChange) {
  FakeWorld w;
  write_file(w.src / "keep.txt", "kept\n");
  write_file(w.src / "edit.txt", "first\n");
  write_file(w.src / "mode.txt", "mode\n");
  write_file(w.src / "old" / "gone.txt", "gone\n");
  test::write_random_file(w.src / "photos" / "a.jpg", 5000, 1);
  const std::string first = w.backup_ok();
  write_file(w.src / "edit.txt", "second, longer\n");
  ::chmod((w.src / "mode.txt").c_str(), 0600);
  fs::remove_all(w.src / "old");
  write_file(w.src / "new.txt", "new\n");
  fs::create_directories(w.src / "pictures");
  fs::rename(w.src / "photos" / "a.jpg", w.src / "pictures" / "a.jpg");
  const std::string second = w.backup_ok();

  Collect out;
  DiffSummary s = diff_ok(w, out);
  EXPECT_EQ(out.from.id, first);
  EXPECT_EQ(out.to.id, second);
  EXPECT_TRUE(out.from.tree_reason.empty());
  EXPECT_TRUE(out.moves_detected);
  EXPECT_EQ(out.groups,
            (std::vector<DiffGroup>{DiffGroup::added, DiffGroup::deleted, DiffGroup::modified, DiffGroup::moved}));
  EXPECT_EQ(out.lines, (std::vector<std::string>{"+new.txt", "+pictures", "-old", "-old/gone.txt", "M edit.txt",
                                                 "m mode.txt", "R photos/a.jpg>pictures/a.jpg"}));
  EXPECT_EQ(s.added, 2u);
  EXPECT_EQ(s.deleted, 2u);
  EXPECT_EQ(s.content, 1u);
  EXPECT_EQ(s.metadata, 1u);
  EXPECT_EQ(s.moved, 1u);
  EXPECT_EQ(s.bytes_added, 4u) << "new.txt; the folder and the moved file do not count";
  EXPECT_EQ(s.bytes_deleted, 5u);

  // Named the other way round, the same changes read backwards.
  Collect back;
  DiffRequest reverse;
  reverse.from = second;
  reverse.to = first;
  DiffSummary r = diff_ok(w, back, reverse);
  EXPECT_EQ(r.added, 2u);
  EXPECT_EQ(r.deleted, 2u);
  EXPECT_EQ(r.moved, 1u);
  EXPECT_EQ(back.lines.back(), "R pictures/a.jpg>photos/a.jpg");
}

TEST(HistoryDiff, PairsMovesInPathOrderAcrossPartitions) {
  FakeWorld w;
  // 300 distinct files and 3 copies of one content, all moved to another folder.
  for (int i = 0; i < 300; ++i) {
    test::write_random_file(w.src / "in" / ("f" + std::to_string(1000 + i)), 100 + i, 500 + i);
  }
  for (const char* name : {"c1", "c2", "c3"}) {
    write_file(w.src / "in" / name, "the same content\n");
  }
  w.backup_ok();
  fs::rename(w.src / "in", w.src / "out");
  w.backup_ok();
  for (std::size_t memory : {k_move_memory_records, std::size_t{8}}) {
    Collect out;
    DiffRequest request;
    request.move_memory_records = memory;  // 8: 64 partitions on temporary files
    DiffSummary s = diff_ok(w, out, request);
    EXPECT_EQ(s.moved, 303u) << "memory " << memory;
    EXPECT_EQ(s.added, 1u) << "the folder out";
    EXPECT_EQ(s.deleted, 1u) << "the folder in";
    std::vector<std::string> moves(out.lines.end() - 303, out.lines.end());
    std::vector<std::string> sorted = moves;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(moves, sorted) << "moves come by new path";
    for (const auto& line : moves) {
      const std::string from = line.substr(2, line.find('>') - 2);
      const std::string to = line.substr(line.find('>') + 1);
      EXPECT_EQ(from.substr(3), to.substr(4)) << line;  // in/NAME > out/NAME: equal contents pair in path order
    }
  }
}

TEST(HistoryDiff, ReadsASnapshotWithoutManifestFromItsTree) {
  FakeWorld w;
  write_file(w.src / "a.txt", "a\n");
  test::write_random_file(w.src / "m.bin", 3000, 3);
  const std::string first = w.backup_ok();
  write_file(w.src / "a.txt", "a, changed\n");
  fs::rename(w.src / "m.bin", w.src / "moved.bin");
  const std::string second = w.backup_ok();
  fs::remove(manifest_path(w.preset_dir() / ".snapkeep", first));
  Collect out;
  DiffSummary s = diff_ok(w, out);
  EXPECT_EQ(out.from.tree_reason, "no manifest");
  EXPECT_TRUE(out.to.tree_reason.empty());
  EXPECT_FALSE(out.moves_detected) << "no hashes on one side: a move is a delete and an add";
  EXPECT_EQ(out.lines, (std::vector<std::string>{"+moved.bin", "-m.bin", "M a.txt"}));
  EXPECT_EQ(s.moved, 0u);
}

TEST(HistoryDiff, NeedsTwoSnapshots) {
  FakeWorld w;
  w.backup_ok();
  Collect out;
  auto summary = run_diff(w.preset, {}, out);
  ASSERT_FALSE(summary.ok());
  EXPECT_NE(summary.error().describe().find("needs two"), std::string::npos) << summary.error().describe();
  DiffRequest unknown;
  unknown.from = "2001-01-01_00-00-00";
  ASSERT_FALSE(run_diff(w.preset, unknown, out).ok());
}

}  // namespace
}  // namespace snapkeep
