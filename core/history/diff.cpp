#include "core/history/diff.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <queue>
#include <vector>

#include "core/base/signals.hpp"
#include "core/history/spool.hpp"
#include "core/history/tree_walk.hpp"
#include "core/integrity/manifest.hpp"
#include "core/store/catalog.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr std::size_t k_max_partitions = 64;
constexpr std::size_t k_partition_block = std::size_t{1} << 14;

// Records in spools: fixed-width little-endian numbers, then bytes.
class Packer {
 public:
  void clear() { m_bytes.clear(); }
  void u8(std::uint8_t v) { m_bytes.push_back(static_cast<char>(v)); }
  void u64(std::uint64_t v) {
    for (int shift = 0; shift < 64; shift += 8) {
      u8(static_cast<std::uint8_t>(v >> shift));
    }
  }
  // Bytes with a length in front.
  void text(std::string_view s) {
    u64(s.size());
    m_bytes.append(s);
  }
  // Bytes to the end of the record.
  void rest(std::string_view s) { m_bytes.append(s); }
  std::string_view view() const { return m_bytes; }

 private:
  std::string m_bytes;
};

// Reads what Packer wrote, in the same order.
class Unpacker {
 public:
  explicit Unpacker(std::string_view bytes) : m_rest(bytes) {}
  std::uint8_t u8() {
    if (m_rest.empty()) {
      return 0;
    }
    auto v = static_cast<std::uint8_t>(m_rest.front());
    m_rest.remove_prefix(1);
    return v;
  }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 8) {
      v |= std::uint64_t{u8()} << shift;
    }
    return v;
  }
  std::string_view text() {
    const std::size_t n = std::min<std::uint64_t>(u64(), m_rest.size());
    std::string_view s = m_rest.substr(0, n);
    m_rest.remove_prefix(n);
    return s;
  }
  std::string_view rest() { return std::exchange(m_rest, {}); }

 private:
  std::string_view m_rest;
};

// An added or deleted entry in its spool: type, size, hash, path.
void pack_entry(Packer& p, const ManifestEntry& e) {
  p.clear();
  p.u8(static_cast<std::uint8_t>(e.type));
  p.u64(e.size);
  p.text(e.hash);
  p.rest(e.path);
}

struct PackedEntry {
  EntryType type = EntryType::file;
  std::uint64_t size = 0;
  std::string_view hash;
  std::string_view path;
};

PackedEntry unpack_entry(std::string_view bytes) {
  Unpacker u(bytes);
  PackedEntry e;
  e.type = static_cast<EntryType>(u.u8());
  e.size = u.u64();
  e.hash = u.text();
  e.path = u.rest();
  return e;
}

// A move candidate: a file with content (a hash and at least one byte).
bool move_candidate(EntryType type, std::uint64_t size, std::string_view hash) {
  return type == EntryType::file && size > 0 && !hash.empty();
}

// A content hash in bytes (hex digits halved); up to 256 bits.
struct HashKey {
  std::array<unsigned char, 32> bytes{};
  std::uint8_t length = 0;

  auto operator<=>(const HashKey&) const = default;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return 0;
}

HashKey hash_key(std::string_view hex) {
  HashKey key;
  key.length = static_cast<std::uint8_t>(std::min<std::size_t>(hex.size() / 2, key.bytes.size()));
  for (std::size_t i = 0; i < key.length; ++i) {
    key.bytes[i] = static_cast<unsigned char>(hex_value(hex[2 * i]) * 16 + hex_value(hex[2 * i + 1]));
  }
  return key;
}

// A move candidate in a partition: its content (hash and size) and where its entry is.
struct Candidate {
  HashKey hash;
  std::uint64_t size = 0;
  std::uint64_t ordinal = 0;  // its place among the added (or deleted) entries
  std::uint64_t offset = 0;   // its record in the added (or deleted) spool
  std::uint32_t taken = 0;    // the first of a run of equal contents: how many of them are matched

  bool same_content(const Candidate& other) const { return hash == other.hash && size == other.size; }
  bool content_less(const Candidate& other) const { return hash != other.hash ? hash < other.hash : size < other.size; }
};

void pack_candidate(Packer& p, const Candidate& c) {
  p.clear();
  p.u8(c.hash.length);
  p.rest(std::string_view(reinterpret_cast<const char*>(c.hash.bytes.data()), c.hash.length));
  p.u64(c.size);
  p.u64(c.ordinal);
  p.u64(c.offset);
}

Candidate unpack_candidate(std::string_view bytes) {
  Candidate c;
  c.hash.length = static_cast<std::uint8_t>(std::min<std::size_t>(static_cast<unsigned char>(bytes[0]), 32));
  std::copy_n(bytes.begin() + 1, c.hash.length, c.hash.bytes.begin());
  Unpacker u(bytes.substr(1 + c.hash.length));
  c.size = u.u64();
  c.ordinal = u.u64();
  c.offset = u.u64();
  return c;
}

