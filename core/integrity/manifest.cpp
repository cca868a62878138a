#include "core/integrity/manifest.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cstring>
#include <vector>

#include <xxhash.h>

#include "core/base/fsutil.hpp"
#include "core/integrity/hashing.hpp"
#include "core/store/catalog.hpp"

namespace fs = std::filesystem;

namespace snapkeep {

namespace {

constexpr std::string_view k_magic = "snapkeep-manifest";
constexpr std::size_t k_max_path = 1 << 20;  // a longer length field means damage
constexpr std::size_t k_max_line = 4096;     // header and record prefixes are short
constexpr std::size_t k_write_chunk = 256 * 1024;

std::string hex128(XXH3_state_t* state) {
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(state));
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : canonical.digest) {
    out += hex[c >> 4];
    out += hex[c & 0xf];
  }
  return out;
}

template <class T>
bool parse_number(std::string_view text, T& out) {
  if (text.empty()) {
    return false;
  }
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

std::vector<std::string_view> split_spaces(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t space = text.find(' ', pos);
    if (space == std::string_view::npos) {
      out.push_back(text.substr(pos));
      break;
    }
    out.push_back(text.substr(pos, space - pos));
    pos = space + 1;
  }
  return out;
}

// Splits `text` at spaces into `out`; returns how many fields there are (out.size() + 1 when there
// are more than fit, which no valid record has).
std::size_t split_fields(std::string_view text, std::array<std::string_view, 10>& out) {
  std::size_t count = 0;
  std::size_t pos = 0;
  for (;;) {
    if (count == out.size()) {
      return out.size() + 1;
    }
    std::size_t space = text.find(' ', pos);
    if (space == std::string_view::npos) {
      out[count++] = text.substr(pos);
      return count;
    }
    out[count++] = text.substr(pos, space - pos);
    pos = space + 1;
  }
}

bool is_hex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

bool valid_type(char c) {
  return c == 'f' || c == 'd' || c == 'l' || c == 'o';
}

}  // namespace

// Buffered reading of a manifest that hashes every byte it consumes while hashing is on.
class ManifestParser {
 public:
  explicit ManifestParser(int fd) : m_fd(fd), m_buffer(64 * 1024), m_hash(XXH3_createState()) {
    XXH3_128bits_reset(m_hash);
  }
  ~ManifestParser() { XXH3_freeState(m_hash); }
  ManifestParser(const ManifestParser&) = delete;
  ManifestParser& operator=(const ManifestParser&) = delete;

  // Starts over at the beginning of the file.
  Status rewind(const fs::path& path) { return seek(0, path, true); }

  // Continues at file offset `offset`, hashing from there when `hashing`.
  Status seek(std::uint64_t offset, const fs::path& path, bool hashing) {
    if (::lseek(m_fd, static_cast<off_t>(offset), SEEK_SET) != static_cast<off_t>(offset)) {
      return sys_error("cannot seek in manifest", path);
    }
    m_base = offset;
    m_pos = m_len = m_hashed = 0;
    m_eof = false;
    m_hashing = hashing;
    XXH3_128bits_reset(m_hash);
    return {};
  }

  // The file offset of the next byte to be consumed.
  std::uint64_t offset() const { return m_base + m_pos; }

  // The next byte without consuming it; -1 at the end of the file.
  Result<int> peek(const fs::path& path) {
    if (m_pos == m_len) {
      SNAPKEEP_TRY(fill(path));
      if (m_pos == m_len) {
        return -1;
      }
    }
    return static_cast<unsigned char>(m_buffer[m_pos]);
  }

  // Consumes up to and including `delim`, giving what came before it. False when the file ends
  // first or `limit` bytes pass without it.
  Result<bool> read_until(char delim, std::string& out, const fs::path& path, std::size_t limit = k_max_line) {
    out.clear();
    for (;;) {
      if (m_pos == m_len) {
        SNAPKEEP_TRY(fill(path));
        if (m_pos == m_len) {
          return false;
        }
      }
      const char* start = m_buffer.data() + m_pos;
      const void* found = std::memchr(start, delim, m_len - m_pos);
      std::size_t take =
          found != nullptr ? static_cast<std::size_t>(static_cast<const char*>(found) - start) : m_len - m_pos;
      if (out.size() + take > limit) {
        return false;
      }
      out.append(start, take);
      consume(take + (found != nullptr ? 1 : 0));
      if (found != nullptr) {
        return true;
      }
    }
  }

