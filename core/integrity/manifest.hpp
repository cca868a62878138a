#pragma once
// The manifest file format (SPEC §6): one file per snapshot, DEST/<preset>/.snapkeep/manifests/<id>,
// never inside the snapshot. A format version header, one record per entry sorted by path (raw
// bytes, length-prefixed, so any name works), and a trailer with the entry count and an xxh128 of
// everything before it. See docs/scrub.md for the exact layout (versions 1 and 2).

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/base/error.hpp"
#include "core/base/fd.hpp"
#include "core/config/config.hpp"
#include "core/store/manifest_entry.hpp"

namespace snapkeep {

class ManifestParser;

// The format version this snapkeep writes; it reads every version up to this one. Version 2 adds
// the source identity to each record.
inline constexpr int k_manifest_version = 2;

// The manifest's header fields.
struct ManifestHeader {
  int version = k_manifest_version;
  ChecksumKind checksum = ChecksumKind::xxh128;
  std::string snapshot_id;
  std::string origin = "backup";  // "backup" (made with the snapshot) or "init" (scrub --init, first seen)
  std::int64_t created_ns = 0;
};

// DEST/<preset>/.snapkeep/manifests.
std::filesystem::path manifest_dir(const std::filesystem::path& state_dir);
// DEST/<preset>/.snapkeep/manifests/<id>.
std::filesystem::path manifest_path(const std::filesystem::path& state_dir, const std::string& id);

// Writes a manifest as a stream: entries go to a temporary sibling as they come; commit() adds the
// trailer, fsyncs, renames into place and fsyncs the folder. Without commit() nothing appears.
class ManifestWriter {
 public:
  // Starts `path` (its folder must exist), writing to a temporary sibling.
  static Result<ManifestWriter> create(const std::filesystem::path& path, const ManifestHeader& header);
  // Starts `path`, writing to `journal` (same filesystem) instead of a temporary sibling. Unlike a
  // temporary file, the journal stays when the writer is dropped without commit(), holding every
  // record flushed so far (checkpoint()); open_manifest_journal() reads it back when a killed run
  // is resumed.
  static Result<ManifestWriter> create_journal(const std::filesystem::path& path, const std::filesystem::path& journal,
                                               const ManifestHeader& header);
  ManifestWriter(ManifestWriter&& other) noexcept;
  ManifestWriter& operator=(ManifestWriter&&) = delete;
  ManifestWriter(const ManifestWriter&) = delete;
  ManifestWriter& operator=(const ManifestWriter&) = delete;
  ~ManifestWriter();  // removes the temporary file unless committed

  // Adds one entry; paths must come in strictly increasing byte order and hold no NUL.
  Status add(const ManifestEntry& entry);
  // Writes the records buffered so far to the file (no fsync).
  Status checkpoint();
  // Finishes the file and puts it in place atomically.
  Status commit();
  // Gives up: the temporary file or journal is removed now.
  void abandon();
  std::uint64_t entries() const { return m_entries; }

 private:
  ManifestWriter() = default;
  void start(const ManifestHeader& header);
  Status flush();
  std::filesystem::path m_path;
  std::filesystem::path m_temp;
  Fd m_fd;
  std::string m_buffer;
  std::string m_last_path;
  std::uint64_t m_entries = 0;
  void* m_hash = nullptr;  // XXH3_state_t* over every byte before the trailer
  bool m_committed = false;
  bool m_keep = false;  // a journal: kept when not committed
};

// What opening a manifest found.
enum class ManifestState {
  ok,
  missing,      // no manifest file
  damaged,      // bad format, checksum or count, or unreadable: never to be trusted
  unsupported,  // a version newer than this snapkeep knows
};

class ManifestReader;

// The result of open_manifest: a reader when state is ok, else why not.
struct ManifestOpen {
  ManifestState state = ManifestState::missing;
  std::string reason;  // for damaged/unsupported: what is wrong
  std::unique_ptr<ManifestReader> reader;
};

// Opens a manifest and checks all of it (format, version, every record, count and checksum) before
// any entry is handed out; memory does not grow with its size. `visit`, when given, sees every
// entry during that check (one pass less for a caller that needs two): what it gathered counts
// only when the state is ok.
ManifestOpen open_manifest(const std::filesystem::path& path,
                           const std::function<void(const ManifestEntry&)>& visit = {});

// Opens the journal of an unfinished manifest (ManifestWriter::create_journal): its header must be
// good; next() then hands out the complete records and stops at the first incomplete one (a killed
// writer leaves a torn end). There is no checksum to check: use it only for hints that are
// verified against the files themselves.
ManifestOpen open_manifest_journal(const std::filesystem::path& path);

// Streams the entries of a manifest that open_manifest checked.
class ManifestReader {
 public:
  ~ManifestReader();
  ManifestReader(const ManifestReader&) = delete;
  ManifestReader& operator=(const ManifestReader&) = delete;

  const ManifestHeader& header() const { return m_header; }
  std::uint64_t entry_count() const { return m_count; }
  // The next entry into `entry`; false after the last. An error means the file changed under us.
  Result<bool> next(ManifestEntry& entry);
  // The file offset of the record next() hands out next: a position for read_at().
  std::uint64_t position() const;
  // The record at `position` (from position()). It moves the reader: use one reader either for
  // next() or for read_at(), not both. An error means the file changed under us.
  Result<ManifestEntry> read_at(std::uint64_t position);

 private:
  friend ManifestOpen open_manifest(const std::filesystem::path& path,
                                    const std::function<void(const ManifestEntry&)>& visit);
  friend ManifestOpen open_manifest_journal(const std::filesystem::path& path);
  ManifestReader() = default;
  std::filesystem::path m_path;
  Fd m_fd;
  ManifestHeader m_header;
  std::uint64_t m_count = 0;
  std::uint64_t m_read = 0;
  bool m_journal = false;  // an unfinished manifest: no count, stops at the first incomplete record
  std::string m_last;      // journal: the path handed out last
  std::unique_ptr<ManifestParser> m_parser;
};

}  // namespace snapkeep
