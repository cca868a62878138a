#include "core/remote/ssh_command.hpp"

namespace snapkeep {
namespace {

// Options every snapkeep ssh runs with: no prompts (a backup runs unattended), strict host keys
// from snapkeep's file only, nothing forwarded, dead links noticed within a minute.
constexpr const char* k_fixed_options[] = {
    "BatchMode=yes",           "StrictHostKeyChecking=yes", "GlobalKnownHostsFile=/dev/null",
    "UpdateHostKeys=no",       "ForwardAgent=no",           "ForwardX11=no",
    "ClearAllForwardings=yes", "PermitLocalCommand=no",     "ConnectTimeout=30",
    "ServerAliveInterval=15",  "ServerAliveCountMax=4",     "LogLevel=ERROR",
};

// % is an escape in ssh's file name options: "%%" is a literal percent.
std::string percent_escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '%') {
      out += '%';
    }
  }
  return out;
}

}  // namespace

std::string ssh_quoted_path(const std::filesystem::path& path) {
  return "\"" + percent_escaped(path.string()) + "\"";
}

std::vector<std::string> ssh_options_argv(const RemoteLocation& where, const RemoteSettings& settings) {
  std::vector<std::string> argv{"ssh", "-T"};
  for (const char* option : k_fixed_options) {
    argv.emplace_back("-o");
    argv.emplace_back(option);
  }
  argv.emplace_back("-o");
  argv.push_back("UserKnownHostsFile=" + ssh_quoted_path(settings.known_hosts));
  if (settings.identity) {
    // As an option value, not -i: ssh expands %-tokens in every identity file name, but -i's name
    // must also exist as written, so a '%' in it could be given neither escaped nor raw.
    argv.emplace_back("-o");
    argv.push_back("IdentityFile=" + ssh_quoted_path(*settings.identity));
    argv.emplace_back("-o");
    argv.emplace_back("IdentitiesOnly=yes");
  }
  if (where.port) {
    argv.emplace_back("-p");
    argv.push_back(std::to_string(*where.port));
  }
  if (!where.user.empty()) {
    argv.emplace_back("-l");
    argv.push_back(where.user);
  }
  return argv;
}

std::vector<std::string> ssh_command_argv(const RemoteLocation& where, const RemoteSettings& settings,
                                          const std::vector<std::string>& remote_words) {
  std::vector<std::string> argv = ssh_options_argv(where, settings);
  argv.emplace_back("--");
  argv.push_back(where.host);
  argv.insert(argv.end(), remote_words.begin(), remote_words.end());
  return argv;
}

}  // namespace snapkeep
