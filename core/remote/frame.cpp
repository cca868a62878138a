#include "core/remote/frame.hpp"

#include <poll.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>

#include "core/base/signals.hpp"

namespace snapkeep {
namespace {

constexpr std::array<char, 4> k_magic{'S', 'N', 'P', 'K'};
constexpr std::size_t k_header_bytes = 8;
// How long to wait for more of what a peer that does not speak the protocol sent, to quote it.
constexpr int k_quote_wait_ms = 200;

// Writes all of data; EINTR is retried unless we are asked to stop.
Status write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR && stop_signal() == 0) {
      continue;
    }
    if (n < 0) {
      return sys_error("cannot send to the other end of the connection", {});
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

// Reads exactly size bytes; returns how many arrived before end of file.
Result<std::size_t> read_exact(int fd, char* data, std::size_t size, std::string_view peer) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) {
      if (stop_signal() != 0) {
        return runtime_error("interrupted by signal " + std::to_string(stop_signal()) + " while waiting for " +
                             std::string(peer));
      }
      continue;
    }
    if (n < 0) {
      return sys_error("cannot read from " + std::string(peer), {});
    }
    if (n == 0) {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  return done;
}

// The bytes as a reader can see them: printable, the rest escaped.
std::string printable(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isprint(u) != 0) {
      out += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    }
  }
  return out;
}

}  // namespace

Status write_message(int fd, const nlohmann::json& message) {
  const std::string body = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (body.size() > k_max_frame_bytes) {
    return runtime_error("internal error: a protocol message of " + std::to_string(body.size()) +
                         " bytes is larger than the limit");
  }
  std::string frame(k_magic.begin(), k_magic.end());
  const auto size = static_cast<std::uint32_t>(body.size());
  for (int shift = 24; shift >= 0; shift -= 8) {
    frame += static_cast<char>((size >> shift) & 0xff);
  }
  frame += body;
  return write_all(fd, frame.data(), frame.size());
}

Result<nlohmann::json> read_message(int fd, std::string_view peer) {
  std::array<char, k_header_bytes> header{};
  // The magic first, alone: a peer that speaks another protocol (rsync sends its 4-byte version and
  // waits for ours) is told apart at once instead of waiting for bytes that never come.
  SNAPKEEP_TRY_ASSIGN(std::size_t got, read_exact(fd, header.data(), k_magic.size(), peer));
  if (got == k_magic.size() && std::equal(k_magic.begin(), k_magic.end(), header.begin())) {
    SNAPKEEP_TRY_ASSIGN(std::size_t rest, read_exact(fd, header.data() + got, header.size() - got, peer));
    got += rest;
  }
  if (got == 0) {
    return runtime_error(std::string(peer) + " closed the connection");
  }
  if (got < header.size() || !std::equal(k_magic.begin(), k_magic.end(), header.begin())) {
    // Show what arrived instead of a frame: usually a line a login shell or another program printed.
    std::string seen(header.data(), got);
    pollfd ready{fd, POLLIN, 0};
    if (got == k_magic.size() && ::poll(&ready, 1, k_quote_wait_ms) > 0) {  // what else it sent, if it sends
      std::array<char, 120> more{};
      const ssize_t n = ::read(fd, more.data(), more.size());
      if (n > 0) {
        seen.append(more.data(), static_cast<std::size_t>(n));
      }
    }
    return runtime_error(std::string(peer) +
                         " did not answer in snapkeep's protocol (is remote_command snapkeep serve, and does the "
                         "remote login print nothing?); it sent: \"" +
                         printable(seen) + "\"");
  }
  std::uint32_t size = 0;
  for (std::size_t i = 4; i < header.size(); ++i) {
    size = (size << 8) | static_cast<unsigned char>(header[i]);
  }
  if (size > k_max_frame_bytes) {
    return runtime_error(std::string(peer) + " sent a message of " + std::to_string(size) +
                         " bytes, more than the protocol allows");
  }
  std::string body(size, '\0');
  SNAPKEEP_TRY_ASSIGN(std::size_t body_got, read_exact(fd, body.data(), body.size(), peer));
  if (body_got < size) {
    return runtime_error(std::string(peer) + " closed the connection in the middle of a message");
  }
  nlohmann::json message = nlohmann::json::parse(body, nullptr, false);
  if (message.is_discarded() || !message.is_object() || !message.contains("type") || !message["type"].is_string()) {
    return runtime_error(std::string(peer) + " sent a malformed message");
  }
  return message;
}

std::string message_type(const nlohmann::json& message) {
  if (message.is_object()) {
    if (auto it = message.find("type"); it != message.end() && it->is_string()) {
      return it->get<std::string>();
    }
  }
  return {};
}

nlohmann::json error_message(const Error& error) {
  Error unnamed = error;
  unnamed.preset.clear();  // the client names its preset itself
  nlohmann::json out{{"type", "error"},
                     {"kind", static_cast<int>(error.kind)},
                     {"message", unnamed.describe()},
                     {"errno", error.err},
                     {"full", error.full},
                     {"drive_absent", error.drive_absent}};
  return out;
}

Error error_from_message(const nlohmann::json& message, std::string_view peer) {
  Error e;
  e.message = peer.empty() ? "" : std::string(peer) + ": ";
  const auto text = message.find("message");
  e.message += text != message.end() && text->is_string() ? text->get<std::string>() : "failed";
  if (const auto kind = message.find("kind"); kind != message.end() && kind->is_number_integer()) {
    const int k = kind->get<int>();
    if (k >= static_cast<int>(ErrorKind::runtime) && k <= static_cast<int>(ErrorKind::damage)) {
      e.kind = static_cast<ErrorKind>(k);
    }
  }
  // The errno was the remote's: it is in the message text already; keeping it would make this
  // machine's strerror appear a second time.
  const auto flag = [&](const char* key) {
    const auto it = message.find(key);
    return it != message.end() && it->is_boolean() && it->get<bool>();
  };
  e.full = flag("full");
  e.drive_absent = flag("drive_absent");
  return e;
}

}  // namespace snapkeep
