#pragma once
// Where a remote source or destination is: `[user@]host:/path` or `ssh://[user@]host[:port]/path`
// (docs/remote.md). Parsed strictly: every part that reaches ssh or rsync is checked here.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/error.hpp"

namespace snapkeep {

// A folder on another machine, reached over ssh.
struct RemoteLocation {
  std::string user;                   // empty: ssh's choice (~/.ssh/config, else the local user name)
  std::string host;                   // a host name, an ~/.ssh/config alias, or an IP address (IPv6 without brackets)
  std::optional<std::uint16_t> port;  // none: ssh's choice (~/.ssh/config, else 22)
  std::filesystem::path path;         // absolute, lexically normal, without a trailing slash

  // "user@host:/path", or "ssh://user@host:2222/path" when a port is set.
  std::string display() const;
  // The host as rsync and ssh-keyscan want it: "[::1]" for IPv6, else the host.
  std::string bracketed_host() const;
  bool operator==(const RemoteLocation&) const = default;
};

// Does this value name a remote location rather than a local path? Yes when it starts with "ssh://",
// or when a ':' comes before the first '/' and it does not start with '/' or '.' (write "./a:b" for a
// local folder whose name holds a ':').
bool looks_remote(std::string_view text);

// Parses a remote location. Refused, each with a message saying why: control characters, an empty,
// bracket-less IPv6 or '-'-led host, a user or host with characters ssh would read specially, a port
// outside 1..65535, a path that is not absolute or has a '..' component.
Result<RemoteLocation> parse_remote_location(std::string_view text);

// Is `host` a host name or address snapkeep passes to ssh (letters, digits, '.', '-', '_'; not led by
// '-' or '.'), or an IPv6 address (hex digits, ':' and '.')?
bool valid_remote_host(std::string_view host);

}  // namespace snapkeep