// One side of the diff, opened: its manifest, or its tree.
struct Side {
  DiffSide info;
  SnapshotInfo snapshot;
  std::unique_ptr<ManifestReader> reader;
  std::unique_ptr<EntryStream> stream;
  bool hashes = false;  // its entries carry content hashes
};

Result<Side> open_side(const fs::path& state_dir, const SnapshotInfo& snapshot) {
  Side side;
  side.info.id = snapshot.id;
  side.snapshot = snapshot;
  ManifestOpen opened = open_manifest(manifest_path(state_dir, snapshot.id));
  if (opened.state == ManifestState::ok) {
    side.hashes = opened.reader->header().checksum != ChecksumKind::none;
    side.reader = std::move(opened.reader);
    side.stream = std::make_unique<ManifestStream>(*side.reader);
    return side;
  }
  side.info.tree_reason =
      opened.state == ManifestState::missing ? "no manifest" : "manifest not usable (" + opened.reason + ")";
  SNAPKEEP_TRY_ASSIGN(auto tree, TreeStream::open(snapshot.path, ""));
  side.stream = std::move(tree);
  return side;
}

// The two snapshots a request names.
Result<std::pair<SnapshotInfo, SnapshotInfo>> pick_snapshots(const Preset& preset, const DiffRequest& request) {
  const fs::path preset_dir = preset.preset_dir();
  if (!request.from.empty()) {
    SNAPKEEP_TRY_ASSIGN(SnapshotInfo from, find_snapshot(preset_dir, request.from));
    SNAPKEEP_TRY_ASSIGN(SnapshotInfo to, find_snapshot(preset_dir, request.to.empty() ? "latest" : request.to));
    return std::pair{from, to};
  }
  SNAPKEEP_TRY_ASSIGN(auto snapshots, list_snapshots(preset_dir));
  if (snapshots.size() < 2) {
    return runtime_error(preset_dir.string() + " holds " + std::to_string(snapshots.size()) +
                         " snapshot(s); a diff needs two (or name them)");
  }
  return std::pair{snapshots[snapshots.size() - 2], snapshots.back()};
}

// The lists of a diff on temporary files, as the first pass leaves them.
struct Lists {
  Spool added;
  Spool deleted;
  Spool modified;
  std::uint64_t added_candidates = 0;
  std::uint64_t deleted_candidates = 0;
};

// The first pass: both snapshots side by side, every change into its list.
Status collect(Side& from, Side& to, ContentSharing sharing, Lists& lists, DiffSummary& summary) {
  EntryMerge merge(*from.stream, *to.stream);
  Packer p;
  const ManifestEntry* b = nullptr;
  const ManifestEntry* a = nullptr;
  for (;;) {
    if (stop_signal() != 0) {
      return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
    }
    SNAPKEEP_TRY_ASSIGN(bool more, merge.next(b, a));
    if (!more) {
      return {};
    }
    if (b == nullptr) {
      pack_entry(p, *a);
      SNAPKEEP_TRY(lists.added.append(p.view()));
      lists.added_candidates += move_candidate(a->type, a->size, a->hash) ? 1 : 0;
    } else if (a == nullptr) {
      pack_entry(p, *b);
      SNAPKEEP_TRY(lists.deleted.append(p.view()));
      lists.deleted_candidates += move_candidate(b->type, b->size, b->hash) ? 1 : 0;
    } else {
      const PathChange change = compare_entries(*b, *a, sharing);
      if (change == PathChange::unchanged) {
        continue;
      }
      (change == PathChange::content ? summary.content : summary.metadata) += 1;
      p.clear();
      p.u8(static_cast<std::uint8_t>(a->type));
      p.u8(change == PathChange::content ? 1 : 0);
      p.u64(b->size);
      p.u64(a->size);
      p.rest(a->path);
      SNAPKEEP_TRY(lists.modified.append(p.view()));
    }
  }
}

// Pairs deleted and added files of one content as moves: the hash join. Candidates are split by
// their hash's first byte into partitions small enough to hold one in memory; within a content,
// deleted and added files pair up in path order. Marks the entries that moved and writes each
// partition's moves (by new path) to its own spool.
class MoveMatcher {
 public:
  MoveMatcher(Lists& lists, std::size_t memory_records) : m_lists(lists) {
    while (m_partitions < k_max_partitions && lists.deleted_candidates > m_partitions * memory_records) {
      m_partitions *= 2;
    }
    m_added_moved.assign(lists.added.records(), false);
    m_deleted_moved.assign(lists.deleted.records(), false);
  }

