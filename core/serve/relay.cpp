// The data path of a transfer between serve and a client (docs/remote.md): the client opens a second
// ssh connection and asks serve to attach it to a session (handle_attach); serve's rsync starts this
// program as its remote shell (run_relay), which takes over that connection's descriptors and copies
// bytes between them and rsync. Both prove the session's secret before a descriptor moves.

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/base/signals.hpp"
#include "core/remote/frame.hpp"
#include "core/remote/local_socket.hpp"
#include "core/serve/serve_session.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr std::size_t k_session_digits = 32;
constexpr std::size_t k_token_digits = 64;
constexpr auto k_attach_wait = std::chrono::seconds(120);
constexpr std::size_t k_buffer_bytes = 256 * 1024;
constexpr std::string_view k_token_prefix = "token ";

// Reads what a local peer sent, up to `limit` bytes, within `timeout_ms`.
Result<std::string> read_some(int fd, std::size_t limit, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) {
    return make_error(ErrorKind::runtime, "the other snapkeep process did not answer", ETIMEDOUT);
  }
  std::string out(limit, '\0');
  const ssize_t n = ::read(fd, out.data(), out.size());
  if (n < 0) {
    return sys_error("cannot read from the other snapkeep process", {});
  }
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// One direction of the copy: what was read and not yet written.
struct Direction {
  int from = -1;
  int to = -1;
  std::vector<char> buffer = std::vector<char>(k_buffer_bytes);
  std::size_t begin = 0;
  std::size_t end = 0;
  bool reading = true;  // until end of file (or an error) on `from`
  bool pending() const { return begin < end; }
};

// Reads into an empty buffer; end of file or an error stops reading.
void fill(Direction& d) {
  const ssize_t n = ::read(d.from, d.buffer.data(), d.buffer.size());
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
    return;
  }
  if (n <= 0) {
    d.reading = false;
    return;
  }
  d.begin = 0;
  d.end = static_cast<std::size_t>(n);
}

// Writes what the buffer holds; a closed reader (EPIPE) drops the rest and stops the direction.
void drain(Direction& d) {
  const ssize_t n = ::write(d.to, d.buffer.data() + d.begin, d.end - d.begin);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
    return;
  }
  if (n < 0) {
    d.begin = d.end = 0;
    d.reading = false;
    return;
  }
  d.begin += static_cast<std::size_t>(n);
}

// Says "no more data" on a descriptor: shutdown for a socket, close for a pipe.
void end_output(int fd) {
  if (::shutdown(fd, SHUT_WR) != 0) {
    ::close(fd);
  }
}

// Copies rsync's output to the client and the client's to rsync until the client's side ends
// (its rsync exited and ssh closed), the way ssh ends when the remote command does.
void copy_both_ways(int rsync_in, int rsync_out, int client_in, int client_out) {
  Direction up{rsync_in, client_out};    // serve's rsync -> client
  Direction down{client_in, rsync_out};  // client -> serve's rsync
  bool up_ended = false;
  while (down.reading || down.pending()) {
    std::vector<pollfd> fds;
    auto watch = [&](int fd, short events) {
      fds.push_back({fd, events, 0});
      return fds.size() - 1;
    };
    const std::size_t none = static_cast<std::size_t>(-1);
    std::size_t up_slot = none;
    std::size_t down_slot = none;
    if (up.pending()) {
      up_slot = watch(up.to, POLLOUT);
    } else if (up.reading) {
      up_slot = watch(up.from, POLLIN);
    } else if (!up_ended) {
      end_output(up.to);
      up_ended = true;
    }
    if (down.pending()) {
      down_slot = watch(down.to, POLLOUT);
    } else if (down.reading) {
      down_slot = watch(down.from, POLLIN);
    }
    if (fds.empty()) {
      break;
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR && stop_signal() == 0) {
        continue;
      }
      break;
    }
    if (up_slot != none && fds[up_slot].revents != 0) {
      up.pending() ? drain(up) : fill(up);
    }
    if (down_slot != none && fds[down_slot].revents != 0) {
      down.pending() ? drain(down) : fill(down);
    }
  }
  end_output(down.to);
}

}  // namespace

Result<fs::path> relay_socket_path(const std::string& session) {
  SNAPKEEP_TRY_ASSIGN(fs::path dir, run_dir());
  return dir / ("relay-" + session + ".sock");
}

