#pragma once
// Command lines in the config (before_backup, on_failure, ...): split into an argv vector the way
// systemd splits ExecStart= (docs/monitoring.md#commands). No shell, no variable expansion.

#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.hpp"

namespace snapkeep {

// Splits one command line into words: blanks separate words; "..." and '...' wrap a whole word
// (opening only at a word's start, closing only before a blank or the end); C escapes (\n \t \\ \"
// \' \s \xHH \NNN octal \uXXXX \UXXXXXXXX ...) work inside and outside quotes. Fails (a config
// error saying what and at which column) on an unclosed quote, a quote inside a word, an unknown
// escape, a NUL byte, or a trailing backslash.
Result<std::vector<std::string>> split_command_words(std::string_view line);

// Every non-blank line of a multi-line config value, split with split_command_words: one command
// per line, in order. An error names the line (1-based) within the value.
Result<std::vector<std::vector<std::string>>> split_command_lines(std::string_view value);

}  // namespace snapkeep
