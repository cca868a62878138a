#pragma once
// A reader for INI files with the semantics of Python's configparser that users notice.

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.hpp"

namespace snapkeep {

// One `key = value` with where it was written.
struct IniValue {
  std::string value;
  std::filesystem::path file;
  int line = 0;
};

// One section; keys are lower-cased as configparser does.
struct IniSection {
  std::string name;
  std::filesystem::path file;
  int line = 0;  // of the [header]
  std::map<std::string, IniValue> values;
};

// All sections of one or more files, in first-seen order; DEFAULT kept apart.
struct IniDocument {
  IniSection defaults;               // [DEFAULT]
  std::vector<IniSection> sections;  // presets, in order of first appearance
};

// Parses `text` as if read from `file` and merges it into `doc`: a section already present from an
// earlier file has its keys overridden per key. Within one text, a repeated section or a repeated key
// in a section is an error. Errors are config errors "FILE:LINE: message".
Status parse_ini(std::string_view text, const std::filesystem::path& file, IniDocument& doc);

// Reads `file` and parse_ini()s it; a missing or unreadable file is a config error naming it.
Status read_ini_file(const std::filesystem::path& file, IniDocument& doc);

}  // namespace snapkeep
