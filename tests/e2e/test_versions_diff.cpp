// End-to-end tests of `snapkeep versions` and `snapkeep diff` (and the change counts of a backup):
// JSON shapes, and that both read the manifests only (they give the same answers with every
// snapshot tree moved away), reading a tree only where a snapshot has no manifest, and saying so.

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/file_probes.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

using nlohmann::json;

// Preset "home" on plain folders with three snapshots: docs/report.txt in two versions, a photo
// moved, a note deleted, a mode changed.
struct History {
  History() {
    src = tmp / "src";
    dest = tmp / "dest";
    fs::create_directories(dest);
    config = write_preset_config(tmp / "snapkeep.ini", "home", src, dest);
    write_file(src / "docs" / "report.txt", "draft\n");
    set_mtime(src / "docs" / "report.txt", 1750000000);
    write_file(src / "docs" / "notes.txt", "notes\n");
    write_random_file(src / "photos" / "a.jpg", 40000, 7);
    write_file(src / "mode.sh", "#!/bin/sh\n");
    ids.push_back(backup());
    write_file(src / "docs" / "report.txt", "final version\n");
    set_mtime(src / "docs" / "report.txt", 1750000100);
    fs::remove(src / "docs" / "notes.txt");
    ids.push_back(backup());
    fs::create_directories(src / "pictures");
    fs::rename(src / "photos" / "a.jpg", src / "pictures" / "a.jpg");
    fs::permissions(src / "mode.sh", fs::perms::owner_exec, fs::perm_options::add);
    ids.push_back(backup());
  }
  RunResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {"-c", config.string()});
    return snapkeep(args);
  }
  json cli_json(std::vector<std::string> args, int expected_exit = 0) const {
    args.insert(args.begin(), "--json");
    RunResult r = cli(args);
    EXPECT_EQ(r.exit_code, expected_exit) << r.err;
    json doc = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << "not one JSON document:\n" << r.out;
    return doc.is_discarded() ? json() : doc["presets"][0];
  }
  std::string backup() const {
    json entry = cli_json({"backup"});
    last_backup = entry;
    return entry.value("snapshot", "");
  }
  fs::path preset_dir() const { return dest / "home"; }

  TempDir tmp;
  fs::path src;
  fs::path dest;
  fs::path config;
  std::vector<std::string> ids;
  mutable json last_backup;
};

// The part of a versions or diff answer that must not depend on where it was read from.
json versions_answer(const json& entry) {
  return {entry["path"], entry["versions"], entry["absent"]};
}

json diff_answer(const json& entry) {
  return {entry["from"],     entry["to"],    entry["added"], entry["deleted"],
          entry["modified"], entry["moved"], entry["counts"]};
}

TEST(Versions, ListsDistinctVersionsNewestFirst) {
  History h;
  json v = h.cli_json({"versions", "home", "docs/report.txt"});
  EXPECT_EQ(v.value("status", ""), "ok");
  EXPECT_EQ(v.value("path", ""), "docs/report.txt");
  ASSERT_EQ(v["versions"].size(), 2u) << v.dump(2);
  const json& newest = v["versions"][0];
  EXPECT_EQ(newest["version"], 1);
  EXPECT_EQ(newest["type"], "file");
  EXPECT_EQ(newest["size"], 14);
  EXPECT_EQ(newest["mtime_ns"], 1750000100LL * 1000000000LL);
  EXPECT_EQ(newest["snapshots"], json({h.ids[1], h.ids[2]})) << "identical versions collapse";
  ASSERT_TRUE(newest["hash"].is_string());
  EXPECT_EQ(newest["hash"].get<std::string>().size(), 32u) << "xxh128";
  EXPECT_EQ(v["versions"][1]["snapshots"], json({h.ids[0]}));
  EXPECT_EQ(v["versions"][1]["size"], 6);
  EXPECT_TRUE(v["absent"].empty());
  EXPECT_TRUE(v["read_from_tree"].empty());

  // A folder, and an absolute path under the source; a path that is gone later is absent there.
  json docs = h.cli_json({"versions", "home", (h.src / "docs").string()});
  ASSERT_EQ(docs["versions"].size(), 2u) << docs.dump(2);
  EXPECT_EQ(docs["versions"][0]["type"], "folder");
  EXPECT_EQ(docs["versions"][0]["entries"], 1);
  EXPECT_EQ(docs["versions"][1]["entries"], 2);
  json notes = h.cli_json({"versions", "home", "docs/notes.txt"});
  EXPECT_EQ(notes["absent"], json({h.ids[1], h.ids[2]}));

  // Human lines name the versions and their snapshots.
  RunResult human = h.cli({"versions", "home", "docs/report.txt"});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("2 versions of docs/report.txt in 3 snapshots"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find(h.ids[0]), std::string::npos) << human.out;
}

