#include "core/remote/local_socket.hpp"

#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/base/signals.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr std::size_t k_max_fds = 4;

Result<sockaddr_un> address_of(const fs::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof(address.sun_path)) {
    return runtime_error("socket path " + path.string() + " is too long (set SNAPKEEP_RUN_DIR to a shorter folder)");
  }
  std::memcpy(address.sun_path, path.c_str(), path.native().size() + 1);
  return address;
}

}  // namespace

Result<fs::path> run_dir() {
  fs::path dir;
  if (const char* env = std::getenv("SNAPKEEP_RUN_DIR"); env != nullptr && *env != '\0') {
    dir = env;
  } else if (::geteuid() == 0) {
    dir = "/run/snapkeep";
  } else {
    dir = "/tmp/snapkeep-" + std::to_string(::geteuid());
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return sys_error("cannot create snapkeep's socket folder", dir);
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    return sys_error("cannot examine snapkeep's socket folder", dir);
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    return runtime_error("snapkeep's socket folder " + dir.string() +
                         " must be a directory owned by this user that nobody else may enter (mode 0700)");
  }
  return dir;
}

Result<Fd> listen_unix(const fs::path& path) {
  SNAPKEEP_TRY_ASSIGN(sockaddr_un address, address_of(path));
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return sys_error("cannot make a socket", path);
  }
  ::unlink(path.c_str());
  const mode_t old_mask = ::umask(077);
  const int bound = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  ::umask(old_mask);
  if (bound != 0) {
    return sys_error("cannot bind a socket", path);
  }
  if (::listen(fd.get(), 4) != 0) {
    return sys_error("cannot listen on a socket", path);
  }
  return fd;
}

Result<Fd> accept_unix(int listener, std::chrono::milliseconds limit, const std::function<bool()>& give_up) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (stop_signal() != 0) {
      return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
    }
    if (give_up && give_up()) {
      return runtime_error("the other end went away before it connected");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(ErrorKind::runtime, "nobody connected in time", ETIMEDOUT);
    }
    pollfd p{listener, POLLIN, 0};
    const int ready = ::poll(&p, 1, 200);
    if (ready < 0 && errno != EINTR) {
      return sys_error("cannot wait for a connection", {});
    }
    if (ready > 0) {
      Fd fd(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
      if (fd) {
        return fd;
      }
      if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN) {
        return sys_error("cannot accept a connection", {});
      }
    }
  }
}

Result<Fd> connect_unix(const fs::path& path) {
  SNAPKEEP_TRY_ASSIGN(sockaddr_un address, address_of(path));
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return sys_error("cannot make a socket", path);
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return sys_error("cannot connect to", path);
  }
  return fd;
}

Status send_with_fds(int socket, std::string_view bytes, const std::vector<int>& fds) {
  if (fds.size() > k_max_fds || bytes.empty()) {
    return runtime_error("internal error: bad descriptor message");
  }
  iovec io{const_cast<char*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * k_max_fds)]{};
  msghdr msg{};
  msg.msg_iov = &io;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* header = CMSG_FIRSTHDR(&msg);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    const ssize_t n = ::sendmsg(socket, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n != static_cast<ssize_t>(bytes.size())) {
      return sys_error("cannot hand descriptors to another snapkeep process", {});
    }
    return {};
  }
}

Result<ReceivedFds> receive_with_fds(int socket, std::size_t max_bytes) {
  ReceivedFds out;
  out.bytes.resize(max_bytes);
  iovec io{out.bytes.data(), out.bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * k_max_fds)]{};
  msghdr msg{};
  msg.msg_iov = &io;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = 0;
  do {
    n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR && stop_signal() == 0);
  if (n < 0) {
    return sys_error("cannot receive from another snapkeep process", {});
  }
  for (cmsghdr* header = CMSG_FIRSTHDR(&msg); header != nullptr; header = CMSG_NXTHDR(&msg, header)) {
    if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS) {
      const std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
        out.fds.emplace_back(fd);
      }
    }
  }
  if ((msg.msg_flags & MSG_CTRUNC) != 0) {
    return runtime_error("another snapkeep process sent more descriptors than expected");
  }
  out.bytes.resize(static_cast<std::size_t>(n));
  return out;
}

Result<std::string> random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t n = ::getrandom(raw.data() + done, bytes - done, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return sys_error("cannot read random bytes", {});
    }
    done += static_cast<std::size_t>(n);
  }
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += k_digits[c >> 4];
    out += k_digits[c & 15];
  }
  return out;
}

bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

bool is_hex_token(std::string_view text, std::size_t digits) {
  return text.size() == digits &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace snapkeep