  // Consumes exactly n bytes into out; false when the file ends first.
  Result<bool> read_exact(std::size_t n, std::string& out, const fs::path& path) {
    out.clear();
    while (out.size() < n) {
      if (m_pos == m_len) {
        SNAPKEEP_TRY(fill(path));
        if (m_pos == m_len) {
          return false;
        }
      }
      std::size_t take = std::min(n - out.size(), m_len - m_pos);
      out.append(m_buffer.data() + m_pos, take);
      consume(take);
    }
    return true;
  }

  // Stops hashing (the trailer is not part of what it covers) and returns the digest.
  std::string finish_hash() {
    hash_consumed();
    m_hashing = false;
    return hex128(m_hash);
  }

  // Buffers parse_record reuses from record to record.
  std::string& prefix_scratch() { return m_prefix; }
  std::string& end_scratch() { return m_end; }

 private:
  void consume(std::size_t n) { m_pos += n; }

  // Feeds the bytes consumed since the last call to the hash, in one piece per buffer.
  void hash_consumed() {
    if (m_hashing && m_pos > m_hashed) {
      XXH3_128bits_update(m_hash, m_buffer.data() + m_hashed, m_pos - m_hashed);
    }
    m_hashed = m_pos;
  }

  Status fill(const fs::path& path) {
    hash_consumed();
    m_base += m_len;
    m_pos = m_len = m_hashed = 0;
    if (m_eof) {
      return {};
    }
    for (;;) {
      ssize_t n = ::read(m_fd, m_buffer.data(), m_buffer.size());
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        return sys_error("cannot read manifest", path);
      }
      m_len = static_cast<std::size_t>(n);
      m_eof = n == 0;
      return {};
    }
  }

  int m_fd;
  std::vector<char> m_buffer;
  std::uint64_t m_base = 0;  // file offset of m_buffer[0]
  std::size_t m_pos = 0;
  std::size_t m_len = 0;
  std::size_t m_hashed = 0;  // m_buffer[0, m_hashed) is in the hash already
  bool m_eof = false;
  bool m_hashing = true;
  XXH3_state_t* m_hash;
  std::string m_prefix;
  std::string m_end;
};

