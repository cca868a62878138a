#include "core/transfer/native/exclude.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cstring>

#include "core/base/fd.hpp"

namespace snapkeep {
namespace {

// Does the class starting after '[' at pattern[p] match c? Sets `end` past the closing ']';
// `end` = npos when the class is not closed (then '[' is a literal).
bool class_matches(std::string_view pattern, std::size_t p, unsigned char c, std::size_t& end) {
  bool negate = false;
  if (p < pattern.size() && (pattern[p] == '!' || pattern[p] == '^')) {
    negate = true;
    ++p;
  }
  bool matched = false;
  bool first = true;
  while (p < pattern.size() && (first || pattern[p] != ']')) {
    first = false;
    unsigned char lo = static_cast<unsigned char>(pattern[p]);
    if (lo == '[' && p + 1 < pattern.size() && pattern[p + 1] == ':') {
      std::size_t close = pattern.find(":]", p + 2);
      if (close != std::string_view::npos) {
        std::string_view name = pattern.substr(p + 2, close - p - 2);
        int ci = c;
        bool in = (name == "alnum" && std::isalnum(ci)) || (name == "alpha" && std::isalpha(ci)) ||
                  (name == "blank" && (c == ' ' || c == '\t')) || (name == "cntrl" && std::iscntrl(ci)) ||
                  (name == "digit" && std::isdigit(ci)) || (name == "graph" && std::isgraph(ci)) ||
                  (name == "lower" && std::islower(ci)) || (name == "print" && std::isprint(ci)) ||
                  (name == "punct" && std::ispunct(ci)) || (name == "space" && std::isspace(ci)) ||
                  (name == "upper" && std::isupper(ci)) || (name == "xdigit" && std::isxdigit(ci));
        matched = matched || (c < 0x80 && in);
        p = close + 2;
        continue;
      }
    }
    if (lo == '\\' && p + 1 < pattern.size()) {
      lo = static_cast<unsigned char>(pattern[++p]);
    }
    unsigned char hi = lo;
    if (p + 2 < pattern.size() && pattern[p + 1] == '-' && pattern[p + 2] != ']') {
      p += 2;
      hi = static_cast<unsigned char>(pattern[p]);
      if (hi == '\\' && p + 1 < pattern.size()) {
        hi = static_cast<unsigned char>(pattern[++p]);
      }
    }
    matched = matched || (c >= lo && c <= hi);
    ++p;
  }
  if (p >= pattern.size()) {
    end = std::string_view::npos;
    return false;
  }
  end = p + 1;
  return matched != negate;
}

// Matches pattern[p..] against text[t..].
bool match_from(std::string_view pattern, std::size_t p, std::string_view text, std::size_t t) {
  while (p < pattern.size()) {
    char pc = pattern[p];
    if (pc == '*') {
      std::size_t stars = 0;
      while (p < pattern.size() && pattern[p] == '*') {
        ++p;
        ++stars;
      }
      bool cross = stars >= 2;
      if (p == pattern.size()) {
        return cross || text.find('/', t) == std::string_view::npos;
      }
      for (std::size_t i = t; i <= text.size(); ++i) {
        if (match_from(pattern, p, text, i)) {
          return true;
        }
        if (i < text.size() && text[i] == '/' && !cross) {
          return false;
        }
      }
      return false;
    }
    if (t >= text.size()) {
      return false;
    }
    unsigned char c = static_cast<unsigned char>(text[t]);
    if (pc == '?') {
      if (c == '/') {
        return false;
      }
      ++p;
    } else if (pc == '[') {
      std::size_t end = 0;
      bool in = class_matches(pattern, p + 1, c, end);
      if (end == std::string_view::npos) {
        if (c != '[') {  // an unclosed '[' is itself
          return false;
        }
        ++p;
      } else {
        if (!in || c == '/') {
          return false;
        }
        p = end;
      }
    } else {
      if (pc == '\\' && p + 1 < pattern.size()) {
        pc = pattern[++p];
      }
      if (static_cast<unsigned char>(pc) != c) {
        return false;
      }
      ++p;
    }
    ++t;
  }
  return t == text.size();
}

// Where the last `components` '/'-separated components of path begin (0 when it has fewer).
std::size_t last_components(std::string_view path, int components) {
  std::size_t pos = path.size();
  for (int seen = 0; pos > 0;) {
    --pos;
    if (path[pos] == '/' && ++seen == components) {
      return pos + 1;
    }
  }
  return 0;
}

}  // namespace

bool wildcard_match(std::string_view pattern, std::string_view text) {
  return match_from(pattern, 0, text, 0);
}

void ExcludeRules::add_exclude(std::string_view line) {
  bool include = false;
  if (line == "!") {
    m_rules.clear();
    return;
  }
  if (line.size() >= 2 && (line[0] == '-' || line[0] == '+') && line[1] == ' ') {
    include = line[0] == '+';
    line.remove_prefix(2);
  }
  if (line.empty()) {
    return;
  }
  Rule rule;
  rule.include = include;
  std::string pattern(line);
  if (pattern.size() > 1 && pattern.back() == '/') {
    rule.dir_only = true;
    pattern.pop_back();
  }
  if (!pattern.empty() && pattern.front() == '/') {
    rule.anchored = true;
    pattern.erase(0, 1);
  }
  rule.wild = pattern.find_first_of("*?[") != std::string::npos;
  rule.double_star = pattern.find("**") != std::string::npos;
  rule.leading_stars = pattern.rfind("**", 0) == 0;
  rule.triple_suffix = pattern.size() >= 4 && pattern.compare(pattern.size() - 4, 4, "/***") == 0;
  for (char c : pattern) {
    rule.slashes += c == '/' ? 1 : 0;
  }
  rule.pattern = std::move(pattern);
  m_rules.push_back(std::move(rule));
}

Status ExcludeRules::add_exclude_file(const std::filesystem::path& file) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return sys_error("cannot read the exclude_from file", file);
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return sys_error("cannot read the exclude_from file", file);
    }
    if (n == 0) {
      break;
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find_first_of("\r\n", pos);
    if (end == std::string::npos) {
      end = text.size();
    }
    std::string_view line(text.data() + pos, end - pos);
    if (!line.empty() && line[0] != '#' && line[0] != ';') {
      add_exclude(line);
    }
    pos = end + 1;
  }
  return {};
}

