#include "core/integrity/content_index.hpp"

#include <algorithm>

#include "core/base/fsutil.hpp"
#include "core/integrity/record_bytes.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// A ContentKey, compactly: equal keys give equal bytes and no key's bytes begin another's (the
// order among keys is not the numbers' order, and need not be).
void put_key(RecordBuilder& out, const ContentKey& key) {
  out.var(key.dev);
  out.var(key.ino);
  out.zigzag(key.ctime_ns);
  out.var(key.size);
  out.zigzag(key.mtime_ns);
}

ContentKey get_key(RecordParser& in) {
  ContentKey key;
  key.dev = in.var();
  key.ino = in.var();
  key.ctime_ns = in.zigzag();
  key.size = in.var();
  key.mtime_ns = in.zigzag();
  return key;
}

void put_expectation(RecordBuilder& out, const Expectation& e) {
  out.u8(static_cast<std::uint8_t>(e.kind));
  out.hex(e.hash);
  out.var(e.size);
  out.i64(e.mtime_ns);
}

Expectation get_expectation(RecordParser& in) {
  Expectation e;
  e.kind = static_cast<ChecksumKind>(in.u8());
  e.hash = in.hex();
  e.size = in.var();
  e.mtime_ns = in.i64();
  return e;
}

// A path group, sorted by content, then first snapshot and path (the content's first path first).
void put_group(RecordBuilder& out, const PathGroup& g) {
  out.clear();
  put_key(out, g.key);
  out.var(g.first_snapshot);
  out.ordered_text(g.path);
  out.var(g.last_snapshot);
  put_expectation(out, g.expectation);
  out.var(g.live_size);
  out.i64(g.live_mtime_ns);
  out.u64(g.state_key);
}

Status get_group(std::string_view bytes, PathGroup& g) {
  RecordParser in(bytes);
  g.key = get_key(in);
  g.first_snapshot = static_cast<std::uint32_t>(in.var());
  g.path.assign(in.ordered_text());
  g.last_snapshot = static_cast<std::uint32_t>(in.var());
  g.expectation = get_expectation(in);
  g.live_size = in.var();
  g.live_mtime_ns = in.i64();
  g.state_key = in.u64();
  return in.bad() ? runtime_error("internal error: a damaged path group record") : Status{};
}

// A content, after its sort prefix.
void put_content(RecordBuilder& out, const IndexedContent& c) {
  put_key(out, c.key);
  out.u64(c.state_key);
  out.var(c.first_snapshot);
  out.bytes(c.first_path);
  out.var(c.live_size);
  out.i64(c.live_mtime_ns);
  out.var(c.paths);
  out.var(c.expectations.size());
  for (const auto& e : c.expectations) {
    put_expectation(out, e);
  }
  out.u8(c.before ? 1 : 0);
  if (c.before) {
    out.i64(c.before->verified_ns);
    out.u8(c.before->damaged ? 1 : 0);
  }
}

void get_content(RecordParser& in, IndexedContent& c) {
  c.key = get_key(in);
  c.state_key = in.u64();
  c.first_snapshot = static_cast<std::uint32_t>(in.var());
  c.first_path.assign(in.bytes());
  c.live_size = in.var();
  c.live_mtime_ns = in.i64();
  c.paths = in.var();
  std::uint64_t expectations = in.var();
  c.expectations.clear();
  for (std::uint64_t i = 0; i < expectations && !in.bad(); ++i) {
    c.expectations.push_back(get_expectation(in));
  }
  c.before.reset();
  if (in.u8() != 0) {
    ContentRecord before;
    before.verified_ns = in.i64();
    before.damaged = in.u8() != 0;
    c.before = before;
  }
}

// Contents found damaged before come first, then the never verified, then the verified.
std::uint8_t rank_class(const std::optional<ContentRecord>& before) {
  if (!before) {
    return 1;
  }
  return before->damaged ? 0 : 2;
}

}  // namespace

Result<bool> ContentStream::next(IndexedContent& content) {
  std::string_view bytes;
  SNAPKEEP_TRY_ASSIGN(bool more, m_records.next(bytes));
  if (!more) {
    return false;
  }
  RecordParser in(bytes);
  if (m_ranked) {
    in.u8();   // class
    in.i64();  // time
    in.var();  // inode number
  } else {
    in.skip(8);  // state key
  }
  get_content(in, content);
  if (in.bad()) {
    return runtime_error("internal error: a damaged content record");
  }
  return true;
}

Result<bool> GroupStream::next(PathGroup& group) {
  std::string_view bytes;
  SNAPKEEP_TRY_ASSIGN(bool more, m_records.next(bytes));
  if (!more) {
    return false;
  }
  SNAPKEEP_TRY(get_group(bytes, group));
  return true;
}

ContentIndex::ContentIndex(const fs::path& work_dir)
    : m_groups(std::make_unique<ExternalSorter>(work_dir)),
      m_by_state_key(std::make_unique<ExternalSorter>(work_dir)),
      m_ranked(std::make_unique<ExternalSorter>(work_dir)) {}