namespace {

// Outcome of parsing one record.
enum class Record { entry, end, bad };

// Parses the header; on failure sets `why`. Returns the state.
ManifestState parse_header(ManifestParser& parser, const fs::path& path, ManifestHeader& header, std::string& why) {
  std::string line;
  auto got = parser.read_until('\n', line, path);
  if (!got) {
    why = got.error().describe();
    return ManifestState::damaged;
  }
  auto words = split_spaces(line);
  if (!*got || words.size() != 2 || words[0] != k_magic) {
    why = "not a snapkeep manifest (bad first line)";
    return ManifestState::damaged;
  }
  if (!parse_number(words[1], header.version) || header.version < 1) {
    why = "bad format version";
    return ManifestState::damaged;
  }
  if (header.version > k_manifest_version) {
    why = "format version " + std::to_string(header.version) + " is newer than this snapkeep reads (" +
          std::to_string(k_manifest_version) + ")";
    return ManifestState::unsupported;
  }
  bool have_checksum = false;
  for (;;) {
    got = parser.read_until('\n', line, path);
    if (!got) {
      why = got.error().describe();
      return ManifestState::damaged;
    }
    if (!*got) {
      why = "the header does not end";
      return ManifestState::damaged;
    }
    if (line == "entries") {
      break;
    }
    std::size_t space = line.find(' ');
    std::string key = line.substr(0, space);
    std::string value = space == std::string::npos ? std::string() : line.substr(space + 1);
    if (key == "checksum") {
      auto kind = parse_checksum_name(value);
      if (!kind) {
        why = "unknown checksum '" + value + "'";
        return ManifestState::damaged;
      }
      header.checksum = *kind;
      have_checksum = true;
    } else if (key == "snapshot") {
      header.snapshot_id = value;
    } else if (key == "origin") {
      header.origin = value;
    } else if (key == "created") {
      if (!parse_number(value, header.created_ns)) {
        why = "bad created time";
        return ManifestState::damaged;
      }
    }
    // Other keys: written by a later release of the same version; ignored.
  }
  if (!have_checksum) {
    why = "the header names no checksum";
    return ManifestState::damaged;
  }
  return ManifestState::ok;
}

// Parses the record at the parser's position into `entry`, or recognises the trailer (its line in `trailer`).
Result<Record> parse_record(ManifestParser& parser, const fs::path& path, const ManifestHeader& header,
                            ManifestEntry& entry, std::string& trailer, std::string& why) {
  auto first = parser.peek(path);
  if (!first) {
    return std::move(first).error();
  }
  if (*first == 'e') {
    std::string digest = parser.finish_hash();
    auto got = parser.read_until('\n', trailer, path);
    if (!got) {
      return std::move(got).error();
    }
    if (!*got) {
      why = "the trailer is cut off";
      return Record::bad;
    }
    trailer += ' ';
    trailer += digest;  // "end COUNT CHECKSUM COMPUTED"
    return Record::end;
  }
  if (*first < 0) {
    why = "the file ends without a trailer (cut off)";
    return Record::bad;
  }
  std::string& prefix = parser.prefix_scratch();
  auto got = parser.read_until(':', prefix, path, 256);
  if (!got) {
    return std::move(got).error();
  }
  if (!*got) {
    why = "a record is cut off or malformed";
    return Record::bad;
  }
  std::array<std::string_view, 10> fields;
  const std::size_t field_count = split_fields(prefix, fields);
  // Version 1: TYPE SIZE MTIME INO CTIME HASH LEN; version 2 adds SRC_INO SRC_CTIME before HASH.
  const std::size_t hash_field = header.version >= 2 ? 7 : 5;
  std::size_t length = 0;
  if (field_count != hash_field + 2 || fields[0].size() != 1 || !valid_type(fields[0][0]) ||
      !parse_number(fields[1], entry.size) || !parse_number(fields[2], entry.mtime_ns) ||
      !parse_number(fields[3], entry.ino) || !parse_number(fields[4], entry.ctime_ns) ||
      !parse_number(fields[hash_field + 1], length) || length == 0 || length > k_max_path) {
    why = "a malformed record";
    return Record::bad;
  }
  entry.source.reset();
  if (header.version >= 2 && !(fields[5] == "-" && fields[6] == "-")) {
    SourceIdentity source;
    if (!parse_number(fields[5], source.ino) || !parse_number(fields[6], source.ctime_ns)) {
      why = "a malformed source identity";
      return Record::bad;
    }
    entry.source = source;
  }
  entry.type = static_cast<EntryType>(fields[0][0]);
  if (fields[hash_field] == "-") {
    entry.hash.clear();
  } else if (fields[hash_field].size() == checksum_hex_length(header.checksum) && is_hex(fields[hash_field])) {
    entry.hash.assign(fields[hash_field]);
  } else {
    why = "a malformed hash";
    return Record::bad;
  }
  got = parser.read_exact(length, entry.path, path);
  if (!got) {
    return std::move(got).error();
  }
  std::string& end = parser.end_scratch();
  if (!*got || entry.path.find('\0') != std::string::npos) {
    why = "a record's path is cut off";
    return Record::bad;
  }
  got = parser.read_exact(1, end, path);
  if (!got) {
    return std::move(got).error();
  }
  if (!*got || end != "\n") {
    why = "a record does not end where its length says";
    return Record::bad;
  }
  return Record::entry;
}

}  // namespace

fs::path manifest_dir(const fs::path& state_dir) {
  return state_dir / std::string(k_manifest_dir_name);
}

fs::path manifest_path(const fs::path& state_dir, const std::string& id) {
  return manifest_dir(state_dir) / id;
}

// ---------------------------------------------------------------------------------------------
// Writer

