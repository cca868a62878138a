#include "core/remote/location.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace snapkeep {
namespace {

constexpr std::string_view k_ssh_scheme = "ssh://";
constexpr std::size_t k_max_host_bytes = 253;
constexpr std::size_t k_max_user_bytes = 64;

bool has_control_characters(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

bool is_ipv6(std::string_view host) {
  return host.find(':') != std::string_view::npos && std::all_of(host.begin(), host.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
         });
}

bool valid_user(std::string_view user) {
  return !user.empty() && user.size() <= k_max_user_bytes && user.front() != '-' &&
         std::all_of(user.begin(), user.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
         });
}

Error bad(std::string_view text, const std::string& why) {
  return config_error("remote location '" + std::string(text) + "': " + why);
}

// "[user@]host" (host possibly "[v6]") into user and host.
Status split_user_host(std::string_view text, std::string_view authority, RemoteLocation& out) {
  if (const auto at = authority.find('@'); at != std::string_view::npos) {
    out.user = std::string(authority.substr(0, at));
    authority.remove_prefix(at + 1);
    if (!valid_user(out.user)) {
      return bad(text, "the user '" + out.user +
                           "' must be letters, digits, '.', '_' or '-' (not first), at most 64 characters");
    }
  }
  if (authority.size() >= 2 && authority.front() == '[' && authority.back() == ']') {
    authority = authority.substr(1, authority.size() - 2);
    if (!is_ipv6(authority)) {
      return bad(text, "'[" + std::string(authority) + "]' is not an IPv6 address");
    }
  } else if (authority.find(':') != std::string_view::npos) {
    return bad(text, "an IPv6 address must be written in brackets, e.g. [::1]");
  }
  out.host = std::string(authority);
  if (!valid_remote_host(out.host)) {
    return bad(text, out.host.empty()
                         ? "no host name"
                         : "the host '" + out.host +
                               "' must be letters, digits, '.', '_' or '-', and not start with '-' or '.'");
  }
  return {};
}

// The path part: absolute, no '..', normalised without a trailing slash.
Status set_path(std::string_view text, std::string_view path, RemoteLocation& out) {
  if (path.empty() || path.front() != '/') {
    return bad(text, "the path after the host must be absolute (start with '/')");
  }
  std::filesystem::path p{std::string(path)};
  for (const auto& part : p) {
    if (part == "..") {
      return bad(text, "the path must not contain '..'");
    }
  }
  p = p.lexically_normal();
  if (!p.has_filename() && p != p.root_path()) {
    p = p.parent_path();
  }
  out.path = p;
  return {};
}

}  // namespace

bool valid_remote_host(std::string_view host) {
  if (host.empty() || host.size() > k_max_host_bytes) {
    return false;
  }
  if (is_ipv6(host)) {
    return true;
  }
  return host.front() != '-' && host.front() != '.' && std::all_of(host.begin(), host.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_';
         });
}

std::string RemoteLocation::bracketed_host() const {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string RemoteLocation::display() const {
  const std::string who = user.empty() ? "" : user + "@";
  if (port) {
    return std::string(k_ssh_scheme) + who + bracketed_host() + ":" + std::to_string(*port) + path.string();
  }
  return who + bracketed_host() + ":" + path.string();
}

bool looks_remote(std::string_view text) {
  if (text.starts_with(k_ssh_scheme)) {
    return true;
  }
  if (text.empty() || text.front() == '/' || text.front() == '.') {
    return false;
  }
  const auto colon = text.find(':');
  return colon != std::string_view::npos && colon < text.find('/');
}

Result<RemoteLocation> parse_remote_location(std::string_view text) {
  if (has_control_characters(text)) {
    return bad(text, "control characters (a line break?) are not allowed");
  }
  RemoteLocation out;
  if (text.starts_with(k_ssh_scheme)) {
    std::string_view rest = text.substr(k_ssh_scheme.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) {
      return bad(text, "an ssh:// location needs a path: ssh://host/path");
    }
    std::string_view authority = rest.substr(0, slash);
    // A port follows the last ':' outside brackets.
    const auto close = authority.rfind(']');
    const auto colon = authority.rfind(':');
    if (colon != std::string_view::npos && (close == std::string_view::npos || colon > close)) {
      std::string_view digits = authority.substr(colon + 1);
      unsigned value = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || value == 0 || value > 65535) {
        return bad(text, "the port '" + std::string(digits) + "' must be a number from 1 to 65535");
      }
      out.port = static_cast<std::uint16_t>(value);
      authority = authority.substr(0, colon);
    }
    SNAPKEEP_TRY(split_user_host(text, authority, out));
    SNAPKEEP_TRY(set_path(text, rest.substr(slash), out));
    return out;
  }
  // scp form: [user@]host:/path, host possibly [v6].
  std::size_t colon = 0;
  if (const auto open = text.find('['); open != std::string_view::npos && open < text.find(':')) {
    const auto close = text.find(']', open);
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad(text, "write an IPv6 host as [address]:/path");
    }
    colon = close + 1;
  } else {
    colon = text.find(':');
    if (colon == std::string_view::npos) {
      return bad(text, "write [user@]host:/path or ssh://[user@]host[:port]/path");
    }
  }
  SNAPKEEP_TRY(split_user_host(text, text.substr(0, colon), out));
  std::string_view path = text.substr(colon + 1);
  if (!path.empty() && path.front() != '/' && std::isdigit(static_cast<unsigned char>(path.front())) != 0) {
    return bad(text, "the path after 'host:' must be absolute; for a port write ssh://host:PORT/path");
  }
  SNAPKEEP_TRY(set_path(text, path, out));
  return out;
}

}  // namespace snapkeep
