// The hidden `snapkeep _complete WHAT [COMMAND]` that the bash completion script runs: commands,
// options and preset names, read from the same tables the program uses, so completion never drifts.

#include <cstdio>

#include <CLI/CLI.hpp>

#include "backends/registry.hpp"
#include "cli/commands.hpp"

namespace snapkeep::cli {
namespace {

void print_options(const CLI::App& app) {
  for (const CLI::Option* option : app.get_options()) {
    for (const auto& name : option->get_lnames()) {
      std::printf("--%s\n", name.c_str());
    }
    for (const auto& name : option->get_snames()) {
      std::printf("-%s\n", name.c_str());
    }
  }
}

}  // namespace

int cmd_complete(const CLI::App& app, const GlobalOptions& global, const CompleteArgs& args) {
  if (args.what == "commands") {
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); })) {
      std::printf("%s\n", sub->get_name().c_str());
    }
    return 0;
  }
  if (args.what == "options") {
    if (args.command.empty()) {
      print_options(app);
      return 0;
    }
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      if (sub->get_name() == args.command) {
        print_options(*sub);
      }
    }
    return 0;
  }
  if (args.what == "keys") {
    for (const auto& key : config_keys()) {
      std::printf("%s\n", key.c_str());
    }
    return 0;
  }
  if (args.what == "presets") {
    std::vector<std::filesystem::path> files(global.config_files.begin(), global.config_files.end());
    if (files.empty()) {
      files = default_config_files();
    }
    auto config = load_config(files, config_schema());
    if (config) {
      for (const auto& preset : config->presets) {
        std::printf("%s\n", preset.name.c_str());
      }
    }
    return 0;
  }
  std::fprintf(stderr, "snapkeep: _complete: unknown '%s' (commands, options [COMMAND], presets, keys)\n",
               args.what.c_str());
  return 2;
}

}  // namespace snapkeep::cli