Result<ManifestWriter> ManifestWriter::create(const fs::path& path, const ManifestHeader& header) {
  ManifestWriter writer;
  writer.m_path = path;
  std::string pattern = (path.parent_path() / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  Fd fd(::mkostemp(name.data(), O_CLOEXEC));
  if (!fd) {
    return sys_error("cannot create a manifest", pattern);
  }
  ::fchmod(fd.get(), 0600);
  writer.m_fd = std::move(fd);
  writer.m_temp = name.data();
  writer.start(header);
  return writer;
}

Result<ManifestWriter> ManifestWriter::create_journal(const fs::path& path, const fs::path& journal,
                                                      const ManifestHeader& header) {
  ManifestWriter writer;
  writer.m_path = path;
  Fd fd(::open(journal.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    return sys_error("cannot create a manifest", journal);
  }
  writer.m_fd = std::move(fd);
  writer.m_temp = journal;
  writer.m_keep = true;
  writer.start(header);
  return writer;
}

void ManifestWriter::start(const ManifestHeader& header) {
  auto* state = XXH3_createState();
  XXH3_128bits_reset(state);
  m_hash = state;
  m_buffer = std::string(k_magic) + " " + std::to_string(k_manifest_version) + "\n";
  m_buffer += "checksum " + std::string(checksum_name(header.checksum)) + "\n";
  m_buffer += "snapshot " + header.snapshot_id + "\n";
  m_buffer += "origin " + header.origin + "\n";
  m_buffer += "created " + std::to_string(header.created_ns) + "\n";
  m_buffer += "entries\n";
}

ManifestWriter::ManifestWriter(ManifestWriter&& other) noexcept
    : m_path(std::move(other.m_path)),
      m_temp(std::move(other.m_temp)),
      m_fd(std::move(other.m_fd)),
      m_buffer(std::move(other.m_buffer)),
      m_last_path(std::move(other.m_last_path)),
      m_entries(other.m_entries),
      m_hash(other.m_hash),
      m_committed(other.m_committed),
      m_keep(other.m_keep) {
  other.m_hash = nullptr;
  other.m_committed = true;
}

ManifestWriter::~ManifestWriter() {
  m_fd.reset();
  if (!m_committed && !m_keep && !m_temp.empty()) {
    ::unlink(m_temp.c_str());
  }
  if (m_hash != nullptr) {
    XXH3_freeState(static_cast<XXH3_state_t*>(m_hash));
  }
}

Status ManifestWriter::flush() {
  XXH3_128bits_update(static_cast<XXH3_state_t*>(m_hash), m_buffer.data(), m_buffer.size());
  std::size_t done = 0;
  while (done < m_buffer.size()) {
    ssize_t n = ::write(m_fd.get(), m_buffer.data() + done, m_buffer.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return sys_error("cannot write manifest", m_temp);
    }
    done += static_cast<std::size_t>(n);
  }
  m_buffer.clear();
  return {};
}

Status ManifestWriter::add(const ManifestEntry& entry) {
  if (entry.path.empty() || entry.path.find('\0') != std::string::npos) {
    return runtime_error("internal error: bad manifest path", entry.path);
  }
  if (m_entries > 0 && !(m_last_path < entry.path)) {
    return runtime_error("internal error: manifest entries out of order", entry.path);
  }
  m_buffer += static_cast<char>(entry.type);
  m_buffer += ' ';
  m_buffer += std::to_string(entry.size);
  m_buffer += ' ';
  m_buffer += std::to_string(entry.mtime_ns);
  m_buffer += ' ';
  m_buffer += std::to_string(entry.ino);
  m_buffer += ' ';
  m_buffer += std::to_string(entry.ctime_ns);
  m_buffer += ' ';
  if (entry.source) {
    m_buffer += std::to_string(entry.source->ino);
    m_buffer += ' ';
    m_buffer += std::to_string(entry.source->ctime_ns);
  } else {
    m_buffer += "- -";
  }
  m_buffer += ' ';
  m_buffer += entry.hash.empty() ? std::string("-") : entry.hash;
  m_buffer += ' ';
  m_buffer += std::to_string(entry.path.size());
  m_buffer += ':';
  m_buffer += entry.path;
  m_buffer += '\n';
  m_last_path = entry.path;
  ++m_entries;
  if (m_buffer.size() >= k_write_chunk) {
    return flush();
  }
  return {};
}

Status ManifestWriter::checkpoint() {
  return flush();
}

void ManifestWriter::abandon() {
  m_fd.reset();
  if (!m_committed && !m_temp.empty()) {
    ::unlink(m_temp.c_str());
  }
  m_committed = true;  // nothing left to do
}

Status ManifestWriter::commit() {
  SNAPKEEP_TRY(flush());
  m_buffer = "end " + std::to_string(m_entries) + " " + hex128(static_cast<XXH3_state_t*>(m_hash)) + "\n";
  SNAPKEEP_TRY(flush());
  if (::fsync(m_fd.get()) != 0) {
    return sys_error("cannot sync manifest", m_temp);
  }
  if (m_fd.close() != 0) {
    return sys_error("cannot close manifest", m_temp);
  }
  SNAPKEEP_TRY(rename_path(m_temp, m_path));
  m_committed = true;
  return fsync_dir(m_path.parent_path());
}

// ---------------------------------------------------------------------------------------------
// Reader

ManifestReader::~ManifestReader() {
  m_parser.reset();  // before the descriptor it reads
}

ManifestOpen open_manifest(const fs::path& path, const std::function<void(const ManifestEntry&)>& visit) {
  ManifestOpen out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      out.state = ManifestState::missing;
      return out;
    }
    out.state = ManifestState::damaged;
    out.reason = sys_error("cannot open", path).describe();
    return out;
  }
  std::unique_ptr<ManifestReader> reader(new ManifestReader());
  reader->m_fd.reset(fd);
  reader->m_path = path;
  reader->m_parser = std::make_unique<ManifestParser>(fd);
  ManifestParser& parser = *reader->m_parser;

  // Pass 1: check everything.
  out.state = parse_header(parser, path, reader->m_header, out.reason);
  if (out.state != ManifestState::ok) {
    return out;
  }
  ManifestEntry entry;
  std::string last;
  std::string trailer;
  std::uint64_t count = 0;
  for (;;) {
    auto record = parse_record(parser, path, reader->m_header, entry, trailer, out.reason);
    if (!record) {
      out.state = ManifestState::damaged;
      out.reason = record.error().describe();
      return out;
    }
    if (*record == Record::bad) {
      out.state = ManifestState::damaged;
      out.reason += " after " + std::to_string(count) + " entries";
      return out;
    }
    if (*record == Record::end) {
      break;
    }
    if (count > 0 && !(last < entry.path)) {
      out.state = ManifestState::damaged;
      out.reason = "entries are out of order after " + std::to_string(count) + " entries";
      return out;
    }
    if (visit) {
      visit(entry);
    }
    last = entry.path;
    ++count;
  }
  auto words = split_spaces(trailer);  // end COUNT CHECKSUM COMPUTED
  std::uint64_t declared = 0;
  if (words.size() != 4 || words[0] != "end" || !parse_number(words[1], declared)) {
    out.state = ManifestState::damaged;
    out.reason = "a malformed trailer";
    return out;
  }
  if (declared != count) {
    out.state = ManifestState::damaged;
    out.reason = "the trailer counts " + std::to_string(declared) + " entries, the file holds " + std::to_string(count);
    return out;
  }
  if (words[2] != words[3]) {
    out.state = ManifestState::damaged;
    out.reason = "checksum mismatch (recorded " + std::string(words[2]) + ", computed " + std::string(words[3]) + ")";
    return out;
  }
  std::string rest;
  if (auto more = parser.read_exact(1, rest, path); !more || *more) {
    out.state = ManifestState::damaged;
    out.reason = "bytes after the trailer";
    return out;
  }
  reader->m_count = count;

  // Pass 2 starts at the first entry.
  if (auto rewound = parser.rewind(path); !rewound) {
    out.state = ManifestState::damaged;
    out.reason = rewound.error().describe();
    return out;
  }
  ManifestHeader again;
  std::string why;
  if (parse_header(parser, path, again, why) != ManifestState::ok) {
    out.state = ManifestState::damaged;
    out.reason = "the file changed while it was read";
    return out;
  }
  out.state = ManifestState::ok;
  out.reader = std::move(reader);
  return out;
}

