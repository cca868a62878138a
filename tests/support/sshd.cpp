#include "tests/support/sshd.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "core/base/fd.hpp"
#include "tests/support/processes.hpp"

namespace snapkeep::test {
namespace {

constexpr const char* k_sshd = "/usr/sbin/sshd";

// A port nobody listens on now: the kernel's choice for a socket bound to port 0.
std::uint16_t free_port() {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (!s || ::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "cannot find a free port: " << std::strerror(errno);
    return 0;
  }
  return ntohs(addr.sin_port);
}

// Whether something accepts connections on 127.0.0.1:port.
bool listening(std::uint16_t port) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return s && ::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

std::string user_name() {
  const passwd* pw = ::getpwuid(::getuid());
  return pw != nullptr ? pw->pw_name : "root";
}

void make_key(const fs::path& path) {
  fs::remove(path);
  fs::remove(path.string() + ".pub");
  run_ok({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "snapkeep-test", "-f", path.string()});
}

}  // namespace

SshServer::SshServer() : m_dir(m_tmp.path()) {
  if (::access(k_sshd, X_OK) != 0) {
    ADD_FAILURE() << k_sshd << " is missing: scripts/setup installs openssh-server";
    return;
  }
  std::error_code ec;
  if (!fs::exists("/run/sshd", ec)) {
    fs::create_directories("/run/sshd", ec);  // sshd's privilege separation folder (empty, root's)
    fs::permissions("/run/sshd", fs::perms(0755), ec);
  }
  make_key(m_dir / "host_key");
  make_key(client_key());
  fs::copy_file(client_key().string() + ".pub", m_dir / "authorized_keys", fs::copy_options::overwrite_existing);
  write_file(known_hosts(), "");
  fs::create_directories(m_dir / "remote-state");
  for (int attempt = 0; attempt < 5 && m_pid <= 0; ++attempt) {
    m_port = free_port();
    start();
  }
  if (m_pid <= 0) {
    ADD_FAILURE() << "sshd did not start; its log:\n" << log();
  }
}

SshServer::~SshServer() {
  stop();
}

void SshServer::start() {
  write_file(m_dir / "sshd_config", "Port " + std::to_string(m_port) +
                                        "\n"
                                        "ListenAddress 127.0.0.1\n"
                                        "HostKey " +
                                        (m_dir / "host_key").string() +
                                        "\n"
                                        "AuthorizedKeysFile " +
                                        (m_dir / "authorized_keys").string() +
                                        "\n"
                                        "PidFile none\n"
                                        "PasswordAuthentication no\n"
                                        "KbdInteractiveAuthentication no\n"
                                        "PubkeyAuthentication yes\n"
                                        "PermitRootLogin prohibit-password\n"
                                        "StrictModes no\n"
                                        "UsePAM no\n"
                                        "MaxStartups 100\n"
                                        "PrintMotd no\n"
                                        "LogLevel VERBOSE\n"
                                        // The serve end's local state and sockets stay in the fixture too.
                                        "SetEnv SNAPKEEP_STATE_DIR=" +
                                        (m_dir / "remote-state").string() +
                                        " SNAPKEEP_RUN_DIR=" + remote_run_dir().string() + "\n");
  const std::string config = (m_dir / "sshd_config").string();
  const std::string log_path = (m_dir / "sshd.log").string();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // sshd goes when this test process goes, however it ends.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) {
      ::_exit(127);
    }
    const int null_fd = ::open("/dev/null", O_RDONLY);
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execl(k_sshd, k_sshd, "-D", "-e", "-f", config.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return;
  }
  bool up = wait_until(
      [&] {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
          return true;  // it ended: the port was taken, or the config is wrong
        }
        return listening(m_port);
      },
      std::chrono::seconds(20), std::chrono::milliseconds(20));
  int status = 0;
  if (up && ::kill(pid, 0) == 0 && ::waitpid(pid, &status, WNOHANG) == 0) {
    m_pid = pid;
  } else {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
}

void SshServer::stop() {
  if (m_pid > 0) {
    ::kill(m_pid, SIGTERM);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
    m_pid = -1;
  }
}

std::string SshServer::url(const fs::path& path) const {
  return "ssh://" + user_name() + "@127.0.0.1:" + std::to_string(m_port) + path.string();
}

std::string SshServer::preset_lines() const {
  return "ssh_identity = " + client_key().string() + "\nknown_hosts = " + known_hosts().string() + "\n";
}

void SshServer::force_command(const std::string& command) {
  write_file(m_dir / "authorized_keys",
             "command=\"" + command + "\",restrict " + read_file(client_key().string() + ".pub"));
}

void SshServer::change_host_key() {
  stop();
  make_key(m_dir / "host_key");
  for (int attempt = 0; attempt < 5 && m_pid <= 0; ++attempt) {
    start();
    if (m_pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  if (m_pid <= 0) {
    ADD_FAILURE() << "sshd did not start again on port " << m_port << "; its log:\n" << log();
  }
}

std::string SshServer::log() const {
  std::error_code ec;
  return fs::exists(m_dir / "sshd.log", ec) ? read_file(m_dir / "sshd.log") : std::string();
}

}  // namespace snapkeep::test