int run_relay(const std::string& session, const std::vector<std::string>& rsync_words) {
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // rsync started us: go with it
  const pid_t rsync = ::getppid();
  const char* env_token = std::getenv("SNAPKEEP_RELAY_TOKEN");
  const std::string token = env_token != nullptr ? env_token : "";
  ::unsetenv("SNAPKEEP_RELAY_TOKEN");
  if (!is_hex_token(session, k_session_digits) || !is_hex_token(token, k_token_digits)) {
    spdlog::error("relay: started without a valid session (it is started by snapkeep serve's rsync only)");
    return exit_code(ExitStatus::usage);
  }
  // rsync appended "HOST rsync --server ...": the server argv it wants for its other end.
  std::vector<std::string> server_args;
  for (std::size_t i = 2; i < rsync_words.size(); ++i) {
    server_args.push_back(rsync_words[i]);
  }
  auto path = relay_socket_path(session);
  if (!path) {
    spdlog::error("relay: {}", path.error().describe());
    return exit_code(ExitStatus::failed);
  }
  auto listener = listen_unix(*path);
  if (!listener) {
    spdlog::error("relay: {}", listener.error().describe());
    return exit_code(ExitStatus::failed);
  }
  Fd attach;
  std::vector<Fd> client;
  while (client.empty()) {
    auto connection = accept_unix(listener->get(), k_attach_wait, [&] { return ::getppid() != rsync; });
    if (!connection) {
      ::unlink(path->c_str());
      spdlog::error("relay: the client did not open its data connection: {}", connection.error().describe());
      return exit_code(ExitStatus::failed);
    }
    auto said = read_some(connection->get(), 200, 10000);
    const bool proven = said && said->starts_with(k_token_prefix) &&
                        same_secret(std::string_view(*said).substr(k_token_prefix.size()), token);
    if (::write(connection->get(), proven ? "ok" : "no", 2) != 2 || !proven) {
      spdlog::warn("relay: a connection without the session's secret was turned away");
      continue;
    }
    auto received = receive_with_fds(connection->get(), 16);
    if (!received || received->fds.size() != 2) {
      spdlog::warn("relay: the attach sent no connection");
      continue;
    }
    client = std::move(received->fds);
    attach = std::move(*connection);
  }
  ::unlink(path->c_str());
  listener->reset();
  const int client_in = client[0].get();
  const int client_out = client[1].get();
  if (auto sent = write_message(client_out, {{"type", "attached"}, {"server_args", server_args}}); !sent) {
    spdlog::error("relay: {}", sent.error().describe());
    return exit_code(ExitStatus::failed);
  }
  copy_both_ways(STDIN_FILENO, STDOUT_FILENO, client_in, client[1].release());
  const char status = 0;
  (void)::write(attach.get(), &status, 1);
  return exit_code(ExitStatus::ok);
}

int handle_attach(const ServeSession& session, const nlohmann::json& request) {
  auto text = [&](const char* key) {
    const auto it = request.find(key);
    return it != request.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const std::string id = text("session");
  const std::string token = text("token");
  auto refuse = [&](const std::string& why) {
    (void)write_message(session.out_fd, error_message(config_error("refused: " + why)));
    spdlog::error("serve: attach refused: {}", why);
    return exit_code(ExitStatus::usage);
  };
  if (!is_hex_token(id, k_session_digits) || !is_hex_token(token, k_token_digits)) {
    return refuse("an attach needs a session and its secret as serve gave them");
  }
  auto path = relay_socket_path(id);
  if (!path) {
    return refuse(path.error().describe());
  }
  // Wait for serve's rsync to start the relay, for as long as the client waits.
  Fd relay;
  for (;;) {
    if (auto connected = connect_unix(*path)) {
      relay = std::move(*connected);
      break;
    } else if (connected.error().err != ENOENT && connected.error().err != ECONNREFUSED) {
      return refuse(connected.error().describe());
    }
    pollfd p{session.in_fd, POLLIN, 0};
    if (stop_signal() != 0 || (::poll(&p, 1, 100) > 0)) {
      spdlog::info("serve: the client closed its data connection before the transfer started");
      return exit_code(ExitStatus::failed);
    }
  }
  const std::string proof = std::string(k_token_prefix) + token;
  auto answer = ::write(relay.get(), proof.data(), proof.size()) == static_cast<ssize_t>(proof.size())
                    ? read_some(relay.get(), 2, 10000)
                    : Result<std::string>(sys_error("cannot reach the relay", *path));
  if (!answer || *answer != "ok") {
    return refuse("this data connection's secret does not match the session");
  }
  if (auto sent = send_with_fds(relay.get(), "fds", {session.in_fd, session.out_fd}); !sent) {
    return refuse(sent.error().describe());
  }
  // The relay has the connection now: let go of our copies, so its end of file is the client's.
  Fd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  ::dup2(null.get(), session.in_fd);
  ::dup2(null.get(), session.out_fd);
  char status = 1;
  while (::read(relay.get(), &status, 1) < 0 && errno == EINTR) {
  }
  return status == 0 ? exit_code(ExitStatus::ok) : exit_code(ExitStatus::failed);
}

}  // namespace snapkeep
