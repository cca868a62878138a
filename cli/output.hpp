#pragma once
// Printing results: JSON documents and human lines on stdout, errors through the log on stderr.

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace snapkeep::cli {

// Prints one JSON document (and a newline) on stdout.
void print_json(const nlohmann::json& doc);

// Logs an error on stderr and returns its exit status.
int report(const Error& error);

// Ends a command that went over presets one by one: a stop signal that skipped presets adds exit 1;
// with --json prints {"presets": results}. Returns the command's exit status.
int finish_presets(bool json, const nlohmann::json& results, int exit_code);

// The exit status for a run that had statuses a and b: the more serious one
// (0 < 3 locked < 1 failed < 4 damage < 2 usage).
int combine_exit(int a, int b);

}  // namespace snapkeep::cli