Result<ExcludeRules> ExcludeRules::for_preset(const Preset& preset) {
  ExcludeRules rules;
  for (const auto& line : preset.exclude) {
    rules.add_exclude(line);
  }
  if (preset.exclude_from) {
    SNAPKEEP_TRY(rules.add_exclude_file(*preset.exclude_from));
  }
  return rules;
}

bool ExcludeRules::matches(const Rule& rule, std::string_view path, bool is_dir) const {
  if (rule.dir_only && !is_dir) {
    return false;
  }
  std::string text;
  std::string_view subject = path;
  if (rule.triple_suffix && is_dir) {
    text = std::string(path) + "/";  // "dir/***" matches the folder itself
    subject = text;
  }
  auto match = [&](std::string_view s) { return rule.wild ? wildcard_match(rule.pattern, s) : s == rule.pattern; };
  if (rule.anchored) {
    return match(subject);
  }
  if (rule.slashes == 0 && !rule.double_star) {
    std::size_t slash = subject.rfind('/');
    return match(slash == std::string_view::npos ? subject : subject.substr(slash + 1));
  }
  if (rule.leading_stars) {
    // "**/x" also matches x at the top: the pattern is tried against "/" + path.
    std::string rooted = "/" + std::string(subject);
    return match(rooted);
  }
  if (!rule.double_star) {
    // With slashes: the last (slashes + 1) components, at a component boundary.
    return match(subject.substr(last_components(subject, rule.slashes + 1)));
  }
  // "**" inside: the start of the path or after any '/'.
  if (match(subject)) {
    return true;
  }
  for (std::size_t i = 0; i < subject.size(); ++i) {
    if (subject[i] == '/' && match(subject.substr(i + 1))) {
      return true;
    }
  }
  return false;
}

bool ExcludeRules::excluded(std::string_view path, bool is_dir) const {
  for (const Rule& rule : m_rules) {
    if (matches(rule, path, is_dir)) {
      return !rule.include;
    }
  }
  return false;
}

}  // namespace snapkeep
