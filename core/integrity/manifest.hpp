#pragma once
// The manifest file format (SPEC §6): one file per snapshot, DEST/<preset>/.snapkeep/manifests/<id>,
// never inside the snapshot. A format version header, one record per entry sorted by path (raw
// bytes, length-prefixed, so any name works), and a trailer with the entry count and a checksum.
// Version 3 packs the records in 4 KiB pages, each with its own xxh128 in a page table after them,
// so a new manifest can share the pages of an earlier one that did not change (a clone on btrfs)
// and a patch reads only the pages it changes. See docs/scrub.md for the exact layout.

#include <sys/types.h>

#include <compare>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/error.hpp"
#include "core/base/fd.hpp"
#include "core/config/config.hpp"
#include "core/store/manifest_entry.hpp"

namespace snapkeep {

class ManifestParser;
class DeltaRecords;

// The format version of the (whole) manifests this snapkeep writes. Version 2 adds the source
// identity to each record; version 3 the pages, the page table and the link table.
inline constexpr int k_manifest_version = 3;
// Version 4 is a delta manifest: the records of a snapshot that differ from the version 3 manifest
// of an earlier snapshot (its base), and the base's paths it lacks. open_manifest reads the two
// merged, as one whole manifest (docs/scrub.md, "Delta manifests"). This snapkeep reads every
// version up to this one.
inline constexpr int k_manifest_delta_version = 4;

// Version 3: records come in pages of this many bytes (a record longer than one page gets a page of
// several), padded with NUL bytes.
inline constexpr std::uint64_t k_manifest_page = 4096;
// A run of pages taken from a base manifest shorter than this is written, not cloned: each clone
// leaves up to two more extents in the new file, and runs of one to three pages are most of them
// when changes are spread (docs/btrfs.md, "The manifest of an incremental snapshot costs what
// changed").
inline constexpr std::uint64_t k_min_clone_bytes = 32 * 1024;

// The manifest's header fields.
struct ManifestHeader {
  int version = k_manifest_version;
  ChecksumKind checksum = ChecksumKind::xxh128;
  std::string snapshot_id;
  std::string origin = "backup";  // "backup" (made with the snapshot) or "init" (scrub --init, first seen)
  std::int64_t created_ns = 0;
  // Version 3: the link table lists every file entry whose inode had more than one link when it was
  // recorded (btrfs snapshots, where a link count is the snapshot's own). False: it lists nothing.
  bool links = false;
  // Version 4 (a delta): the snapshot whose manifest (version 3) it amends, that manifest's checksum
  // (ManifestReader::checksum), and the entries, files and file bytes of the two merged.
  std::string base;
  std::string base_checksum;
  std::uint64_t total_entries = 0;
  std::uint64_t total_files = 0;
  std::uint64_t total_bytes = 0;
  bool delta() const { return version == k_manifest_delta_version; }
};

// Version 3: one page of records, as the page table describes it.
struct ManifestPage {
  std::uint64_t offset = 0;  // in the file; a multiple of k_manifest_page
  std::uint64_t length = 0;  // a multiple of k_manifest_page
  std::uint64_t count = 0;   // records in it
  std::uint64_t files = 0;   // regular files among them ...
  std::uint64_t bytes = 0;   // ... and their sizes, summed
  std::string hash;          // xxh128 of its bytes, padding included
  std::string first;         // the path of its first record
};

// Version 3: a file entry whose inode had other names (ManifestHeader::links).
struct ManifestLink {
  std::string path;
  std::uint64_t ino = 0;
};

class ManifestIndex;

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

