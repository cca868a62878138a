#include "core/config/command_words.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>

namespace snapkeep {
namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::optional<unsigned> digit_value(char c, unsigned base) {
  unsigned v = 0;
  if (c >= '0' && c <= '9') {
    v = static_cast<unsigned>(c - '0');
  } else if (c >= 'a' && c <= 'f') {
    v = static_cast<unsigned>(c - 'a' + 10);
  } else if (c >= 'A' && c <= 'F') {
    v = static_cast<unsigned>(c - 'A' + 10);
  } else {
    return std::nullopt;
  }
  return v < base ? std::optional<unsigned>(v) : std::nullopt;
}

// Appends code point `cp` as UTF-8.
void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

Error at_column(std::size_t column, const std::string& message) {
  return config_error("column " + std::to_string(column + 1) + ": " + message);
}

// Reads `count` digits of `base` at line[i+1...]; nullopt when they are not all there.
std::optional<std::uint32_t> read_number(std::string_view line, std::size_t i, std::size_t count, unsigned base) {
  std::uint32_t value = 0;
  for (std::size_t k = 1; k <= count; ++k) {
    if (i + k >= line.size()) {
      return std::nullopt;
    }
    auto d = digit_value(line[i + k], base);
    if (!d) {
      return std::nullopt;
    }
    value = value * base + *d;
  }
  return value;
}

// Decodes the escape starting at line[i] == '\\' into `out`; returns the index of its last character.
Result<std::size_t> unescape(std::string_view line, std::size_t i, std::string& out) {
  if (i + 1 >= line.size()) {
    return at_column(i, "a backslash ends the line (one command per line; write \\\\ for a backslash)");
  }
  const char c = line[i + 1];
  switch (c) {
    case 'a': out += '\a'; return i + 1;
    case 'b': out += '\b'; return i + 1;
    case 'f': out += '\f'; return i + 1;
    case 'n': out += '\n'; return i + 1;
    case 'r': out += '\r'; return i + 1;
    case 't': out += '\t'; return i + 1;
    case 'v': out += '\v'; return i + 1;
    case 's': out += ' '; return i + 1;
    case '\\':
    case '"':
    case '\'': out += c; return i + 1;
    default: break;
  }
  std::optional<std::uint32_t> value;
  std::size_t length = 0;
  if (c == 'x') {
    value = read_number(line, i + 1, 2, 16);
    length = 3;
  } else if (c >= '0' && c <= '7') {
    value = read_number(line, i, 3, 8);
    length = 3;
  } else if (c == 'u') {
    value = read_number(line, i + 1, 4, 16);
    length = 5;
  } else if (c == 'U') {
    value = read_number(line, i + 1, 8, 16);
    length = 9;
  } else {
    return at_column(i, std::string("unknown escape '\\") + c + "' (write \\\\ for a backslash)");
  }
  if (!value || (c != 'x' && c != 'u' && c != 'U' && *value > 0377)) {
    return at_column(i, std::string("incomplete escape '\\") + c + "'");
  }
  if (*value == 0) {
    return at_column(i, "a NUL byte cannot be part of an argument");
  }
  if ((c == 'u' || c == 'U') && (*value > 0x10ffff || (*value >= 0xd800 && *value <= 0xdfff))) {
    return at_column(i, "escape names no Unicode character");
  }
  if (c == 'u' || c == 'U') {
    append_utf8(out, *value);
  } else {
    out += static_cast<char>(*value);
  }
  return i + length;
}

}  // namespace

Result<std::vector<std::string>> split_command_words(std::string_view line) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (true) {
    while (i < line.size() && is_blank(line[i])) {
      ++i;
    }
    if (i == line.size()) {
      return words;
    }
    std::string word;
    const char quote = (line[i] == '"' || line[i] == '\'') ? line[i] : '\0';
    const std::size_t start = i;
    if (quote != '\0') {
      ++i;
    }
    bool closed = quote == '\0';
    for (; i < line.size(); ++i) {
      const char c = line[i];
      if (quote == '\0' && is_blank(c)) {
        break;
      }
      if (c == '\0') {
        return at_column(i, "a NUL byte cannot be part of an argument");
      }
      if (c == '\\') {
        SNAPKEEP_TRY_ASSIGN(i, unescape(line, i, word));
        continue;
      }
      if (quote != '\0' && c == quote) {
        closed = true;
        ++i;
        if (i < line.size() && !is_blank(line[i])) {
          return at_column(i, std::string("a closing ") + quote + " must end the word (put a blank after it)");
        }
        break;
      }
      if (quote == '\0' && (c == '"' || c == '\'')) {
        return at_column(i,
                         std::string("a ") + c + " may only start a word (quote the whole word, or write \\" + c + ")");
      }
      word += c;
    }
    if (!closed) {
      return at_column(start, std::string("the ") + quote + " opened here is never closed");
    }
    words.push_back(std::move(word));
  }
}

Result<std::vector<std::vector<std::string>>> split_command_lines(std::string_view value) {
  std::vector<std::vector<std::string>> commands;
  std::size_t number = 0;
  for (std::size_t pos = 0; pos <= value.size();) {
    const std::size_t end = std::min(value.find('\n', pos), value.size());
    ++number;
    auto words = split_command_words(value.substr(pos, end - pos));
    if (!words) {
      Error e = std::move(words).error();
      if (number > 1 || end < value.size()) {
        e.message = "line " + std::to_string(number) + " of the value, " + e.message;
      }
      return e;
    }
    if (!words->empty()) {
      commands.push_back(std::move(*words));
    }
    pos = end + 1;
  }
  return commands;
}

}  // namespace snapkeep
