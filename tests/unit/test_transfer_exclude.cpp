// Unit tests for the native engine's exclude rules (core/transfer/native/exclude), with rsync as
// the oracle: over a generated tree, `rsync -n -r --out-format=%n` with the same patterns must list
// exactly the paths the rules keep. Seeded: SNAPKEEP_EXCLUDE_SEED=N replays one seed.

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/transfer/native/exclude.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::write_file;

// Paths kept by `rules` under root, as rsync lists them ("dir/" for folders), walking like rsync:
// an excluded folder's contents are never looked at.
void kept_paths(const ExcludeRules& rules, const fs::path& root, const std::string& prefix,
                std::set<std::string>& out) {
  for (const auto& entry : fs::directory_iterator(root / prefix)) {
    std::string name = entry.path().filename().string();
    std::string rel = prefix.empty() ? name : prefix + "/" + name;
    bool dir = entry.is_directory() && !entry.is_symlink();
    if (rules.excluded(rel, dir)) {
      continue;
    }
    out.insert(dir ? rel + "/" : rel);
    if (dir) {
      kept_paths(rules, root, rel, out);
    }
  }
}

// What rsync keeps with these --exclude options and exclude-from file.
std::set<std::string> rsync_paths(const fs::path& root, const std::vector<std::string>& excludes,
                                  const std::optional<fs::path>& from, const fs::path& scratch) {
  std::vector<std::string> argv{"rsync", "-n", "-r", "-l", "--out-format=%n"};
  for (const auto& e : excludes) {
    argv.push_back("--exclude=" + e);
  }
  if (from) {
    argv.push_back("--exclude-from=" + from->string());
  }
  argv.push_back("--");
  argv.push_back(root.string() + "/");
  argv.push_back((scratch / "nowhere").string() + "/");
  test::RunResult r = test::run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> out;
  std::size_t pos = 0;
  while (pos < r.out.size()) {
    std::size_t end = r.out.find('\n', pos);
    std::string line = r.out.substr(pos, end - pos);
    if (!line.empty() && line != "./") {
      out.insert(line);
    }
    pos = end == std::string::npos ? r.out.size() : end + 1;
  }
  return out;
}

// Names that the generated patterns can meet.
const std::vector<std::string> k_names = {"a.tmp", "keep.tmp", "b.bak", "x",          "xy",    "deep",
                                          "cache", "z.log",    "sub1",  "sub2",       "top",   "Data",
                                          "data",  "[lit]",    "q?",    "dir",        "inner", "m-n",
                                          "a b",   "file.txt", "abc",   "lost+found", "*star", "a.tmp.d"};
const std::vector<std::string> k_patterns = {
    "*.tmp",       "/top",     "/top/",        "cache/",     "**/deep/*.log", "sub*/x?",  "[ab]*.bak", "dir/***",
    "+ keep.tmp",  "- *.bak",  "deep",         "/sub1/deep", "inner/x",       "**/inner", "d?ta",      "[[:upper:]]*",
    "[!a-c]*.txt", "**/z.log", "*/*/x",        "sub2/**",    "\\[lit]",       "[lit]",    "q\\?",      "a b",
    "**",          "m-n/",     "top/**/z.log", "*.tmp.d/",   "\\*star",       "x/",       "sub1/***",  "/dir/inner/",
    "*/",          "abc/"};

void make_tree(const fs::path& root, std::mt19937_64& rng, int depth) {
  int count = 3 + static_cast<int>(rng() % 6);
  for (int i = 0; i < count; ++i) {
    const std::string& name = k_names[rng() % k_names.size()];
    fs::path p = root / name;
    if (fs::exists(p)) {
      continue;
    }
    if (depth < 3 && rng() % 2 == 0) {
      fs::create_directories(p);
      make_tree(p, rng, depth + 1);
    } else {
      write_file(p, name);
    }
  }
}