  // Adds one entry; paths must come in strictly increasing byte order and hold no NUL. `linked`: the
  // entry is a file whose inode has more than one link (kept when the header says links).
  Status add(const ManifestEntry& entry, bool linked = false);
  // Adds the pages [first, end) of `base` as they are, with `links` (base's links among them), after
  // checking them against their checksums (a damaged page must not pass into a new manifest): they
  // are cloned where the filesystem can (no data copied), else copied; runs shorter than
  // k_min_clone_bytes are written with the records around them. Every later entry must sort
  // after them. `base` must stay open until seal() or commit(); every call names the same base.
  Status add_pages(const ManifestIndex& base, std::size_t first, std::size_t end,
                   const std::vector<ManifestLink>& links);
  // Called before the first add_pages: the pages taken are copied, in file order, not cloned, so the
  // new file is written in one piece (a base made of many clones would pass its fragments on).
  void copy_taken_pages() { m_copy_taken = true; }
  // Writes the records buffered so far to the file (no fsync).
  Status checkpoint();
  // Finishes the file (trailer written, pending clones made) without syncing it or putting it in
  // place; commit() then does the rest. Nothing is added after it.
  Status seal();
  // How commit() makes the file durable before it takes its name: by an fsync of its own, or not,
  // because the caller synced the whole filesystem after seal() (a btrfs backup syncs the new
  // snapshot and its manifest at once: docs/btrfs.md); then seal() must have come first.
  enum class Durability { sync, synced_by_caller };
  // Finishes the file (seal()), makes it durable and puts it in place atomically.
  Status commit(Durability durability = Durability::sync);
  // Gives up: the temporary file or journal is removed now.
  void abandon();
  std::uint64_t entries() const { return m_entries; }
  // Pages add_pages handed to a clone so far (copied where the filesystem cannot clone).
  std::uint64_t pages_cloned() const { return m_pages_cloned; }

 private:
  ManifestWriter() = default;
  void start(const ManifestHeader& header);
  Status flush();
  void park();
  Status drain();
  void close_page();
  std::filesystem::path m_path;
  std::filesystem::path m_temp;
  Fd m_fd;
  std::string m_buffer;
  std::string m_last_path;
  std::uint64_t m_entries = 0;
  void* m_hash = nullptr;  // XXH3_state_t* of the open page
  ManifestHeader m_header;
  std::string m_header_hash;
  std::uint64_t m_end = 0;  // file size once the buffer is written
  bool m_page_open = false;
  ManifestPage m_page;
  std::vector<ManifestPage> m_pages;
  std::vector<ManifestLink> m_links;
  std::string m_record;
  // Where m_buffer goes in the file. Once pages are taken from a base, the clones wait in m_clones
  // and written bytes in m_parked (at most k_parked_max) until drain() makes the clones first.
  std::uint64_t m_buffer_offset = 0;
  struct PendingClone {
    std::uint64_t from = 0;
    std::uint64_t to = 0;
    std::uint64_t length = 0;
  };
  static constexpr std::size_t k_parked_max = 32 << 20;
  std::vector<PendingClone> m_clones;
  int m_clone_from = -1;
  std::filesystem::path m_clone_path;
  std::vector<std::pair<std::uint64_t, std::string>> m_parked;
  std::size_t m_parked_bytes = 0;
  bool m_copy_taken = false;
  std::uint64_t m_pages_cloned = 0;
  bool m_sealed = false;
  bool m_committed = false;
  bool m_keep = false;  // a journal: kept when not committed
};

// Writes a delta manifest (version 4, k_manifest_delta_version): the entries of a snapshot that
// differ from the manifest of its base, and the base's paths the snapshot lacks, in one pass in path
// order. Small by design (what changed), so it is kept in memory until seal().
class ManifestDeltaWriter {
 public:
  // `header` names the snapshot, the checksum, the base and its checksum; its totals are set by
  // seal(). The base must be a whole manifest (version 3), never another delta.
  explicit ManifestDeltaWriter(const ManifestHeader& header);
  ManifestDeltaWriter(ManifestDeltaWriter&& other) noexcept;
  ManifestDeltaWriter& operator=(ManifestDeltaWriter&&) = delete;
  ManifestDeltaWriter(const ManifestDeltaWriter&) = delete;
  ManifestDeltaWriter& operator=(const ManifestDeltaWriter&) = delete;
  ~ManifestDeltaWriter();  // removes the temporary file unless committed

  // An entry of the snapshot that its base's manifest lacks or holds otherwise. `linked`: a file
  // whose inode had more than one link (ManifestHeader::links).
  Status add(const ManifestEntry& entry, bool linked = false);
  // A path the base's manifest holds and the snapshot lacks.
  Status remove(std::string_view path);
  std::uint64_t records() const { return m_records; }

