#pragma once
// Reading the paths a `btrfs send` stream changes, as the stream passes through snapkeep on its way
// to `btrfs receive`. An incremental stream names every path whose entry it creates, writes,
// renames, links, unlinks or changes the metadata of; that list lets the new snapshot's manifest be
// written from its parent's manifest without walking the new snapshot (docs/btrfs.md). The stream
// format (v1, and v2's DATA attribute) is the kernel's: a header, then commands of typed,
// length-prefixed attributes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "core/store/backend.hpp"

namespace snapkeep::btrfs {

// Fed the stream in pieces of any size; keeps only the paths, never the file data, and at most
// `max_paths` of them (beyond that the changes are not worth listing: usable() turns false).
class SendStreamChanges {
 public:
  explicit SendStreamChanges(std::size_t max_paths = 100000) : m_max_paths(max_paths) {}

  // The next bytes of the stream.
  void feed(std::string_view bytes);
  // Whether the stream read so far was whole and well-formed (ended with its END command) and
  // named at most max_paths paths.
  bool usable() const { return well_formed() && !m_too_many_paths; }
  // Whether it was whole and well-formed, however many paths it named.
  bool well_formed() const { return m_failure.empty() && m_ended; }
  // Why not usable, for the log.
  std::string failure() const;
  // The changes, relative to `base` (the parent snapshot's id); nullopt when not usable. Every
  // named path and its parent folder are listed as entries; renamed and removed folders as subtrees.
  std::optional<TreeChanges> changes(const std::string& base) const;

  std::uint64_t commands() const { return m_commands; }

  // The subvolume the stream makes: its name (where btrfs receive puts it) and uuid ("" until its
  // SUBVOL or SNAPSHOT command was read).
  const std::string& subvolume_name() const { return m_subvolume_name; }
  const std::string& subvolume_uuid() const { return m_subvolume_uuid; }
  // Uuids (text form) of the subvolumes the stream takes data from at the receiving end: the
  // parent of a snapshot, and every clone source. btrfs receive finds them by received uuid
  // anywhere on its filesystem, so a receiver that serves several clients checks them.
  const std::set<std::string>& referenced_uuids() const { return m_referenced; }

 private:
  void fail(std::string why);
  void command(std::uint16_t type, std::string_view payload);
  void add(std::set<std::string>& to, std::string_view path);

  std::size_t m_max_paths;
  std::string m_pending;  // bytes of an incomplete header or command
  bool m_header_read = false;
  std::uint32_t m_version = 0;
  bool m_ended = false;
  std::string m_failure;
  std::uint64_t m_commands = 0;
  std::set<std::string> m_entries;
  std::set<std::string> m_subtrees;
  bool m_too_many_paths = false;
  std::string m_subvolume_name;
  std::string m_subvolume_uuid;
  std::set<std::string> m_referenced;
};

}  // namespace snapkeep::btrfs
