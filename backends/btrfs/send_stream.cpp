#include "backends/btrfs/send_stream.hpp"

#include <cstring>
#include <vector>

namespace snapkeep::btrfs {
namespace {

constexpr std::string_view k_magic{"btrfs-stream\0", 13};
constexpr std::size_t k_stream_header = 13 + 4;  // magic, le32 version
constexpr std::size_t k_command_header = 10;     // le32 length, le16 type, le32 crc
// No command this large carries a path worth buffering (v1 commands are at most 64 KiB).
constexpr std::uint32_t k_max_command = 16u << 20;

// Command types (the kernel's enum btrfs_send_cmd).
enum : std::uint16_t {
  c_subvol = 1,
  c_snapshot = 2,
  c_mkfile = 3,
  c_symlink = 8,
  c_rename = 9,
  c_link = 10,
  c_unlink = 11,
  c_rmdir = 12,
  c_end = 21,
  c_last_known = 26,  // up to v3's enable_verity
};
// Attribute types (the kernel's BTRFS_SEND_A_*).
enum : std::uint16_t { a_uuid = 1, a_path = 15, a_path_to = 16, a_path_link = 17, a_data = 19, a_clone_uuid = 20 };

// The text form of a 16-byte uuid ("0c5f1a2b-..."), as btrfs/subvolume.hpp writes it.
std::string uuid_text_of(std::string_view bytes) {
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out += '-';
    }
    const auto b = static_cast<unsigned char>(bytes[i]);
    out += k_hex[b >> 4];
    out += k_hex[b & 0xf];
  }
  return out;
}

std::uint16_t le16(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint16_t>(b[0] | (b[1] << 8));
}
std::uint32_t le32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint32_t>(b[0]) | (static_cast<std::uint32_t>(b[1]) << 8) |
         (static_cast<std::uint32_t>(b[2]) << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
}

// "a/b/c" -> "a/b"; "c" -> "" (the snapshot's root, which no manifest lists).
std::string_view parent_of(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view{} : path.substr(0, slash);
}

}  // namespace

void SendStreamChanges::fail(std::string why) {
  if (m_failure.empty()) {
    m_failure = std::move(why);
  }
  m_pending.clear();
  m_pending.shrink_to_fit();
}

std::string SendStreamChanges::failure() const {
  if (!m_failure.empty()) {
    return m_failure;
  }
  if (!m_ended) {
    return "the stream ended without its END command";
  }
  return m_too_many_paths ? "the stream changes more than " + std::to_string(m_max_paths) + " paths" : std::string();
}

void SendStreamChanges::add(std::set<std::string>& to, std::string_view path) {
  if (!m_failure.empty() || m_too_many_paths) {
    return;
  }
  if (!path.empty() && (path.front() == '/' || path.find('\0') != std::string_view::npos)) {
    fail("the stream names a path snapkeep cannot place: " + std::string(path.substr(0, 200)));
    return;
  }
  to.emplace(path);
  if (!path.empty()) {
    m_entries.emplace(parent_of(path));  // its folder's mtime and ctime change with it
  }
  if (m_entries.size() + m_subtrees.size() > m_max_paths) {
    // Not worth listing; the rest is still read for its uuids and its END.
    m_too_many_paths = true;
    m_entries.clear();
    m_subtrees.clear();
  }
}