  // The entries, files and bytes of base and delta merged: the snapshot's.
  struct Totals {
    std::uint64_t entries = 0;
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;
  };
  // Writes the file with `totals` to a temporary sibling of `path`, not synced nor in place.
  Status seal(const std::filesystem::path& path, const Totals& totals);
  // After seal(): makes it durable (an fsync, unless the caller synced the filesystem since) and
  // puts it in place, as ManifestWriter::commit does.
  Status commit(ManifestWriter::Durability durability = ManifestWriter::Durability::sync);
  // seal() and commit() with an fsync.
  Status commit(const std::filesystem::path& path, const Totals& totals);

 private:
  Status check_order(std::string_view path);
  ManifestHeader m_header;
  std::string m_body;
  std::string m_last_path;
  std::uint64_t m_records = 0;
  std::filesystem::path m_path;
  std::filesystem::path m_temp;  // once sealed, until committed
  Fd m_fd;
};

// Keeps the whole manifest `path` for the delta manifests that may amend it, before something else
// takes its name (a repair that swaps in a clean copy of its snapshot): a hard link named
// k_gone_manifest_prefix, the id, '.' and its checksum, where open_manifest looks for a delta's base
// and tidy_manifests removes it once no delta names the id. Nothing for a manifest that is no whole
// one.
Status set_manifest_aside(const std::filesystem::path& path);

// The base a delta manifest names (ManifestHeader::base and base_checksum), from its header alone;
// nullopt for a whole manifest, a damaged one or none. Fails when the header cannot be read (an
// I/O error) or is of a newer version: then it may be a delta.
struct DeltaBase {
  std::string id;
  std::string checksum;
  auto operator<=>(const DeltaBase&) const = default;
};
Result<std::optional<DeltaBase>> manifest_base_of(const std::filesystem::path& path);

// What opening a manifest found.
enum class ManifestState {
  ok,
  missing,      // no manifest file
  damaged,      // bad format, checksum or count, or unreadable: never to be trusted
  unsupported,  // a version newer than this snapkeep knows
};

class ManifestReader;

// One record of a delta manifest: an entry (`linked` as the link table would say), or a path of the
// base that the snapshot lacks.
struct ManifestDeltaRecord {
  ManifestEntry entry;  // only its path, when removed
  bool linked = false;
  bool removed = false;
};

// The result of open_manifest: a reader when state is ok, else why not.
struct ManifestOpen {
  ManifestState state = ManifestState::missing;
  std::string reason;  // for damaged/unsupported: what is wrong
  std::unique_ptr<ManifestReader> reader;
};

// Opens a manifest and checks all of it (format, version, every record, count and checksum) before
// any entry is handed out; memory does not grow with its size. `visit`, when given, sees every
// entry during that check (one pass less for a caller that needs two): what it gathered counts
// only when the state is ok. A delta manifest (version 4) is read merged with its base (in the same
// folder, under the base's id or k_gone_manifest_prefix and it), both checked: the entries are the
// snapshot's, as a whole manifest would list them, and memory does not grow with either. A delta
// whose base is missing, damaged or another than the one it was written against is damaged.
ManifestOpen open_manifest(const std::filesystem::path& path,
                           const std::function<void(const ManifestEntry&)>& visit = {});

// Opens the journal of an unfinished manifest (ManifestWriter::create_journal): its header must be
// good; next() then hands out the complete records and stops at the first incomplete one (a killed
// writer leaves a torn end). There is no checksum to check: use it only for hints that are
// verified against the files themselves.
ManifestOpen open_manifest_journal(const std::filesystem::path& path);

// A delta manifest's own file, checked (format, order, count, checksum), without its base: for a
// patch that amends it again (core/integrity/manifest_patch.hpp).
struct ManifestDelta {
  ManifestHeader header;
  std::string checksum;
  std::vector<ManifestDeltaRecord> records;
};
Result<ManifestDelta> read_manifest_delta(const std::filesystem::path& path);

// The index of the base the delta manifest at `delta_path` (header `header`) amends, found as
// open_manifest finds it: beside it, under the base's id or k_gone_manifest_prefix and it, with the
// checksum the delta names. Fails with the reason (missing, another, damaged).
Result<ManifestIndex> open_delta_base(const std::filesystem::path& delta_path, const ManifestHeader& header);

