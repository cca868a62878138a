#pragma once
// How snapkeep reaches a remote host: the preset keys ssh_identity, known_hosts, remote_command,
// bwlimit and compress (docs/configuration.md, docs/remote.md).

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.hpp"

namespace snapkeep {

// A program snapkeep serve starts instead of ssh to reach a client's rsync (never set by a config).
struct RelayCommand {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // secrets travel here, never in argv (ps shows argv)
};

// ssh and transfer settings of one preset.
struct RemoteSettings {
  std::optional<std::filesystem::path> identity;                 // ssh -i, with IdentitiesOnly=yes
  std::filesystem::path known_hosts;                             // snapkeep's own known_hosts (default_known_hosts())
  std::vector<std::string> remote_command{"snapkeep", "serve"};  // what ssh runs on a push destination
  std::optional<std::uint64_t> bwlimit_kib;                      // rsync --bwlimit, KiB per second
  bool compress = false;                                         // rsync -z (btrfs streams: ssh -C)
  RelayCommand relay;             // serve only: reach the client's rsync through this program, not ssh
  bool served = false;            // serve acts for a client: the source is the client's, checked there
  bool served_subvolume = false;  // serve: the client's source is a btrfs subvolume it can send
};

// $SNAPKEEP_STATE_DIR/known_hosts when that variable is set, else /var/lib/snapkeep/known_hosts.
std::filesystem::path default_known_hosts();

// Splits remote_command at blanks. Each word may hold only letters, digits and `_-./=:,+@%`, which
// a remote login shell takes literally (ssh hands the command to one when no forced command is
// set); anything else is refused with a message saying why.
Result<std::vector<std::string>> parse_remote_command(std::string_view text);

// Why a path cannot be handed to ssh as an option value (identity, known_hosts): a double quote, a
// backslash, "${" or a control character; nullopt when it can.
std::optional<std::string> ssh_path_problem(const std::filesystem::path& path);

}  // namespace snapkeep
