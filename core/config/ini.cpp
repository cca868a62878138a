#include "core/config/ini.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <utility>

#include "core/base/fd.hpp"

// The dialect is Python configparser's default one (strict=True, empty_lines_in_values=True,
// no inline comments): whole-line `#`/`;` comments (they may be indented, and are skipped even in
// the middle of a multi-line value), `key = value` or `key: value` split at the first `=` or `:`,
// keys lower-cased, continuation lines indented deeper than their key line, [DEFAULT] kept apart.
// Values are stored raw: `%%` and `%(name)s` are substituted later by build_config() following
// configparser's BasicInterpolation, once every file has been merged (a later file may define the
// referenced key). Only the syntax of `%` is checked here, so errors point at the physical line.
// One relaxation of BasicInterpolation: a `%` that ends a line is a literal (`min_free = 10%`).
// Deliberate differences: section names are stripped of surrounding blanks, a header must end with
// `]`, an empty section name is an error, a UTF-8 byte order mark and CR line ends are ignored.

namespace snapkeep {
namespace {

constexpr std::string_view k_blanks = " \t\r\n\v\f";
constexpr std::string_view k_default_section = "DEFAULT";

// "FILE:LINE: message" as a config error.
Error error_at(const std::filesystem::path& file, int line, const std::string& message) {
  return config_error(file.string() + ":" + std::to_string(line) + ": " + message);
}

std::string_view strip(std::string_view text) {
  const auto first = text.find_first_not_of(k_blanks);
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(k_blanks);
  return text.substr(first, last - first + 1);
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

// Checks that every `%` in a value fragment is `%%` or `%(name)s` (BasicInterpolation syntax).
Status check_percent_syntax(std::string_view text, const std::filesystem::path& file, int line) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      continue;
    }
    if (i + 1 == text.size()) {
      continue;  // a '%' ending the line cannot start a reference: a literal, so "min_free = 10%" works
    }
    if (text[i + 1] == '%') {
      ++i;
      continue;
    }
    if (text[i + 1] == '(') {
      const auto close = text.find(')', i + 2);
      if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != 's') {
        return error_at(file, line,
                        "bad interpolation reference '" + std::string(text.substr(i)) +
                            "' (write %(name)s, or '%%' for a literal '%')");
      }
      i = close + 1;
      continue;
    }
    return error_at(file, line, "'%' must be written '%%'");
  }
  return {};
}

// Where the parser currently adds keys: no section yet, [DEFAULT], or doc.sections[index].
struct Cursor {
  bool in_section = false;
  bool is_default = false;
  std::size_t index = 0;
};

IniSection& section_of(IniDocument& doc, const Cursor& cursor) {
  return cursor.is_default ? doc.defaults : doc.sections[cursor.index];
}

}  // namespace

Status parse_ini(std::string_view text, const std::filesystem::path& file, IniDocument& doc) {
  if (text.starts_with("\xEF\xBB\xBF")) {
    text.remove_prefix(3);
  }
  if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
    const int line =
        1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(nul), '\n'));
    return error_at(file, line, "NUL byte in config file (is it a text file?)");
  }

  Cursor cursor;
  std::map<std::string, int> sections_here;                      // section -> header line, this text
  std::map<std::pair<std::string, std::string>, int> keys_here;  // (section, key) -> line, this text
  IniValue* open_value = nullptr;                                // the value continuation lines append to
  std::size_t indent_level = 0;                                  // indentation of the last key or header line
  int lineno = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const auto end = std::min(text.find('\n', pos), text.size());
    const std::string_view raw = text.substr(pos, end - pos);
    pos = end + 1;
    ++lineno;
    const std::string_view content = strip(raw);
    if (content.starts_with('#') || content.starts_with(';')) {
      continue;
    }
    if (content.empty()) {
      if (open_value != nullptr) {
        open_value->value += '\n';  // kept inside a multi-line value; trailing ones are stripped below
      }
      continue;
    }
    const std::size_t indent = raw.find_first_not_of(k_blanks);
    if (open_value != nullptr && indent > indent_level) {
      SNAPKEEP_TRY(check_percent_syntax(content, file, lineno));
      open_value->value += '\n';
      open_value->value += content;
      continue;
    }
    indent_level = indent;
    open_value = nullptr;

    if (content.starts_with('[')) {
      if (!content.ends_with(']')) {
        if (content.find(']') != std::string_view::npos) {
          return error_at(file, lineno, "unexpected text after section header '" + std::string(content) + "'");
        }
        return error_at(file, lineno, "unterminated section header '" + std::string(content) + "' (missing ']')");
      }
      const std::string name(strip(content.substr(1, content.size() - 2)));
      if (name.empty()) {
        return error_at(file, lineno, "empty section name '" + std::string(content) + "'");
      }
      cursor.in_section = true;
      cursor.is_default = name == k_default_section;
      if (cursor.is_default) {
        if (doc.defaults.line == 0) {
          doc.defaults = IniSection{name, file, lineno, std::move(doc.defaults.values)};
        }
        continue;
      }
      if (const auto seen = sections_here.find(name); seen != sections_here.end()) {
        return error_at(file, lineno, "preset '" + name + "' already defined at line " + std::to_string(seen->second));
      }
      sections_here.emplace(name, lineno);
      const auto existing =
          std::find_if(doc.sections.begin(), doc.sections.end(), [&](const IniSection& s) { return s.name == name; });
      if (existing != doc.sections.end()) {
        cursor.index = static_cast<std::size_t>(existing - doc.sections.begin());
      } else {
        doc.sections.push_back(IniSection{name, file, lineno, {}});
        cursor.index = doc.sections.size() - 1;
      }
      continue;
    }

    const auto separator = content.find_first_of("=:");
    if (separator == std::string_view::npos) {
      return error_at(
          file, lineno,
          "cannot parse line '" + std::string(content) + "' (expected [section], key = value or a comment)");
    }
    if (!cursor.in_section) {
      return error_at(file, lineno, "key outside of a section (add a [preset] header above it)");
    }
    const std::string key = ascii_lower(strip(content.substr(0, separator)));
    if (key.empty()) {
      return error_at(file, lineno, "missing key name before '" + std::string(1, content[separator]) + "'");
    }
    const std::string_view value = strip(content.substr(separator + 1));
    SNAPKEEP_TRY(check_percent_syntax(value, file, lineno));
    IniSection& section = section_of(doc, cursor);
    const auto [seen, inserted] = keys_here.emplace(std::make_pair(section.name, key), lineno);
    if (!inserted) {
      const std::string where = cursor.is_default ? "[DEFAULT]" : "preset '" + section.name + "'";
      return error_at(file, lineno,
                      "key '" + key + "' in " + where + " already set at line " + std::to_string(seen->second));
    }
    IniValue& slot = section.values[key];
    slot = IniValue{std::string(value), file, lineno};
    open_value = &slot;
  }

  // configparser joins a multi-line value and strips its trailing empty lines.
  auto strip_trailing = [](IniSection& section) {
    for (auto& [key, value] : section.values) {
      while (!value.value.empty() && value.value.back() == '\n') {
        value.value.pop_back();
      }
    }
  };
  strip_trailing(doc.defaults);
  for (auto& section : doc.sections) {
    strip_trailing(section);
  }
  return {};
}

Status read_ini_file(const std::filesystem::path& file, IniDocument& doc) {
  const Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return make_error(ErrorKind::config, "cannot read config file " + file.string(), errno, file);
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return make_error(ErrorKind::config, "cannot read config file " + file.string(), errno, file);
    }
    if (n == 0) {
      break;
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return parse_ini(text, file, doc);
}

}  // namespace snapkeep