void SendStreamChanges::command(std::uint16_t type, std::string_view payload) {
  ++m_commands;
  if (type == 0 || type > c_last_known) {
    fail("unknown command " + std::to_string(type) + " in the send stream");
    return;
  }
  if (m_ended) {
    fail("a command after the END command (more than one subvolume in the stream)");
    return;
  }
  if (type == c_end) {
    m_ended = true;
    return;
  }
  std::optional<std::string_view> path;
  std::optional<std::string_view> path_to;
  std::optional<std::string_view> path_link;
  std::optional<std::string_view> uuid;
  std::optional<std::string_view> clone_uuid;
  std::size_t at = 0;
  while (at < payload.size()) {
    if (payload.size() - at < 2) {
      fail("a torn attribute in command " + std::to_string(type));
      return;
    }
    const std::uint16_t attribute = le16(payload.data() + at);
    if (attribute == a_data && m_version >= 2) {
      break;  // v2: the data runs to the end of the command, without a length
    }
    if (payload.size() - at < 4) {
      fail("a torn attribute in command " + std::to_string(type));
      return;
    }
    const std::uint16_t length = le16(payload.data() + at + 2);
    at += 4;
    if (payload.size() - at < length) {
      fail("an attribute longer than its command " + std::to_string(type));
      return;
    }
    std::string_view value = payload.substr(at, length);
    at += length;
    if (attribute == a_path) {
      path = value;
    } else if (attribute == a_path_to) {
      path_to = value;
    } else if (attribute == a_path_link) {
      path_link = value;
    } else if (attribute == a_uuid) {
      uuid = value;
    } else if (attribute == a_clone_uuid) {
      clone_uuid = value;
    }
  }
  if (clone_uuid) {
    if (clone_uuid->size() != 16) {
      fail("a clone uuid of " + std::to_string(clone_uuid->size()) + " bytes in command " + std::to_string(type));
      return;
    }
    m_referenced.insert(uuid_text_of(*clone_uuid));
  }
  if (type == c_subvol || type == c_snapshot) {
    // Names the received subvolume, not a path in it.
    if (!path || !uuid || uuid->size() != 16 || !m_subvolume_name.empty()) {
      fail("a malformed or second subvolume command");
      return;
    }
    m_subvolume_name = std::string(*path);
    m_subvolume_uuid = uuid_text_of(*uuid);
    return;
  }
  if (!path) {
    fail("command " + std::to_string(type) + " names no path");
    return;
  }
  switch (type) {
    case c_rename:
      if (!path_to) {
        fail("a rename without its new name");
        return;
      }
      add(m_subtrees, *path);  // everything below moves along, unnamed
      add(m_subtrees, *path_to);
      break;
    case c_rmdir: add(m_subtrees, *path); break;
    case c_link:
      add(m_entries, *path);
      if (path_link) {
        add(m_entries, *path_link);  // the existing name: its inode gains a link
      }
      break;
    default:  // symlink's PATH_LINK is its target, not a path of the tree
      add(m_entries, *path);
      break;
  }
}

void SendStreamChanges::feed(std::string_view bytes) {
  if (!m_failure.empty() || bytes.empty()) {
    return;
  }
  m_pending.append(bytes);
  std::size_t at = 0;
  if (!m_header_read) {
    if (m_pending.size() < k_stream_header) {
      return;
    }
    if (std::string_view(m_pending).substr(0, k_magic.size()) != k_magic) {
      fail("not a btrfs send stream");
      return;
    }
    m_version = le32(m_pending.data() + k_magic.size());
    m_header_read = true;
    at = k_stream_header;
  }
  while (m_failure.empty() && m_pending.size() - at >= k_command_header) {
    const std::uint32_t length = le32(m_pending.data() + at);
    const std::uint16_t type = le16(m_pending.data() + at + 4);
    if (length > k_max_command) {
      fail("a command of " + std::to_string(length) + " bytes");
      return;
    }
    if (m_pending.size() - at - k_command_header < length) {
      break;
    }
    command(type, std::string_view(m_pending).substr(at + k_command_header, length));
    at += k_command_header + length;
  }
  if (m_failure.empty()) {
    m_pending.erase(0, at);
  }
}

std::optional<TreeChanges> SendStreamChanges::changes(const std::string& base) const {
  if (!usable()) {
    return std::nullopt;
  }
  TreeChanges out;
  out.base = base;
  for (const auto& path : m_entries) {
    if (!path.empty()) {
      out.entries.push_back(path);
    }
  }
  out.subtrees.assign(m_subtrees.begin(), m_subtrees.end());
  return out;
}

}  // namespace snapkeep::btrfs
