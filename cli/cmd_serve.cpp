#include <unistd.h>

#include <filesystem>

#include <spdlog/spdlog.h>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/serve/serve.hpp"

namespace snapkeep::cli {

int cmd_serve(const GlobalOptions& global, const ServeArgs& args) {
  ServeOptions options;
  options.restrict_path = args.restrict_path;
  options.append_only = args.append_only;
  options.source_only = args.source_only;
  // The host's own presets (-c FILE, else the default file when there is one): the policy of an
  // append-only key. A serve host needs no config at all.
  std::vector<std::filesystem::path> files(global.config_files.begin(), global.config_files.end());
  if (files.empty()) {
    for (const auto& file : default_config_files()) {
      std::error_code ec;
      if (std::filesystem::exists(file, ec)) {
        files.push_back(file);
      }
    }
  }
  if (!files.empty()) {
    auto config = load_config(files, config_schema());
    if (!config) {
      return exit_code(report(config.error()));
    }
    options.own_presets = std::move(config->presets);
  }
  std::error_code ec;
  options.self_exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    return exit_code(report(sys_error("cannot find this program", "/proc/self/exe", ec.value())));
  }
  ServeEnvironment environment;
  environment.backend_for = [](const Preset& preset) { return backend_for(preset); };
  environment.schema = config_schema();
  environment.subvolume_sender = [] { return make_subvolume_sender(); };
  return serve_connection(STDIN_FILENO, STDOUT_FILENO, options, environment);
}

int cmd_relay(int argc, char** argv) {
  if (argc < 3) {
    spdlog::error("__relay is started by snapkeep serve's rsync only");
    return 2;
  }
  return run_relay(argv[2], std::vector<std::string>(argv + 3, argv + argc));
}

}  // namespace snapkeep::cli
