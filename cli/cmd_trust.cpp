#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/remote/host_keys.hpp"

namespace snapkeep::cli {
namespace {

// The host to trust and the known_hosts file: a preset's (when -c or the default config names it),
// else the argument as [user@]host, host:/path or ssh://host:port/path.
Result<std::pair<RemoteLocation, std::filesystem::path>> trust_target(const GlobalOptions& global,
                                                                      const TrustArgs& args) {
  std::vector<std::filesystem::path> files(global.config_files.begin(), global.config_files.end());
  if (files.empty()) {
    files = default_config_files();
  }
  if (auto config = load_config(files, config_schema())) {
    for (const auto& preset : config->presets) {
      if (preset.name == args.host && (preset.remote_source || preset.remote_destination)) {
        return std::make_pair(preset.remote_source ? *preset.remote_source : *preset.remote_destination,
                              preset.remote.known_hosts);
      }
    }
  } else if (!global.config_files.empty()) {
    return std::move(config).error();
  }
  const std::string text = looks_remote(args.host) ? args.host : args.host + ":/";
  auto where = parse_remote_location(text);
  if (!where) {
    return config_error("'" + args.host + "' is neither a remote preset nor a host: " + where.error().message);
  }
  return std::make_pair(*where, default_known_hosts());
}

}  // namespace

int cmd_trust(const GlobalOptions& global, const TrustArgs& args) {
  auto target = trust_target(global, args);
  if (!target) {
    return exit_code(report(target.error()));
  }
  const RemoteLocation& where = target->first;
  const std::filesystem::path known_hosts =
      args.known_hosts.empty() ? target->second : std::filesystem::path(args.known_hosts);
  auto keys = scan_host_keys(where);
  if (!keys) {
    return exit_code(report(keys.error()));
  }
  auto check = compare_host_keys(known_hosts, *keys);
  if (!check) {
    return exit_code(report(check.error()));
  }
  nlohmann::json listed = nlohmann::json::array();
  for (const auto& key : *keys) {
    listed.push_back({{"type", key.type}, {"fingerprint", key.fingerprint}});
  }
  const std::string name = known_hosts_name(where);
  if (!global.json) {
    std::printf("%s offers these host keys:\n", name.c_str());
    for (const auto& key : *keys) {
      std::printf("  %-20s %s\n", key.type.c_str(), key.fingerprint.c_str());
    }
    std::printf("Compare them with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` run on %s itself.\n",
                where.host.c_str());
  }
  if (!check->conflict.empty()) {
    return exit_code(report(runtime_error("host key changed: " + known_hosts.string() + " holds another " +
                                          check->conflict.front() + " key for " + name +
                                          " (a reinstalled server, or someone in between). If the change is "
                                          "expected, remove it (ssh-keygen -R '" +
                                          name + "' -f " + known_hosts.string() + ") and run snapkeep trust again")));
  }
  bool store = args.yes;
  if (!store) {
    if (::isatty(STDIN_FILENO) == 0) {
      return exit_code(
          report(config_error("not storing the keys: stdin is not a terminal to confirm on; check the "
                              "fingerprints above and run again with --yes")));
    }
    std::printf("Store them in %s? [y/N] ", known_hosts.c_str());
    std::fflush(stdout);
    std::string answer;
    std::getline(std::cin, answer);
    store = answer == "y" || answer == "Y" || answer == "yes";
  }
  if (store) {
    if (auto stored = store_host_keys(known_hosts, *keys); !stored) {
      return exit_code(report(stored.error()));
    }
  }
  if (global.json) {
    print_json({{"host", name}, {"known_hosts", known_hosts.string()}, {"keys", listed}, {"stored", store}});
  } else if (global.show()) {
    std::printf(store ? "Stored in %s.\n" : "Not stored (%s unchanged).\n", known_hosts.c_str());
  }
  return store ? 0 : 1;
}

}  // namespace snapkeep::cli