TEST(ExcludeRules, MatchLikeRsyncOverGeneratedTreesAndPatterns) {
  std::uint64_t first = 1;
  int seeds = 20;
  if (const char* v = std::getenv("SNAPKEEP_EXCLUDE_SEED"); v != nullptr && *v != '\0') {
    first = std::strtoull(v, nullptr, 0);
    seeds = 1;
  }
  for (std::uint64_t seed = first; seed < first + static_cast<std::uint64_t>(seeds); ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (replay: SNAPKEEP_EXCLUDE_SEED=" + std::to_string(seed) + ")");
    std::mt19937_64 rng(seed);
    TempDir tmp;
    fs::path root = tmp / "src";
    fs::create_directories(root);
    make_tree(root, rng, 0);
    std::vector<std::string> excludes;
    std::vector<std::string> from_lines;
    int n = 1 + static_cast<int>(rng() % 5);
    for (int i = 0; i < n; ++i) {
      const std::string& p = k_patterns[rng() % k_patterns.size()];
      (rng() % 3 == 0 ? from_lines : excludes).push_back(p);
    }
    std::optional<fs::path> from;
    ExcludeRules rules;
    for (const auto& e : excludes) {
      rules.add_exclude(e);
    }
    if (!from_lines.empty()) {
      from = tmp / "exclude-from";
      std::string text = "# a comment\n; another\n\n";
      for (const auto& l : from_lines) {
        text += l + (rng() % 4 == 0 ? "\r\n" : "\n");
      }
      write_file(*from, text);
      ASSERT_TRUE(rules.add_exclude_file(*from).ok());
    }
    std::set<std::string> ours;
    kept_paths(rules, root, "", ours);
    std::set<std::string> theirs = rsync_paths(root, excludes, from, tmp.path());
    std::string patterns;
    for (const auto& e : excludes) {
      patterns += " --exclude=" + e;
    }
    for (const auto& l : from_lines) {
      patterns += " from:" + l;
    }
    std::string diff;
    for (const auto& p : ours) {
      if (theirs.count(p) == 0) {
        diff += "  kept only by snapkeep: " + p + "\n";
      }
    }
    for (const auto& p : theirs) {
      if (ours.count(p) == 0) {
        diff += "  kept only by rsync: " + p + "\n";
      }
    }
    EXPECT_TRUE(diff.empty()) << "patterns:" << patterns << "\n" << diff;
  }
}

TEST(ExcludeRules, WildcardBasics) {
  EXPECT_TRUE(wildcard_match("*.tmp", "a.tmp"));
  EXPECT_FALSE(wildcard_match("*.tmp", "d/a.tmp"));
  EXPECT_TRUE(wildcard_match("**.tmp", "d/a.tmp"));
  EXPECT_TRUE(wildcard_match("a?c", "abc"));
  EXPECT_FALSE(wildcard_match("a?c", "a/c"));
  EXPECT_TRUE(wildcard_match("[a-c]x", "bx"));
  EXPECT_FALSE(wildcard_match("[!a-c]x", "bx"));
  EXPECT_TRUE(wildcard_match("\\*", "*"));
  EXPECT_FALSE(wildcard_match("\\*", "a"));
}

TEST(ExcludeRules, AnchoredTrailingSlashAndLastComponent) {
  ExcludeRules rules;
  rules.add_exclude("/top");
  rules.add_exclude("cache/");
  rules.add_exclude("*.o");
  EXPECT_TRUE(rules.excluded("top", false));
  EXPECT_FALSE(rules.excluded("a/top", false));
  EXPECT_TRUE(rules.excluded("a/cache", true));
  EXPECT_FALSE(rules.excluded("a/cache", false));
  EXPECT_TRUE(rules.excluded("x/y/z.o", false));
  ExcludeRules with_include;
  with_include.add_exclude("+ keep.o");
  with_include.add_exclude("*.o");
  EXPECT_FALSE(with_include.excluded("keep.o", false));
  EXPECT_TRUE(with_include.excluded("other.o", false));
  with_include.add_exclude("!");
  EXPECT_FALSE(with_include.excluded("other.o", false));
}

}  // namespace
}  // namespace snapkeep
