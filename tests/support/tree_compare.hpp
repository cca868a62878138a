#pragma once
// Comparing two trees the way a restore would be judged: names, types, contents, modes, owners,
// mtimes, hard links and extended attributes.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace snapkeep::test {

namespace fs = std::filesystem;

// What tree_differences() compares besides names, types and contents.
struct TreeCompare {
  bool modes = true;       // full st_mode (type, permissions, setuid/setgid/sticky)
  bool owners = true;      // uid and gid
  bool mtimes = true;      // mtime of files, folders and symlinks
  bool mtime_ns = true;    // ... to the nanosecond (else whole seconds)
  bool xattrs = false;     // every extended attribute, ACLs included
  bool hard_links = true;  // entries sharing an inode in one tree share one in the other
  bool root = true;        // compare the two roots' own metadata too
};

// Everything but nanoseconds of mtimes. For tests about other things: rsync's default whole-second
// time comparison leaves the ns of folders made in the second their source changed (see
// RsyncBackup.MetadataIsKept and RsyncBackup.SameSecondChangeIsNotLinked for that).
TreeCompare whole_second_mtimes();

// The target text of a symlink ("" and a test failure when it is not one).
std::string link_target(const fs::path& link);

// Every extended attribute of path (not following symlinks), name -> value bytes.
std::map<std::string, std::string> xattrs_of(const fs::path& path);

// Printable form of a path with control and non-ASCII bytes escaped, for messages.
std::string printable(const std::string& text);

// Relative paths of every entry below root (not following symlinks), sorted; a test failure when
// root cannot be walked.
std::vector<fs::path> tree_entries(const fs::path& root);

// Differences between two trees (empty when equal under `what`), one line each.
std::vector<std::string> tree_differences(const fs::path& a, const fs::path& b, const TreeCompare& what = {});

// gtest assertion text for tree_differences(): each line indented, one per line.
std::string join_lines(const std::vector<std::string>& lines);

}  // namespace snapkeep::test
