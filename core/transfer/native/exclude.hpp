#pragma once
// Exclude patterns with rsync's semantics (docs/engine.md): the rules `--exclude=LINE` and
// `--exclude-from=FILE` make, applied the way rsync applies them to a transfer of SOURCE/.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.hpp"
#include "core/config/config.hpp"

namespace snapkeep {

// An ordered list of include/exclude rules; the first rule that matches a path decides.
class ExcludeRules {
 public:
  // Adds one rule as `--exclude=LINE` gives it: "- PATTERN" or a bare pattern excludes,
  // "+ PATTERN" includes, "!" clears the rules so far.
  void add_exclude(std::string_view line);
  // Adds the rules of an exclude file as `--exclude-from` reads it: one rule per line (lines end
  // at \n or \r), empty lines and lines starting with '#' or ';' skipped. Errors name the file.
  Status add_exclude_file(const std::filesystem::path& file);
  // The rules of a preset: its `exclude` lines, then its `exclude_from` file.
  static Result<ExcludeRules> for_preset(const Preset& preset);

  // Is `path` (relative to the source, no leading '/', components joined by '/') excluded?
  bool excluded(std::string_view path, bool is_dir) const;
  bool empty() const { return m_rules.empty(); }

 private:
  struct Rule {
    bool include = false;
    std::string pattern;         // without a trailing '/' and without a leading '/'
    bool dir_only = false;       // the pattern ended in '/'
    bool anchored = false;       // the pattern started with '/'
    bool wild = false;           // has '*', '?' or '['
    bool double_star = false;    // has "**"
    bool leading_stars = false;  // starts with "**"
    bool triple_suffix = false;  // ends in "/***": the folder itself and everything in it
    int slashes = 0;             // '/' inside the pattern
  };
  bool matches(const Rule& rule, std::string_view path, bool is_dir) const;
  std::vector<Rule> m_rules;
};

// rsync's wildcard matching of a whole `text`: '*' any run without '/', '**' any run, '?' one
// character but '/', '[...]' a class ('!' or '^' negates, ranges, [:name:] classes), '\' escapes.
bool wildcard_match(std::string_view pattern, std::string_view text);

}  // namespace snapkeep