  Status run() {
    std::vector<Spool> deleted_parts;
    std::vector<Spool> added_parts;
    for (std::size_t i = 0; i < m_partitions; ++i) {
      SNAPKEEP_TRY_ASSIGN(Spool d, Spool::create(k_partition_block));
      SNAPKEEP_TRY_ASSIGN(Spool a, Spool::create(k_partition_block));
      deleted_parts.push_back(std::move(d));
      added_parts.push_back(std::move(a));
    }
    SNAPKEEP_TRY(split(m_lists.deleted, deleted_parts));
    SNAPKEEP_TRY(split(m_lists.added, added_parts));
    for (std::size_t i = 0; i < m_partitions; ++i) {
      SNAPKEEP_TRY_ASSIGN(Spool moves, Spool::create(k_partition_block));
      SNAPKEEP_TRY(match(deleted_parts[i], added_parts[i], moves));
      m_moves.push_back(std::move(moves));
    }
    return {};
  }

  bool added_moved(std::uint64_t ordinal) const { return ordinal < m_added_moved.size() && m_added_moved[ordinal]; }
  bool deleted_moved(std::uint64_t ordinal) const {
    return ordinal < m_deleted_moved.size() && m_deleted_moved[ordinal];
  }
  std::vector<Spool>& moves() { return m_moves; }

 private:
  // Writes every move candidate of `list` to the partition of its hash.
  Status split(Spool& list, std::vector<Spool>& parts) {
    SNAPKEEP_TRY(list.rewind());
    std::string record;
    std::uint64_t offset = 0;
    Packer p;
    for (std::uint64_t ordinal = 0;; ++ordinal) {
      SNAPKEEP_TRY_ASSIGN(bool more, list.next(record, &offset));
      if (!more) {
        break;
      }
      PackedEntry e = unpack_entry(record);
      if (!move_candidate(e.type, e.size, e.hash)) {
        continue;
      }
      Candidate c;
      c.hash = hash_key(e.hash);
      c.size = e.size;
      c.ordinal = ordinal;
      c.offset = offset;
      pack_candidate(p, c);
      SNAPKEEP_TRY(parts[c.hash.bytes[0] * m_partitions / 256].append(p.view()));
    }
    return {};
  }

  // Matches one partition: its deleted candidates in memory, its added ones streamed in path order.
  Status match(Spool& deleted_part, Spool& added_part, Spool& moves) {
    std::vector<Candidate> deleted;
    deleted.reserve(deleted_part.records());
    SNAPKEEP_TRY(deleted_part.rewind());
    std::string record;
    for (;;) {
      SNAPKEEP_TRY_ASSIGN(bool more, deleted_part.next(record));
      if (!more) {
        break;
      }
      deleted.push_back(unpack_candidate(record));
    }
    // By content, then path order (the order they were added in).
    std::stable_sort(deleted.begin(), deleted.end(),
                     [](const Candidate& x, const Candidate& y) { return x.content_less(y); });
    SNAPKEEP_TRY(added_part.rewind());
    Packer p;
    for (;;) {
      SNAPKEEP_TRY_ASSIGN(bool more, added_part.next(record));
      if (!more) {
        break;
      }
      const Candidate added = unpack_candidate(record);
      auto first = std::lower_bound(deleted.begin(), deleted.end(), added,
                                    [](const Candidate& x, const Candidate& y) { return x.content_less(y); });
      if (first == deleted.end() || !first->same_content(added)) {
        continue;
      }
      auto pick = first + first->taken;
      if (pick == deleted.end() || !pick->same_content(added)) {
        continue;  // every deleted file of this content is paired already
      }
      ++first->taken;
      m_added_moved[added.ordinal] = true;
      m_deleted_moved[pick->ordinal] = true;
      SNAPKEEP_TRY_ASSIGN(std::string from_record, m_lists.deleted.read_at(pick->offset));
      SNAPKEEP_TRY_ASSIGN(std::string to_record, m_lists.added.read_at(added.offset));
      p.clear();
      p.u64(added.size);
      p.text(unpack_entry(from_record).path);
      p.rest(unpack_entry(to_record).path);
      SNAPKEEP_TRY(moves.append(p.view()));
    }
    return {};
  }

  Lists& m_lists;
  std::size_t m_partitions = 1;
  std::vector<bool> m_added_moved;
  std::vector<bool> m_deleted_moved;
  std::vector<Spool> m_moves;
};

