#pragma once
// A throw-away OpenSSH server for remote tests: sshd on 127.0.0.1 on a free port, with its own host
// key, config and authorized_keys in a temporary folder, and a client key for the tests. Nothing of
// the machine's own ssh setup is read or changed (sshd -f names our config; only /run/sshd, sshd's
// privilege separation folder, is made when missing). Stopped (by its pid) at destruction.

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "tests/support/testutil.hpp"

namespace snapkeep::test {

class SshServer {
 public:
  // Makes the keys and config and starts sshd. Fails the test (ok() false) when it cannot.
  SshServer();
  ~SshServer();
  SshServer(const SshServer&) = delete;
  SshServer& operator=(const SshServer&) = delete;

  bool ok() const { return m_pid > 0; }
  std::uint16_t port() const { return m_port; }
  // The private key the tests log in with (its public half is in authorized_keys).
  fs::path client_key() const { return m_dir / "client_key"; }
  // A known_hosts file in the fixture's folder (empty until `snapkeep trust` fills it).
  fs::path known_hosts() const { return m_dir / "known_hosts"; }
  // The socket folder snapkeep serve and its relay use on the server side (SNAPKEEP_RUN_DIR).
  fs::path remote_run_dir() const { return m_dir / "remote-run"; }
  // The host's public key file, to compare fingerprints with.
  fs::path host_public_key() const { return m_dir / "host_key.pub"; }
  // "ssh://root@127.0.0.1:PORT" + path.
  std::string url(const fs::path& path) const;
  // The preset lines that reach this server: ssh_identity and known_hosts.
  std::string preset_lines() const;
  // Replaces the client key's authorized_keys line by one forcing `command` (sshd hands it to the
  // user's shell, as a real server's authorized_keys does).
  void force_command(const std::string& command);
  // A new host key (a reinstalled server, or someone in between), and sshd restarted with it.
  void change_host_key();
  // What sshd logged (stderr, -e).
  std::string log() const;

 private:
  void start();
  void stop();

  TempDir m_tmp;
  fs::path m_dir;
  std::uint16_t m_port = 0;
  pid_t m_pid = -1;
};

}  // namespace snapkeep::test