ManifestOpen open_manifest_journal(const fs::path& path) {
  ManifestOpen out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    out.state = errno == ENOENT ? ManifestState::missing : ManifestState::damaged;
    out.reason = errno == ENOENT ? "" : sys_error("cannot open", path).describe();
    return out;
  }
  std::unique_ptr<ManifestReader> reader(new ManifestReader());
  reader->m_fd.reset(fd);
  reader->m_path = path;
  reader->m_journal = true;
  reader->m_parser = std::make_unique<ManifestParser>(fd);
  out.state = parse_header(*reader->m_parser, path, reader->m_header, out.reason);
  if (out.state == ManifestState::ok) {
    out.reader = std::move(reader);
  }
  return out;
}

std::uint64_t ManifestReader::position() const {
  return m_parser->offset();
}

Result<ManifestEntry> ManifestReader::read_at(std::uint64_t position) {
  SNAPKEEP_TRY(m_parser->seek(position, m_path, false));
  ManifestEntry entry;
  std::string trailer;
  std::string why;
  auto record = parse_record(*m_parser, m_path, m_header, entry, trailer, why);
  if (!record) {
    return std::move(record).error();
  }
  if (*record != Record::entry) {
    return runtime_error("manifest changed while it was read (" + why + ")", m_path);
  }
  return entry;
}

Result<bool> ManifestReader::next(ManifestEntry& entry) {
  if (!m_journal && m_read >= m_count) {
    return false;
  }
  std::string trailer;
  std::string why;
  auto record = parse_record(*m_parser, m_path, m_header, entry, trailer, why);
  if (m_journal) {
    // An unfinished manifest ends at its first incomplete record; a record out of order ends it too.
    if (!record || *record != Record::entry || (m_read > 0 && !(m_last < entry.path))) {
      m_count = m_read;
      m_journal = false;
      return false;
    }
    m_last = entry.path;
    ++m_read;
    return true;
  }
  if (!record) {
    return std::move(record).error();
  }
  if (*record != Record::entry) {
    return runtime_error("manifest changed while it was read (" + why + ")", m_path);
  }
  ++m_read;
  return true;
}

}  // namespace snapkeep