Status ContentIndex::add(std::uint32_t snapshot, const ManifestEntry& entry, ChecksumKind kind, const struct stat& live,
                         const ContentKey& key, std::uint64_t state_key) {
  if (m_open && m_open->last_snapshot + 1 == snapshot && m_open->key == key && m_open->path == entry.path &&
      m_open->expectation.kind == kind && m_open->expectation.hash == entry.hash &&
      m_open->expectation.size == entry.size && m_open->expectation.mtime_ns == entry.mtime_ns) {
    m_open->last_snapshot = snapshot;
    return {};
  }
  SNAPKEEP_TRY(flush_group());
  PathGroup group;
  group.key = key;
  group.first_snapshot = snapshot;
  group.last_snapshot = snapshot;
  group.path = entry.path;
  group.expectation = Expectation{kind, entry.hash, entry.size, entry.mtime_ns};
  group.live_size = static_cast<std::uint64_t>(live.st_size);
  group.live_mtime_ns = timespec_ns(live.st_mtim);
  group.state_key = state_key;
  m_open = std::move(group);
  return {};
}

Status ContentIndex::flush_group() {
  if (!m_open) {
    return {};
  }
  RecordBuilder record;
  put_group(record, *m_open);
  m_open.reset();
  return m_groups->add(record.view());
}

Status ContentIndex::group_contents(ContentTotals& totals) {
  SNAPKEEP_TRY_ASSIGN(GroupStream groups, this->groups());
  RecordBuilder record;
  std::optional<IndexedContent> content;
  auto emit = [&]() -> Status {
    ++totals.contents;
    totals.bytes += content->live_size;
    record.clear();
    record.u64(content->state_key);
    put_content(record, *content);
    return m_by_state_key->add(record.view());
  };
  PathGroup group;
  for (;;) {
    SNAPKEEP_TRY_ASSIGN(bool more, groups.next(group));
    if (!more) {
      break;
    }
    if (content && content->key != group.key) {
      SNAPKEEP_TRY(emit());
      content.reset();
    }
    if (!content) {
      // The first group of a content holds its first path: it is read from there.
      content.emplace();
      content->key = group.key;
      content->state_key = group.state_key;
      content->first_snapshot = group.first_snapshot;
      content->first_path = group.path;
      content->live_size = group.live_size;
      content->live_mtime_ns = group.live_mtime_ns;
    }
    content->paths += group.paths();
    if (std::find(content->expectations.begin(), content->expectations.end(), group.expectation) ==
        content->expectations.end()) {
      content->expectations.push_back(group.expectation);
    }
  }
  if (content) {
    SNAPKEEP_TRY(emit());
  }
  return m_by_state_key->finish();
}

Status ContentIndex::rank_contents(const ScrubState& state, ContentTotals& totals) {
  SNAPKEEP_TRY_ASSIGN(ScrubStateRecords records, state.records());
  SNAPKEEP_TRY_ASSIGN(ContentStream contents, by_state_key());
  std::uint64_t key = 0;
  ContentRecord last;
  SNAPKEEP_TRY_ASSIGN(bool have_record, records.next(key, last));
  std::optional<std::uint64_t> previous_state_key;
  IndexedContent content;
  RecordBuilder record;
  for (;;) {
    SNAPKEEP_TRY_ASSIGN(bool more, contents.next(content));
    if (!more) {
      break;
    }
    while (have_record && key < content.state_key) {
      SNAPKEEP_TRY_ASSIGN(have_record, records.next(key, last));
    }
    if (have_record && key == content.state_key) {
      content.before = last;
    } else {
      ++totals.never_verified;
    }
    if (previous_state_key != content.state_key) {
      ++totals.state_keys;
      previous_state_key = content.state_key;
    }
    record.clear();
    record.u8(rank_class(content.before));
    record.i64(content.before ? content.before->verified_ns : 0);
    record.var(content.key.ino);
    put_content(record, content);
    SNAPKEEP_TRY(m_ranked->add(record.view()));
  }
  return m_ranked->finish();
}

Result<ContentTotals> ContentIndex::finish(const ScrubState& state) {
  SNAPKEEP_TRY(flush_group());
  SNAPKEEP_TRY(m_groups->finish());
  ContentTotals totals;
  SNAPKEEP_TRY(group_contents(totals));
  SNAPKEEP_TRY(rank_contents(state, totals));
  return totals;
}

Result<ContentStream> ContentIndex::in_order() const {
  SNAPKEEP_TRY_ASSIGN(SortedRecords records, m_ranked->stream());
  return ContentStream(std::move(records), true);
}

Result<ContentStream> ContentIndex::by_state_key() const {
  SNAPKEEP_TRY_ASSIGN(SortedRecords records, m_by_state_key->stream());
  return ContentStream(std::move(records), false);
}

Result<GroupStream> ContentIndex::groups() const {
  SNAPKEEP_TRY_ASSIGN(SortedRecords records, m_groups->stream());
  return GroupStream(std::move(records));
}

}  // namespace snapkeep
