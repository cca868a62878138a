#pragma once
// The one ssh argv builder: host key checking always on against snapkeep's own known_hosts, no
// forwarding, no prompts; ~/.ssh/config still applies to everything else (aliases, ProxyJump).

#include <string>
#include <vector>

#include "core/remote/location.hpp"
#include "core/remote/settings.hpp"

namespace snapkeep {

// `ssh` and its options up to (not including) the host, for rsync -e (rsync appends the host and its
// own command). Port, user and identity come from `where` and `settings`; their paths must have
// passed ssh_path_problem (config validation does that).
std::vector<std::string> ssh_options_argv(const RemoteLocation& where, const RemoteSettings& settings);

// The whole command: ssh_options_argv, "--", the host, then `remote_words` (which a remote login
// shell joins with blanks unless authorized_keys forces a command).
std::vector<std::string> ssh_command_argv(const RemoteLocation& where, const RemoteSettings& settings,
                                          const std::vector<std::string>& remote_words);

// A path as ssh option values take it: '%' doubled (ssh expands %-tokens) and the whole in double
// quotes (UserKnownHostsFile splits at blanks).
std::string ssh_quoted_path(const std::filesystem::path& path);

}  // namespace snapkeep