// Hands out the added or deleted list, leaving out what moved.
Status emit_list(Spool& list, PathChange kind, const MoveMatcher* matcher, DiffSink& sink, DiffSummary& summary) {
  SNAPKEEP_TRY(list.rewind());
  std::string record;
  DiffChange change;
  change.kind = kind;
  for (std::uint64_t ordinal = 0;; ++ordinal) {
    SNAPKEEP_TRY_ASSIGN(bool more, list.next(record));
    if (!more) {
      return {};
    }
    const bool added = kind == PathChange::added;
    if (matcher != nullptr && (added ? matcher->added_moved(ordinal) : matcher->deleted_moved(ordinal))) {
      continue;
    }
    PackedEntry e = unpack_entry(record);
    change.path.assign(e.path);
    change.type = e.type;
    change.size = e.size;
    (added ? summary.added : summary.deleted) += 1;
    if (e.type == EntryType::file) {
      (added ? summary.bytes_added : summary.bytes_deleted) += e.size;
    }
    sink.change(change);
  }
}

Status emit_modified(Spool& list, DiffSink& sink) {
  SNAPKEEP_TRY(list.rewind());
  std::string record;
  DiffChange change;
  for (;;) {
    SNAPKEEP_TRY_ASSIGN(bool more, list.next(record));
    if (!more) {
      return {};
    }
    Unpacker u(record);
    change.type = static_cast<EntryType>(u.u8());
    change.kind = u.u8() == 1 ? PathChange::content : PathChange::metadata;
    change.size_before = u.u64();
    change.size = u.u64();
    change.path.assign(u.rest());
    sink.change(change);
  }
}

// Hands out the moves of every partition by new path (a merge of the partitions' spools).
Status emit_moves(std::vector<Spool>& parts, DiffSink& sink, DiffSummary& summary) {
  struct Head {
    std::string record;
    std::string_view to;
    std::size_t part = 0;
  };
  std::vector<Head> heads(parts.size());
  auto later = [&](std::size_t x, std::size_t y) { return heads[x].to > heads[y].to; };
  std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(later)> queue(later);
  auto load = [&](std::size_t i) -> Status {
    SNAPKEEP_TRY_ASSIGN(bool more, parts[i].next(heads[i].record));
    if (more) {
      Unpacker u(heads[i].record);
      u.u64();
      u.text();
      heads[i].to = u.rest();
      queue.push(i);
    }
    return {};
  };
  for (std::size_t i = 0; i < parts.size(); ++i) {
    SNAPKEEP_TRY(parts[i].rewind());
    SNAPKEEP_TRY(load(i));
  }
  DiffChange change;
  change.kind = PathChange::added;
  change.moved = true;
  change.type = EntryType::file;
  while (!queue.empty()) {
    const std::size_t i = queue.top();
    queue.pop();
    Unpacker u(heads[i].record);
    change.size = u.u64();
    change.from.assign(u.text());
    change.path.assign(u.rest());
    ++summary.moved;
    sink.change(change);
    SNAPKEEP_TRY(load(i));
  }
  return {};
}

}  // namespace

Result<DiffSummary> run_diff(const Preset& preset, const DiffRequest& request, DiffSink& sink) {
  const fs::path state_dir = preset.preset_dir() / k_state_dir_name;
  SNAPKEEP_TRY_ASSIGN(auto pair, pick_snapshots(preset, request));
  SNAPKEEP_TRY_ASSIGN(Side from, open_side(state_dir, pair.first));
  SNAPKEEP_TRY_ASSIGN(Side to, open_side(state_dir, pair.second));
  DiffSummary summary;
  summary.from = from.info;
  summary.to = to.info;
  summary.moves_detected = from.hashes && to.hashes;
  SNAPKEEP_TRY_ASSIGN(Spool added, Spool::create());
  SNAPKEEP_TRY_ASSIGN(Spool deleted, Spool::create());
  SNAPKEEP_TRY_ASSIGN(Spool modified, Spool::create());
  Lists lists{std::move(added), std::move(deleted), std::move(modified)};
  SNAPKEEP_TRY(collect(from, to, request.sharing, lists, summary));

  std::unique_ptr<MoveMatcher> matcher;
  if (summary.moves_detected && lists.added_candidates > 0 && lists.deleted_candidates > 0) {
    matcher = std::make_unique<MoveMatcher>(lists, std::max<std::size_t>(request.move_memory_records, 1));
    SNAPKEEP_TRY(matcher->run());
  }
  sink.begin(summary.from, summary.to, summary.moves_detected);
  sink.group(DiffGroup::added);
  SNAPKEEP_TRY(emit_list(lists.added, PathChange::added, matcher.get(), sink, summary));
  sink.group(DiffGroup::deleted);
  SNAPKEEP_TRY(emit_list(lists.deleted, PathChange::deleted, matcher.get(), sink, summary));
  sink.group(DiffGroup::modified);
  SNAPKEEP_TRY(emit_modified(lists.modified, sink));
  sink.group(DiffGroup::moved);
  if (matcher) {
    SNAPKEEP_TRY(emit_moves(matcher->moves(), sink, summary));
  }
  return summary;
}

}  // namespace snapkeep