TEST(Versions, RestoresAnOlderVersion) {
  History h;
  fs::path target = h.tmp / "restored";
  json v = h.cli_json({"versions", "home", "docs/report.txt", "--restore", "2", "--to", target.string()});
  EXPECT_EQ(v["restored"]["snapshot"], h.ids[0]);
  EXPECT_EQ(read_file(target / "report.txt"), "draft\n");
  EXPECT_EQ(h.cli({"versions", "home", "docs/report.txt", "--restore", "3", "--to", (h.tmp / "x").string()}).exit_code,
            2)
      << "there is no version 3";
  EXPECT_EQ(h.cli({"versions", "home", "docs/report.txt", "--restore", "1"}).exit_code, 2) << "--to is needed";
  EXPECT_EQ(h.cli({"versions", "home", "../outside"}).exit_code, 2);
}

TEST(Diff, ReportsAddedDeletedModifiedAndMoved) {
  History h;
  json d = h.cli_json({"diff", "home"});  // the two newest
  EXPECT_EQ(d.value("status", ""), "ok");
  EXPECT_EQ(d["from"], h.ids[1]);
  EXPECT_EQ(d["to"], h.ids[2]);
  EXPECT_EQ(d["moves_detected"], true);
  ASSERT_EQ(d["added"].size(), 1u) << d.dump(2);
  EXPECT_EQ(d["added"][0]["path"], "pictures");
  EXPECT_EQ(d["added"][0]["type"], "folder");
  EXPECT_TRUE(d["deleted"].empty()) << d.dump(2);
  ASSERT_EQ(d["modified"].size(), 1u) << d.dump(2);
  EXPECT_EQ(d["modified"][0]["path"], "mode.sh");
  EXPECT_EQ(d["modified"][0]["content"], false) << "a chmod changes metadata only";
  EXPECT_EQ(d["moved"], json::parse(R"([{"from": "photos/a.jpg", "to": "pictures/a.jpg", "size": 40000}])"));
  EXPECT_EQ(d["counts"]["moved"], 1);

  json first = h.cli_json({"diff", "home", h.ids[0]});  // to latest
  EXPECT_EQ(first["to"], h.ids[2]);
  ASSERT_EQ(first["deleted"].size(), 1u);
  EXPECT_EQ(first["deleted"][0]["path"], "docs/notes.txt");
  EXPECT_EQ(first["counts"]["bytes_deleted"], 6);
  ASSERT_EQ(first["modified"].size(), 2u);
  EXPECT_EQ(first["modified"][0]["path"], "docs/report.txt");
  EXPECT_EQ(first["modified"][0]["content"], true);
  EXPECT_EQ(first["modified"][0]["size_before"], 6);
  EXPECT_EQ(first["modified"][0]["size"], 14);

  RunResult human = h.cli({"diff", "home", h.ids[0], h.ids[2]});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_NE(human.out.find("R photos/a.jpg -> pictures/a.jpg"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("- docs/notes.txt"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("M docs/report.txt"), std::string::npos) << human.out;

  json unknown = h.cli_json({"diff", "home", "1999-01-01_00-00-00"}, 1);
  EXPECT_EQ(unknown["status"], "failed");
  EXPECT_NE(unknown.value("error", "").find("1999-01-01_00-00-00"), std::string::npos);
}

TEST(Diff, BackupCountsWhatChanged) {
  History h;
  // The third backup: pictures and pictures/a.jpg added, photos/a.jpg deleted, mode.sh changed.
  const json& changes = h.last_backup["changes"];
  ASSERT_TRUE(changes.is_object()) << h.last_backup.dump(2);
  EXPECT_EQ(changes["since"], h.ids[1]);
  EXPECT_EQ(changes["added"], 2);
  EXPECT_EQ(changes["deleted"], 1);
  EXPECT_EQ(changes["changed"], 1);
  EXPECT_EQ(changes["metadata"], 1);
  write_file(h.src / "docs" / "new.txt", "new\n");
  RunResult line = h.cli({"backup"});
  ASSERT_EQ(line.exit_code, 0) << line.err;
  EXPECT_NE(line.out.find("1 added, 0 changed, 0 deleted"), std::string::npos) << line.out;
}

TEST(VersionsAndDiff, ReadManifestsOnly) {
  History h;
  const std::vector<std::vector<std::string>> questions = {{"versions", "home", "docs/report.txt"},
                                                           {"versions", "home", "docs"},
                                                           {"diff", "home"},
                                                           {"diff", "home", h.ids[0], h.ids[2]}};
  std::vector<json> before;
  for (const auto& q : questions) {
    before.push_back(h.cli_json(q));
  }
  // Every snapshot tree moved away: an empty folder stays where each was, so the catalog still
  // lists the snapshots, but there is nothing in them to read.
  fs::path away = h.tmp / "away";
  fs::create_directories(away);
  for (const auto& id : h.ids) {
    fs::rename(h.preset_dir() / id, away / id);
    fs::create_directory(h.preset_dir() / id);
  }
  for (std::size_t i = 0; i < questions.size(); ++i) {
    json after = h.cli_json(questions[i]);
    if (questions[i][0] == "versions") {
      EXPECT_EQ(versions_answer(after), versions_answer(before[i])) << questions[i][2];
      EXPECT_TRUE(after["read_from_tree"].empty());
    } else {
      EXPECT_EQ(diff_answer(after), diff_answer(before[i]));
      EXPECT_TRUE(after["read_from_tree"].empty());
    }
  }
  // Put back, then one snapshot without its manifest: read from its tree, and said so.
  for (const auto& id : h.ids) {
    fs::remove(h.preset_dir() / id);
    fs::rename(away / id, h.preset_dir() / id);
  }
  fs::remove(h.preset_dir() / ".snapkeep" / "manifests" / h.ids[0]);
  json v = h.cli_json(questions[0]);
  EXPECT_EQ(versions_answer(v), versions_answer(before[0])) << "the tree gives the same versions";
  EXPECT_EQ(v["read_from_tree"], json::parse(R"([{"id": ")" + h.ids[0] + R"(", "reason": "no manifest"}])"));
  RunResult human = h.cli(questions[0]);
  EXPECT_NE(human.out.find(h.ids[0] + ": no manifest, read from the snapshot itself"), std::string::npos) << human.out;
  json d = h.cli_json(questions[3]);
  EXPECT_EQ(d["read_from_tree"], json::parse(R"([{"id": ")" + h.ids[0] + R"(", "reason": "no manifest"}])"));
  EXPECT_EQ(d["moves_detected"], false);
  EXPECT_EQ(d["counts"]["moved"], 0);
  EXPECT_EQ(d["deleted"].size(), 2u) << "docs/notes.txt and photos/a.jpg (a move needs hashes):\n" << d.dump(2);
  RunResult human_diff = h.cli({"diff", "home", h.ids[0], h.ids[2]});
  EXPECT_NE(human_diff.out.find("no manifest; read from the snapshot itself"), std::string::npos) << human_diff.out;
}

}  // namespace
}  // namespace snapkeep::test
