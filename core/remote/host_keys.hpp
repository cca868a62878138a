#pragma once
// First contact with a host (`snapkeep trust HOST`): its keys as ssh-keyscan sees them, their
// fingerprints (ssh-keygen -lf) for the user to compare, and storing them in snapkeep's known_hosts.

#include <filesystem>
#include <string>
#include <vector>

#include "core/base/error.hpp"
#include "core/remote/location.hpp"

namespace snapkeep {

// One host key as a known_hosts line, with what a person compares.
struct HostKey {
  std::string line;         // "[host]:port ssh-ed25519 AAAA..."
  std::string type;         // "ssh-ed25519"
  std::string fingerprint;  // "SHA256:..." (ssh-keygen -lf)
};

// The host as known_hosts names it: "host", or "[host]:port" for another port than 22.
std::string known_hosts_name(const RemoteLocation& where);

// Asks the host for its keys (ssh-keyscan, no login) and fingerprints them. Fails with "cannot
// connect" when the host does not answer, or when it offers no key.
Result<std::vector<HostKey>> scan_host_keys(const RemoteLocation& where);

// What storing keys would do.
struct StoreCheck {
  std::vector<std::string> already;   // key types stored with the same key
  std::vector<std::string> conflict;  // key types stored with another key: the host key changed
};

// Compares the keys with what `known_hosts` holds for the host (a missing file holds nothing).
Result<StoreCheck> compare_host_keys(const std::filesystem::path& known_hosts, const std::vector<HostKey>& keys);

// Appends the keys not stored yet (the file and its folder are made when missing, the file replaced
// atomically). A stored key of the same type that differs is an error: remove it first.
Status store_host_keys(const std::filesystem::path& known_hosts, const std::vector<HostKey>& keys);

}  // namespace snapkeep