// Version 3, for a patch: the header, page table and link table of a manifest, checked (their
// checksum), and any one page on demand, checked when it is read. Nothing else is read.
class ManifestIndex {
 public:
  // Fails with the reason when `path` is no version 3 manifest or its header or tables are damaged.
  static Result<ManifestIndex> open(const std::filesystem::path& path);

  const ManifestHeader& header() const { return m_header; }
  const std::vector<ManifestPage>& pages() const { return m_pages; }
  const std::vector<ManifestLink>& links() const { return m_links; }  // sorted by path
  std::uint64_t entry_count() const { return m_count; }
  const std::string& checksum() const { return m_checksum; }  // as ManifestReader::checksum
  const std::filesystem::path& path() const { return m_path; }
  int fd() const { return m_fd.get(); }
  // The index of the page a record of `path` belongs in: the last page whose first path is not
  // after it (0 when it sorts before every page). Only for a manifest with pages.
  std::size_t page_of(std::string_view path) const;
  // The records of page `i`, after checking its checksum and record count against the table.
  Result<std::vector<ManifestEntry>> read_page(std::size_t i) const;
  // Checks the pages [first, end) against their checksums without parsing them (a patch takes
  // them as they are: a damaged page must not pass into a new manifest). `checked`, when given,
  // gets their bytes in order, each run once it is checked.
  Status check_pages(std::size_t first, std::size_t end,
                     const std::function<Status(std::string_view)>& checked = {}) const;
  // Checks every page `skip` does not mark, in large reads, so that later check_pages calls that
  // want no bytes (a clone) need not read them again. Calls that want the bytes still check them.
  // A btrfs backup checks the pages its patch will take while btrfs receive still runs
  // (docs/btrfs.md).
  Status check_pages_ahead(const std::vector<bool>& skip);

 private:
  // check_pages over [first, end), where the pages `known` marks (when given) pass unchecked.
  Status check_run(std::size_t first, std::size_t end, const std::vector<bool>* known,
                   const std::function<Status(std::string_view)>& checked) const;

  std::filesystem::path m_path;
  Fd m_fd;
  ManifestHeader m_header;
  std::vector<ManifestPage> m_pages;
  std::vector<ManifestLink> m_links;
  std::uint64_t m_count = 0;
  std::string m_checksum;
  std::vector<bool> m_checked;  // the pages check_pages_ahead checked
};

// Streams the entries of a manifest that open_manifest checked.
class ManifestReader {
 public:
  ~ManifestReader();
  ManifestReader(const ManifestReader&) = delete;
  ManifestReader& operator=(const ManifestReader&) = delete;

  const ManifestHeader& header() const { return m_header; }
  std::uint64_t entry_count() const { return m_count; }
  // The checksum its trailer records (over its tables for version 3): what names this very file.
  const std::string& checksum() const { return m_checksum; }
  // The next entry into `entry`; false after the last. An error means the file changed under us.
  Result<bool> next(ManifestEntry& entry);
  // The file offset of the record next() hands out next: a position for read_at(). Not for a delta
  // manifest (header().delta()), whose entries come from two files.
  std::uint64_t position() const;
  // The record at `position` (from position()). It moves the reader: use one reader either for
  // next() or for read_at(), not both. An error means the file changed under us, or a delta.
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
  std::string m_checksum;
  std::unique_ptr<ManifestParser> m_parser;
  // A delta: its records, merged into its base's entries as they come.
  friend ManifestOpen open_delta(std::unique_ptr<ManifestReader> reader, const std::filesystem::path& path,
                                 const std::function<void(const ManifestEntry&)>& visit);
  Result<bool> next_merged(ManifestEntry& entry);
  std::unique_ptr<ManifestReader> m_base;
  std::unique_ptr<DeltaRecords> m_delta;  // reads through m_parser
  ManifestDeltaRecord m_delta_record;
  bool m_delta_pending = false;  // m_delta_record holds the delta's next record, not merged yet
  bool m_delta_done = false;
  ManifestEntry m_base_entry;
  bool m_base_pending = false;  // m_base_entry holds the base's next entry, not handed out yet
  bool m_base_done = false;
};

}  // namespace snapkeep
