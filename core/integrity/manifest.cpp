#include "core/integrity/manifest.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
  explicit ManifestParser(int fd, std::size_t buffer = 64 * 1024)
      : m_fd(fd), m_buffer(buffer), m_hash(XXH3_createState()) {
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

  // The digest of what was consumed since the last call (or seek), and hashing starts over.
  std::string take_hash() {
    hash_consumed();
    std::string digest = hex128(m_hash);
    XXH3_128bits_reset(m_hash);
    return digest;
  }

  // Consumes NUL bytes up to file offset `until`; false when another byte or the end of the file
  // comes first.
  Result<bool> skip_zeros(std::uint64_t until, const fs::path& path) {
    while (offset() < until) {
      if (m_pos == m_len) {
        SNAPKEEP_TRY(fill(path));
        if (m_pos == m_len) {
          return false;
        }
      }
      const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(until - offset(), m_len - m_pos));
      for (std::size_t i = 0; i < take; ++i) {
        if (m_buffer[m_pos + i] != '\0') {
          return false;
        }
      }
      consume(take);
    }
    return true;
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
  if (header.version > k_manifest_delta_version) {
    why = "format version " + std::to_string(header.version) + " is newer than this snapkeep reads (" +
          std::to_string(k_manifest_delta_version) + ")";
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
    } else if (key == "links") {
      header.links = value == "yes";
    } else if (key == "base") {
      header.base = value;
    } else if (key == "base_checksum") {
      header.base_checksum = value;
    } else if (key == "totals") {
      auto totals = split_spaces(value);
      if (totals.size() != 3 || !parse_number(totals[0], header.total_entries) ||
          !parse_number(totals[1], header.total_files) || !parse_number(totals[2], header.total_bytes)) {
        why = "bad totals";
        return ManifestState::damaged;
      }
    }
    // Other keys: written by a later release of the same version; ignored.
  }
  if (!have_checksum) {
    why = "the header names no checksum";
    return ManifestState::damaged;
  }
  if (header.delta()) {
    // The base is another file of the same folder, named by a snapshot id.
    const std::string& base = header.base;
    if (base.empty() || base.front() == '.' || base.find_first_of(std::string_view("/\0", 2)) != std::string::npos ||
        base == header.snapshot_id || header.base_checksum.size() != 32 || !is_hex(header.base_checksum)) {
      why = "a delta manifest without a valid base";
      return ManifestState::damaged;
    }
  }
  if (header.version == 3) {
    auto padded = parser.skip_zeros(k_manifest_page, path);
    if (!padded || !*padded) {
      why = "the header page is damaged";
      return ManifestState::damaged;
    }
  }
  return ManifestState::ok;
}

// The first offset at or after `offset` where a page may start.
std::uint64_t page_round(std::uint64_t offset) {
  return (offset + k_manifest_page - 1) / k_manifest_page * k_manifest_page;
}

// Parses the record at the parser's position into `entry`, or recognises the trailer (its line in `trailer`).
Result<Record> parse_record(ManifestParser& parser, const fs::path& path, const ManifestHeader& header,
                            ManifestEntry& entry, std::string& trailer, std::string& why) {
  auto first = parser.peek(path);
  if (!first) {
    return std::move(first).error();
  }
  if (header.version >= 3 && *first == 0) {
    // The padding at the end of a page: the next record starts the next page.
    auto padded = parser.skip_zeros(page_round(parser.offset()), path);
    if (!padded) {
      return std::move(padded).error();
    }
    if (!*padded) {
      why = "a page's padding is damaged";
      return Record::bad;
    }
    first = parser.peek(path);
    if (!first) {
      return std::move(first).error();
    }
    if (*first < 0) {
      why = "the file ends in a page's padding";
      return Record::bad;
    }
  }
  if (header.version < 3 && *first == 'e') {
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

// The xxh128 of `data`, as lower-case hex.
std::string hex128_of(std::string_view data) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  XXH3_128bits_update(state, data.data(), data.size());
  std::string out = hex128(state);
  XXH3_freeState(state);
  return out;
}

// Reads `n` bytes at `offset` into `out`; false when the file is shorter.
Result<bool> read_fully(int fd, std::uint64_t offset, std::size_t n, std::string& out, const fs::path& path) {
  out.resize(n);
  std::size_t done = 0;
  while (done < n) {
    ssize_t got = ::pread(fd, out.data() + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) {
      continue;
    }
    if (got < 0) {
      return sys_error("cannot read manifest", path);
    }
    if (got == 0) {
      return false;
    }
    done += static_cast<std::size_t>(got);
  }
  return true;
}

// Takes one tail line "WORD... LEN:PATH\n" at text[pos]: `words` space-separated words into `out`,
// the path into `path`; pos moves past the line. False when it is malformed.
bool take_line(std::string_view text, std::size_t& pos, std::size_t words, std::array<std::string_view, 10>& out,
               std::string& path) {
  for (std::size_t i = 0; i < words; ++i) {
    const std::size_t space = text.find(' ', pos);
    if (space == std::string_view::npos || space - pos > 64) {
      return false;
    }
    out[i] = text.substr(pos, space - pos);
    pos = space + 1;
  }
  const std::size_t colon = text.find(':', pos);
  std::size_t length = 0;
  if (colon == std::string_view::npos || colon - pos > 20 || !parse_number(text.substr(pos, colon - pos), length) ||
      length == 0 || length > k_max_path) {
    return false;
  }
  pos = colon + 1;
  if (text.size() - pos < length + 1 || text[pos + length] != '\n') {
    return false;
  }
  path.assign(text.substr(pos, length));
  pos += length + 1;
  return path.find('\0') == std::string::npos;
}

// Version 3: what follows the pages.
struct Tail {
  std::uint64_t offset = 0;  // where it starts: the end of the pages
  std::uint64_t count = 0;   // entries, from the trailer
  std::string checksum;      // of the tables, from the trailer
  std::string header_hash;
  std::vector<ManifestPage> pages;
  std::vector<ManifestLink> links;
};

// Reads and checks the tail of the version 3 manifest `fd` (`size` bytes): the trailer (the last
// line, "end COUNT CHECKSUM OFFSET"), the checksum of the tail before it, and the tables' shape.
// False with `why` when it is damaged.
Result<bool> read_tail(int fd, std::uint64_t size, const fs::path& path, Tail& tail, std::string& why) {
  const std::size_t back = static_cast<std::size_t>(std::min<std::uint64_t>(size, 256));
  std::string end_text;
  SNAPKEEP_TRY_ASSIGN(bool got, read_fully(fd, size - back, back, end_text, path));
  std::size_t start = end_text.size() < 2 ? std::string::npos : end_text.rfind('\n', end_text.size() - 2);
  if (!got || end_text.empty() || end_text.back() != '\n' || start == std::string::npos) {
    why = "the file ends without a trailer (cut off)";
    return false;
  }
  ++start;
  auto words = split_spaces(std::string_view(end_text).substr(start, end_text.size() - 1 - start));
  const std::uint64_t trailer_at = size - (end_text.size() - start);
  if (words.size() != 4 || words[0] != "end" || !parse_number(words[1], tail.count) ||
      !parse_number(words[3], tail.offset) || tail.offset % k_manifest_page != 0 || tail.offset < k_manifest_page ||
      tail.offset > trailer_at) {
    why = "a malformed trailer";
    return false;
  }
  std::string text;
  SNAPKEEP_TRY_ASSIGN(got, read_fully(fd, tail.offset, static_cast<std::size_t>(trailer_at - tail.offset), text, path));
  if (!got) {
    why = "the file changed while it was read";
    return false;
  }
  if (std::string computed = hex128_of(text); computed != words[2]) {
    why = "checksum mismatch (recorded " + std::string(words[2]) + ", computed " + computed + ")";
    return false;
  }
  tail.checksum.assign(words[2]);
  std::string_view rest = text;
  constexpr std::string_view k_header = "header ";
  std::size_t pos = rest.find('\n');
  if (!rest.starts_with(k_header) || pos != k_header.size() + 32 || !is_hex(rest.substr(k_header.size(), 32))) {
    why = "the page table is malformed";
    return false;
  }
  tail.header_hash.assign(rest.substr(k_header.size(), 32));
  ++pos;
  std::array<std::string_view, 10> field;
  std::uint64_t next_offset = k_manifest_page;
  std::uint64_t counted = 0;
  while (pos < rest.size() && rest.substr(pos).starts_with("page ")) {
    ManifestPage page;
    if (!take_line(rest, pos, 7, field, page.first) || !parse_number(field[1], page.offset) ||
        !parse_number(field[2], page.length) || !parse_number(field[3], page.count) ||
        !parse_number(field[4], page.files) || !parse_number(field[5], page.bytes) || field[6].size() != 32 ||
        !is_hex(field[6]) || page.offset != next_offset || page.length == 0 || page.length % k_manifest_page != 0 ||
        page.count == 0 || page.files > page.count ||
        (!tail.pages.empty() && !(tail.pages.back().first < page.first))) {
      why = "the page table is malformed at page " + std::to_string(tail.pages.size());
      return false;
    }
    page.hash.assign(field[6]);
    next_offset = page.offset + page.length;
    counted += page.count;
    tail.pages.push_back(std::move(page));
  }
  while (pos < rest.size()) {
    ManifestLink link;
    if (!rest.substr(pos).starts_with("link ") || !take_line(rest, pos, 2, field, link.path) ||
        !parse_number(field[1], link.ino) || (!tail.links.empty() && !(tail.links.back().path < link.path))) {
      why = "the link table is malformed after " + std::to_string(tail.links.size()) + " links";
      return false;
    }
    tail.links.push_back(std::move(link));
  }
  if (next_offset != tail.offset || counted != tail.count) {
    why = "the page table does not match the file (" + std::to_string(counted) + " entries in pages, " +
          std::to_string(tail.count) + " in the trailer)";
    return false;
  }
  return true;
}

// Parses the page `page` (number `index`) at the parser's position, its start: checks every record,
// their order (each before `next_first`, the next page's first path, unless that is empty), count,
// files, bytes and first path, and the page's checksum, and hands each record to `each`. False
// with `why` when the page is damaged.
Result<bool> parse_page(ManifestParser& parser, const fs::path& path, const ManifestHeader& header,
                        const ManifestPage& page, std::size_t index, std::string_view next_first,
                        const std::function<void(const ManifestEntry&)>& each, std::string& why) {
  const std::uint64_t end = page.offset + page.length;
  const std::string where = "page " + std::to_string(index) + ": ";
  ManifestEntry entry;
  std::string last;
  std::string trailer;
  std::uint64_t count = 0;
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  parser.take_hash();
  while (parser.offset() < end) {
    SNAPKEEP_TRY_ASSIGN(int first, parser.peek(path));
    if (first == 0) {
      SNAPKEEP_TRY_ASSIGN(bool padded, parser.skip_zeros(end, path));
      if (!padded) {
        why = where + "its padding is damaged";
        return false;
      }
      break;
    }
    SNAPKEEP_TRY_ASSIGN(Record record, parse_record(parser, path, header, entry, trailer, why));
    if (record != Record::entry || parser.offset() > end) {
      why = where + (record == Record::entry ? std::string("a record runs past its end") : why);
      return false;
    }
    if (count == 0 ? entry.path != page.first : !(last < entry.path)) {
      why = where + (count == 0 ? "it does not start where the page table says" : "entries are out of order");
      return false;
    }
    if (!next_first.empty() && !(entry.path < next_first)) {
      why = where + "an entry sorts after the next page's first";
      return false;
    }
    if (entry.type == EntryType::file) {
      ++files;
      bytes += entry.size;
    }
    ++count;
    if (each) {
      each(entry);
    }
    last.swap(entry.path);
  }
  if (std::string computed = parser.take_hash(); computed != page.hash) {
    why = where + "checksum mismatch (recorded " + page.hash + ", computed " + computed + ")";
    return false;
  }
  if (count != page.count || files != page.files || bytes != page.bytes) {
    why = where + "it holds other records than the page table says";
    return false;
  }
  return true;
}

// Pass 1 of open_manifest for version 3, after the header: the tail, the header page and every
// page. `count`: the entries. False with `why` when anything is damaged.
Result<bool> check_paged(ManifestParser& parser, int fd, const fs::path& path, const ManifestHeader& header,
                         const std::function<void(const ManifestEntry&)>& visit, std::uint64_t& count,
                         std::string& checksum, std::string& why) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return sys_error("cannot read", path);
  }
  Tail tail;
  SNAPKEEP_TRY_ASSIGN(bool good, read_tail(fd, static_cast<std::uint64_t>(st.st_size), path, tail, why));
  if (!good) {
    return false;
  }
  if (parser.offset() != k_manifest_page || parser.take_hash() != tail.header_hash) {
    why = "the header page does not match its checksum";
    return false;
  }
  for (std::size_t i = 0; i < tail.pages.size(); ++i) {
    const std::string_view next = i + 1 < tail.pages.size() ? std::string_view(tail.pages[i + 1].first) : "";
    SNAPKEEP_TRY_ASSIGN(bool page_good, parse_page(parser, path, header, tail.pages[i], i, next, visit, why));
    if (!page_good) {
      return false;
    }
  }
  count = tail.count;
  checksum = std::move(tail.checksum);
  return true;
}

// Pass 1 of open_manifest for versions 1 and 2, after the header: every record, the trailer and
// the checksum of everything before it. False with `why` when anything is damaged.
// Checks the trailer parse_record found after `count` records ("end COUNT CHECKSUM COMPUTED") and
// that nothing follows it; the recorded checksum into `checksum`.
bool check_trailer(ManifestParser& parser, const fs::path& path, const std::string& trailer, std::uint64_t count,
                   std::string& checksum, std::string& why) {
  auto words = split_spaces(trailer);
  std::uint64_t declared = 0;
  if (words.size() != 4 || words[0] != "end" || !parse_number(words[1], declared)) {
    why = "a malformed trailer";
    return false;
  }
  if (declared != count) {
    why = "the trailer counts " + std::to_string(declared) + " entries, the file holds " + std::to_string(count);
    return false;
  }
  if (words[2] != words[3]) {
    why = "checksum mismatch (recorded " + std::string(words[2]) + ", computed " + std::string(words[3]) + ")";
    return false;
  }
  std::string rest;
  if (auto more = parser.read_exact(1, rest, path); !more || *more) {
    why = "bytes after the trailer";
    return false;
  }
  checksum.assign(words[2]);
  return true;
}

bool check_unpaged(ManifestParser& parser, const fs::path& path, const ManifestHeader& header,
                   const std::function<void(const ManifestEntry&)>& visit, std::uint64_t& count, std::string& checksum,
                   std::string& why) {
  ManifestEntry entry;
  std::string last;
  std::string trailer;
  for (;;) {
    auto record = parse_record(parser, path, header, entry, trailer, why);
    if (!record) {
      why = record.error().describe();
      return false;
    }
    if (*record == Record::bad) {
      why += " after " + std::to_string(count) + " entries";
      return false;
    }
    if (*record == Record::end) {
      break;
    }
    if (count > 0 && !(last < entry.path)) {
      why = "entries are out of order after " + std::to_string(count) + " entries";
      return false;
    }
    if (visit) {
      visit(entry);
    }
    last = entry.path;
    ++count;
  }
  return check_trailer(parser, path, trailer, count, checksum, why);
}

}  // namespace

// The records of a delta manifest (version 4), streamed from its parser after the header, each an
// entry as version 2 writes it ("+" before it for a linked file) or "R LEN:PATH" for a base path
// removed, checked for syntax and strictly increasing path order; then the trailer and the checksum
// of everything before it. Memory: one record.
class DeltaRecords {
 public:
  DeltaRecords(ManifestParser& parser, const fs::path& path, const ManifestHeader& header)
      : m_parser(parser), m_path(path), m_body(header) {
    m_body.version = 2;  // the records and the trailer as version 2 writes them
  }

  // The next record; false after the last, once the trailer is checked (checksum()). False with
  // bad() set when the file is damaged.
  Result<bool> next(ManifestDeltaRecord& record) {
    if (m_done) {
      return false;
    }
    SNAPKEEP_TRY_ASSIGN(int first, m_parser.peek(m_path));
    record.linked = false;
    record.removed = false;
    if (first == 'R') {
      record.entry = ManifestEntry{};  // a path alone: nothing of the record before
      std::string& prefix = m_parser.prefix_scratch();
      SNAPKEEP_TRY_ASSIGN(bool got, m_parser.read_until(':', prefix, m_path, 32));
      std::size_t length = 0;
      if (!got || !prefix.starts_with("R ") || !parse_number(std::string_view(prefix).substr(2), length) ||
          length == 0 || length > k_max_path) {
        return fail("a malformed removal");
      }
      SNAPKEEP_TRY_ASSIGN(got, m_parser.read_exact(length, record.entry.path, m_path));
      std::string& end = m_parser.end_scratch();
      if (!got || record.entry.path.find('\0') != std::string::npos) {
        return fail("a removal is cut off");
      }
      SNAPKEEP_TRY_ASSIGN(got, m_parser.read_exact(1, end, m_path));
      if (!got || end != "\n") {
        return fail("a removal does not end where its length says");
      }
      record.removed = true;
    } else {
      if (first == '+') {
        std::string plus;
        SNAPKEEP_TRY(m_parser.read_exact(1, plus, m_path));
        record.linked = true;
      }
      std::string why;
      SNAPKEEP_TRY_ASSIGN(Record parsed, parse_record(m_parser, m_path, m_body, record.entry, m_trailer, why));
      if (parsed == Record::bad) {
        return fail(why);
      }
      if (parsed == Record::end) {
        m_done = true;
        if (record.linked) {
          return fail("a malformed record");
        }
        if (!check_trailer(m_parser, m_path, m_trailer, m_count, m_checksum, why)) {
          return fail(why);
        }
        return false;
      }
      if (record.linked && record.entry.type != EntryType::file) {
        return fail("a linked entry that is no file");
      }
    }
    if (m_count > 0 && !(m_last < record.entry.path)) {
      return fail("records are out of order");
    }
    m_last = record.entry.path;
    ++m_count;
    return true;
  }

  const std::string& bad() const { return m_bad; }
  const std::string& checksum() const { return m_checksum; }
  std::uint64_t count() const { return m_count; }

 private:
  bool fail(const std::string& what) {
    m_done = true;
    m_bad = what + " after " + std::to_string(m_count) + " records";
    return false;
  }

  ManifestParser& m_parser;
  const fs::path& m_path;
  ManifestHeader m_body;
  std::string m_trailer;
  std::string m_last;
  std::string m_checksum;
  std::string m_bad;
  std::uint64_t m_count = 0;
  bool m_done = false;
};

namespace {

// A delta kept in memory (read_manifest_delta, for a patch) holds no more records than this: a
// patch writes a whole manifest long before (k_delta_entries_divisor in manifest_patch.hpp, at
// most about twice k_patch_max_paths), so more means damage.
constexpr std::size_t k_max_delta_records_kept = std::size_t{1} << 22;

// Pass 1 of open_manifest for version 4 (a delta), after the header: every record (DeltaRecords),
// kept in `out` when given. False with `why` when anything is damaged.
Result<bool> check_delta(ManifestParser& parser, const fs::path& path, const ManifestHeader& header,
                         std::vector<ManifestDeltaRecord>* out, std::string& checksum, std::string& why) {
  DeltaRecords records(parser, path, header);
  ManifestDeltaRecord record;
  for (;;) {
    SNAPKEEP_TRY_ASSIGN(bool more, records.next(record));
    if (!more) {
      break;
    }
    if (out != nullptr) {
      if (out->size() >= k_max_delta_records_kept) {
        why = "more than " + std::to_string(k_max_delta_records_kept) + " records";
        return false;
      }
      out->push_back(record);
    }
  }
  if (!records.bad().empty()) {
    why = records.bad();
    return false;
  }
  checksum = records.checksum();
  return true;
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

// A new temporary sibling of the manifest `path`, `.<name>.tmp-XXXXXX` (tidy_manifests removes
// what a killed run leaves), mode 0600: its descriptor, and its path into `temp`.
static Result<Fd> create_temp_sibling(const fs::path& path, fs::path& temp) {
  std::string pattern = (path.parent_path() / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  Fd fd(::mkostemp(name.data(), O_CLOEXEC));
  if (!fd) {
    return sys_error("cannot create a manifest", pattern);
  }
  ::fchmod(fd.get(), 0600);
  temp = name.data();
  return fd;
}

Result<ManifestWriter> ManifestWriter::create(const fs::path& path, const ManifestHeader& header) {
  ManifestWriter writer;
  writer.m_path = path;
  SNAPKEEP_TRY_ASSIGN(writer.m_fd, create_temp_sibling(path, writer.m_temp));
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

// The header of a manifest of `header.version`, up to and including its "entries" line.
static std::string header_text(const ManifestHeader& header) {
  std::string text = std::string(k_magic) + " " + std::to_string(header.version) + "\n";
  text += "checksum " + std::string(checksum_name(header.checksum)) + "\n";
  text += "snapshot " + header.snapshot_id + "\n";
  text += "origin " + header.origin + "\n";
  text += "created " + std::to_string(header.created_ns) + "\n";
  text += std::string("links ") + (header.links ? "yes" : "no") + "\n";
  if (header.delta()) {
    text += "base " + header.base + "\n";
    text += "base_checksum " + header.base_checksum + "\n";
    text += "totals " + std::to_string(header.total_entries) + " " + std::to_string(header.total_files) + " " +
            std::to_string(header.total_bytes) + "\n";
  }
  text += "entries\n";
  return text;
}

void ManifestWriter::start(const ManifestHeader& header) {
  auto* state = XXH3_createState();
  XXH3_128bits_reset(state);
  m_hash = state;
  m_header = header;
  m_header.version = k_manifest_version;
  m_buffer = header_text(m_header);
  m_buffer.resize(k_manifest_page, '\0');  // a snapshot id and origin are short
  m_header_hash = hex128_of(m_buffer);
  m_end = k_manifest_page;
}

ManifestWriter::ManifestWriter(ManifestWriter&& other) noexcept
    : m_path(std::move(other.m_path)),
      m_temp(std::move(other.m_temp)),
      m_fd(std::move(other.m_fd)),
      m_buffer(std::move(other.m_buffer)),
      m_last_path(std::move(other.m_last_path)),
      m_entries(other.m_entries),
      m_hash(other.m_hash),
      m_header(std::move(other.m_header)),
      m_header_hash(std::move(other.m_header_hash)),
      m_end(other.m_end),
      m_page_open(other.m_page_open),
      m_page(std::move(other.m_page)),
      m_pages(std::move(other.m_pages)),
      m_links(std::move(other.m_links)),
      m_buffer_offset(other.m_buffer_offset),
      m_clones(std::move(other.m_clones)),
      m_clone_from(other.m_clone_from),
      m_clone_path(std::move(other.m_clone_path)),
      m_parked(std::move(other.m_parked)),
      m_parked_bytes(other.m_parked_bytes),
      m_copy_taken(other.m_copy_taken),
      m_pages_cloned(other.m_pages_cloned),
      m_sealed(other.m_sealed),
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

namespace {

// Makes `length` bytes of `to` at `to_offset` those of `from` at `from_offset`: a clone (shared
// extents) where the filesystem can, else a copy.
Status clone_or_copy(int from, std::uint64_t from_offset, int to, std::uint64_t to_offset, std::uint64_t length,
                     const fs::path& from_path, const fs::path& to_path) {
  file_clone_range range{};
  range.src_fd = from;
  range.src_offset = from_offset;
  range.src_length = length;
  range.dest_offset = to_offset;
  if (::ioctl(to, FICLONERANGE, &range) == 0) {
    return {};
  }
  std::vector<char> buffer(256 * 1024);
  std::uint64_t done = 0;
  while (done < length) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), length - done));
    ssize_t n = ::pread(from, buffer.data(), want, static_cast<off_t>(from_offset + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return n == 0 ? runtime_error("the manifest changed while it was read", from_path)
                    : sys_error("cannot read manifest", from_path);
    }
    std::size_t written = 0;
    while (written < static_cast<std::size_t>(n)) {
      ssize_t w = ::pwrite(to, buffer.data() + written, static_cast<std::size_t>(n) - written,
                           static_cast<off_t>(to_offset + done + written));
      if (w < 0 && errno == EINTR) {
        continue;
      }
      if (w < 0) {
        return sys_error("cannot write manifest", to_path);
      }
      written += static_cast<std::size_t>(w);
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

// Appends `value` in decimal, as std::to_string writes it, without a temporary string (a record
// has six numbers, and a manifest a million records).
template <typename Integer>
static void append_decimal(std::string& out, Integer value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

// Appends `text` as the manifest writes a name: its length in bytes, ':', the bytes, a newline.
static void append_counted_line(std::string& out, std::string_view text) {
  append_decimal(out, text.size());
  out += ':';
  out += text;
  out += '\n';
}

// Appends the record of `entry` (version 2 and later): TYPE SIZE MTIME INO CTIME SRC_INO SRC_CTIME
// HASH and the path as a counted line.
static void append_record(std::string& r, const ManifestEntry& entry) {
  r += static_cast<char>(entry.type);
  r += ' ';
  append_decimal(r, entry.size);
  r += ' ';
  append_decimal(r, entry.mtime_ns);
  r += ' ';
  append_decimal(r, entry.ino);
  r += ' ';
  append_decimal(r, entry.ctime_ns);
  r += ' ';
  if (entry.source) {
    append_decimal(r, entry.source->ino);
    r += ' ';
    append_decimal(r, entry.source->ctime_ns);
  } else {
    r += "- -";
  }
  r += ' ';
  if (entry.hash.empty()) {
    r += '-';
  } else {
    r += entry.hash;
  }
  r += ' ';
  append_counted_line(r, entry.path);
}

// Writes `data` at `offset` of `fd`.
static Status write_at(int fd, std::string_view data, std::uint64_t offset, const fs::path& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return sys_error("cannot write manifest", path);
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Status ManifestWriter::flush() {
  if (m_clones.empty()) {
    SNAPKEEP_TRY(write_at(m_fd.get(), m_buffer, m_buffer_offset, m_temp));
    m_buffer_offset += m_buffer.size();
    m_buffer.clear();
    return {};
  }
  park();
  return m_parked_bytes >= k_parked_max ? drain() : Status{};
}

// Sets the buffer aside, to be written after the pending clones.
void ManifestWriter::park() {
  if (!m_buffer.empty()) {
    m_parked_bytes += m_buffer.size();
    // A copy of its exact size: the buffer keeps its capacity instead of growing from empty again.
    m_parked.emplace_back(m_buffer_offset, m_buffer);
    m_buffer_offset += m_buffer.size();
    m_buffer.clear();
  }
}

// Makes the pending clones, then writes what was set aside around them. Clones go first: btrfs
// makes a clone into a file with unwritten data an order of magnitude slower.
Status ManifestWriter::drain() {
  for (const auto& clone : m_clones) {
    SNAPKEEP_TRY(clone_or_copy(m_clone_from, clone.from, m_fd.get(), clone.to, clone.length, m_clone_path, m_temp));
  }
  m_clones.clear();
  for (const auto& [offset, data] : m_parked) {
    SNAPKEEP_TRY(write_at(m_fd.get(), data, offset, m_temp));
  }
  m_parked.clear();
  m_parked_bytes = 0;
  SNAPKEEP_TRY(write_at(m_fd.get(), m_buffer, m_buffer_offset, m_temp));
  m_buffer_offset += m_buffer.size();
  m_buffer.clear();
  return {};
}

// Pads the open page to its end and enters it in the page table.
void ManifestWriter::close_page() {
  if (!m_page_open) {
    return;
  }
  const std::uint64_t padding = page_round(m_page.length) - m_page.length;
  const std::size_t from = m_buffer.size();
  m_buffer.resize(from + padding, '\0');
  auto* state = static_cast<XXH3_state_t*>(m_hash);
  XXH3_128bits_update(state, m_buffer.data() + from, padding);
  m_page.length += padding;
  m_page.hash = hex128(state);
  m_end = m_page.offset + m_page.length;
  m_pages.push_back(std::move(m_page));
  m_page = ManifestPage{};
  m_page_open = false;
}

Status ManifestWriter::add(const ManifestEntry& entry, bool linked) {
  if (m_sealed) {
    return runtime_error("internal error: an entry added to a sealed manifest", m_path);
  }
  if (entry.path.empty() || entry.path.find('\0') != std::string::npos) {
    return runtime_error("internal error: bad manifest path", entry.path);
  }
  if (m_entries > 0 && !(m_last_path < entry.path)) {
    return runtime_error("internal error: manifest entries out of order", entry.path);
  }
  std::string& r = m_record;
  r.clear();
  append_record(r, entry);
  if (m_page_open && m_page.length + r.size() > k_manifest_page) {
    close_page();
  }
  auto* state = static_cast<XXH3_state_t*>(m_hash);
  if (!m_page_open) {
    m_page_open = true;
    m_page.offset = m_end;
    m_page.first = entry.path;
    XXH3_128bits_reset(state);
  }
  m_buffer += r;
  XXH3_128bits_update(state, r.data(), r.size());
  m_page.length += r.size();
  ++m_page.count;
  if (entry.type == EntryType::file) {
    ++m_page.files;
    m_page.bytes += entry.size;
  }
  if (linked && m_header.links && entry.type == EntryType::file) {
    m_links.push_back(ManifestLink{entry.path, entry.ino});
  }
  m_last_path = entry.path;
  ++m_entries;
  if (m_page.length >= k_manifest_page) {
    close_page();  // a record longer than a page has a page of its own
  }
  if (m_buffer.size() >= k_write_chunk) {
    return flush();
  }
  return {};
}

Status ManifestWriter::add_pages(const ManifestIndex& base, std::size_t first, std::size_t end,
                                 const std::vector<ManifestLink>& links) {
  if (m_sealed) {
    return runtime_error("internal error: pages added to a sealed manifest", m_path);
  }
  if (first >= end) {
    return {};
  }
  const auto& pages = base.pages();
  if (m_entries > 0 && !(m_last_path < pages[first].first)) {
    return runtime_error("internal error: manifest pages out of order", pages[first].first);
  }
  if (!m_clones.empty() && m_clone_from != base.fd()) {
    return runtime_error("internal error: manifest pages from two manifests", base.path());
  }
  close_page();
  const std::uint64_t from = pages[first].offset;
  const std::uint64_t length = pages[end - 1].offset + pages[end - 1].length - from;
  if (m_copy_taken || length < k_min_clone_bytes) {
    // Written, not cloned: every run when the taken pages are copied (the file is allocated in one
    // piece), else a run too short to be worth its extents. The bytes the check read follow the
    // buffered records, in file order.
    SNAPKEEP_TRY(base.check_pages(first, end, [&](std::string_view bytes) -> Status {
      m_buffer.append(bytes);
      return m_buffer.size() >= k_write_chunk ? flush() : Status{};
    }));
  } else {
    SNAPKEEP_TRY(base.check_pages(first, end));
    park();
    m_clone_from = base.fd();
    m_clone_path = base.path();
    m_clones.push_back(PendingClone{from, m_end, length});
    m_buffer_offset = m_end + length;
    m_pages_cloned += end - first;
  }
  for (std::size_t i = first; i < end; ++i) {
    ManifestPage page = pages[i];
    page.offset = page.offset - from + m_end;
    m_entries += page.count;
    m_pages.push_back(std::move(page));
  }
  if (m_header.links) {
    m_links.insert(m_links.end(), links.begin(), links.end());
  }
  m_end += length;
  m_last_path = pages[end - 1].first;  // every entry of the last page sorts at or after it
  return {};
}

Status ManifestWriter::checkpoint() {
  return m_clones.empty() ? flush() : drain();
}

void ManifestWriter::abandon() {
  m_fd.reset();
  if (!m_committed && !m_temp.empty()) {
    ::unlink(m_temp.c_str());
  }
  m_committed = true;  // nothing left to do
}

Status ManifestWriter::seal() {
  if (m_sealed) {
    return {};
  }
  close_page();
  // The page table has a line per 4 KiB of records (30 000 at 1 000 000 entries): built without
  // temporary strings.
  std::string tail;
  tail.reserve(64 + m_pages.size() * 128 + m_links.size() * 64);
  tail += "header ";
  tail += m_header_hash;
  tail += '\n';
  for (const auto& page : m_pages) {
    tail += "page ";
    for (std::uint64_t number : {page.offset, page.length, page.count, page.files, page.bytes}) {
      append_decimal(tail, number);
      tail += ' ';
    }
    tail += page.hash;
    tail += ' ';
    append_counted_line(tail, page.first);
  }
  for (const auto& link : m_links) {
    tail += "link ";
    append_decimal(tail, link.ino);
    tail += ' ';
    append_counted_line(tail, link.path);
  }
  m_buffer += tail;
  m_buffer += "end " + std::to_string(m_entries) + " " + hex128_of(tail) + " " + std::to_string(m_end) + "\n";
  SNAPKEEP_TRY(drain());
  m_sealed = true;
  return {};
}

Status ManifestWriter::commit(Durability durability) {
  if (durability == Durability::synced_by_caller && !m_sealed) {
    return runtime_error("internal error: a manifest committed as synced before it was sealed", m_temp);
  }
  SNAPKEEP_TRY(seal());
  if (durability == Durability::sync && ::fsync(m_fd.get()) != 0) {
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
// Delta writer

ManifestDeltaWriter::ManifestDeltaWriter(const ManifestHeader& header) : m_header(header) {
  m_header.version = k_manifest_delta_version;
}

Status ManifestDeltaWriter::check_order(std::string_view path) {
  if (path.empty() || path.find('\0') != std::string_view::npos) {
    return runtime_error("internal error: bad manifest path", std::string(path));
  }
  if (m_records > 0 && !(m_last_path < path)) {
    return runtime_error("internal error: delta manifest records out of order", std::string(path));
  }
  m_last_path = path;
  ++m_records;
  return {};
}

Status ManifestDeltaWriter::add(const ManifestEntry& entry, bool linked) {
  SNAPKEEP_TRY(check_order(entry.path));
  if (linked && m_header.links && entry.type == EntryType::file) {
    m_body += '+';
  }
  append_record(m_body, entry);
  return {};
}

Status ManifestDeltaWriter::remove(std::string_view path) {
  SNAPKEEP_TRY(check_order(path));
  m_body += "R ";
  append_counted_line(m_body, path);
  return {};
}

Status ManifestDeltaWriter::seal(const fs::path& path, const Totals& totals) {
  if (!m_temp.empty()) {
    return runtime_error("internal error: a delta manifest sealed twice", path);
  }
  m_header.total_entries = totals.entries;
  m_header.total_files = totals.files;
  m_header.total_bytes = totals.bytes;
  std::string text = header_text(m_header);
  text += m_body;
  text += "end " + std::to_string(m_records) + " " + hex128_of(text) + "\n";
  fs::path temp;
  SNAPKEEP_TRY_ASSIGN(m_fd, create_temp_sibling(path, temp));
  m_path = path;
  m_temp = std::move(temp);
  return write_at(m_fd.get(), text, 0, m_temp);
}

Status ManifestDeltaWriter::commit(ManifestWriter::Durability durability) {
  if (m_temp.empty() || !m_fd) {
    return runtime_error("internal error: a delta manifest committed before it was sealed", m_path);
  }
  if (durability == ManifestWriter::Durability::sync && ::fsync(m_fd.get()) != 0) {
    return sys_error("cannot sync manifest", m_temp);
  }
  if (m_fd.close() != 0) {
    return sys_error("cannot close manifest", m_temp);
  }
  SNAPKEEP_TRY(rename_path(m_temp, m_path));
  m_temp.clear();
  return fsync_dir(m_path.parent_path());
}

Status ManifestDeltaWriter::commit(const fs::path& path, const Totals& totals) {
  SNAPKEEP_TRY(seal(path, totals));
  return commit(ManifestWriter::Durability::sync);
}

ManifestDeltaWriter::ManifestDeltaWriter(ManifestDeltaWriter&& other) noexcept
    : m_header(std::move(other.m_header)),
      m_body(std::move(other.m_body)),
      m_last_path(std::move(other.m_last_path)),
      m_records(other.m_records),
      m_path(std::move(other.m_path)),
      m_temp(std::move(other.m_temp)),
      m_fd(std::move(other.m_fd)) {
  other.m_temp.clear();
}

ManifestDeltaWriter::~ManifestDeltaWriter() {
  if (!m_temp.empty()) {
    m_fd.reset();
    ::unlink(m_temp.c_str());
  }
}

Status set_manifest_aside(const fs::path& path) {
  auto index = ManifestIndex::open(path);
  if (!index) {
    // No whole manifest, or a damaged one (no errno): no delta can amend it. A failed read (errno)
    // is not known to be either.
    return index.error().err != 0 ? std::move(index).error() : Status{};
  }
  const fs::path aside =
      path.parent_path() / (std::string(k_gone_manifest_prefix) + path.filename().string() + "." + index->checksum());
  if (::link(path.c_str(), aside.c_str()) != 0 && errno != EEXIST) {
    return sys_error("cannot keep the manifest as " + aside.filename().string(), path);
  }
  return fsync_dir(path.parent_path());
}

Result<std::optional<DeltaBase>> manifest_base_of(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) {
      return std::optional<DeltaBase>();
    }
    return sys_error("cannot open manifest", path);
  }
  ManifestParser parser(fd.get(), k_manifest_page);
  ManifestHeader header;
  std::string why;
  const ManifestState state = parse_header(parser, path, header, why);
  if (state == ManifestState::unsupported) {
    return runtime_error("the manifest's header cannot be read: " + why, path);
  }
  if (state == ManifestState::damaged) {
    // A read that failed may hide a delta; damage does not: a damaged delta amends nothing.
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || why.starts_with("cannot read")) {
      return runtime_error("the manifest's header cannot be read: " + why, path);
    }
    return std::optional<DeltaBase>();
  }
  if (!header.delta()) {
    return std::optional<DeltaBase>();
  }
  return std::optional<DeltaBase>(DeltaBase{header.base, header.base_checksum});
}

// ---------------------------------------------------------------------------------------------
// Reader

ManifestReader::~ManifestReader() {
  m_parser.reset();  // before the descriptor it reads
}

// Merges a delta's records into its base's entries as open_delta checks them: the entries of the
// two merged go to `visit`, counted.
class DeltaMerge {
 public:
  DeltaMerge(DeltaRecords& delta, const std::function<void(const ManifestEntry&)>& visit)
      : m_delta(delta), m_visit(visit) {}

  // The base's next entry.
  void base(const ManifestEntry& entry) {
    delta_before(entry.path);
    if (m_pending && m_record.entry.path == entry.path) {
      m_pending = false;
      if (!m_record.removed) {
        emit(m_record.entry);
      }
      return;
    }
    emit(entry);
  }
  // After the base's last entry.
  void finish() { delta_before(std::nullopt); }

  std::uint64_t entries = 0;
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  std::string bad;  // a removal of a path the base lacks, or the delta unreadable: damage

 private:
  // Emits the delta's records before `path` (all of them without one); the next stays pending.
  void delta_before(const std::optional<std::string_view>& path) {
    for (;;) {
      if (!m_pending && !m_done) {
        auto more = m_delta.next(m_record);
        if (!more || !*more) {
          m_done = true;
          if (bad.empty() && (!more || !m_delta.bad().empty())) {
            bad = "the file changed while it was read: " + (more ? m_delta.bad() : more.error().describe());
          }
          return;
        }
        m_pending = true;
      }
      if (!m_pending || (path && !(m_record.entry.path < *path))) {
        return;
      }
      m_pending = false;
      if (m_record.removed) {
        if (bad.empty()) {
          bad = "it removes a path its base does not hold";
        }
        continue;
      }
      emit(m_record.entry);
    }
  }
  void emit(const ManifestEntry& entry) {
    ++entries;
    if (entry.type == EntryType::file) {
      ++files;
      bytes += entry.size;
    }
    if (m_visit) {
      m_visit(entry);
    }
  }
  DeltaRecords& m_delta;
  const std::function<void(const ManifestEntry&)>& m_visit;
  ManifestDeltaRecord m_record;
  bool m_pending = false;
  bool m_done = false;
};

// The parser of `reader`, a delta, back at its first record (the header read again).
Status rewind_delta(ManifestReader& reader, ManifestParser& parser, const fs::path& path) {
  SNAPKEEP_TRY(parser.rewind(path));
  ManifestHeader again;
  std::string why;
  if (parse_header(parser, path, again, why) != ManifestState::ok || again.base != reader.header().base ||
      again.base_checksum != reader.header().base_checksum) {
    return runtime_error("the file changed while it was read", path);
  }
  return {};
}

// open_manifest of a delta manifest, whose header `reader` has read: its records, then its base,
// found by id (or, once its snapshot is deleted, by k_gone_manifest_prefix and id) and by checksum,
// checked whole with the two merged. The delta is read three times (checked, merged with the base
// as it is checked, merged again by next()), one record at a time.
ManifestOpen open_delta(std::unique_ptr<ManifestReader> reader, const fs::path& path,
                        const std::function<void(const ManifestEntry&)>& visit) {
  ManifestOpen out;
  out.state = ManifestState::damaged;
  const ManifestHeader& header = reader->m_header;
  ManifestParser& parser = *reader->m_parser;
  auto checked = check_delta(parser, path, header, nullptr, reader->m_checksum, out.reason);
  if (!checked || !*checked) {
    if (!checked) {
      out.reason = checked.error().describe();
    }
    return out;
  }
  auto index = open_delta_base(path, header);
  if (!index) {
    out.reason = index.error().describe();
    return out;
  }
  const fs::path candidate = index->path();
  if (auto rewound = rewind_delta(*reader, parser, path); !rewound) {
    out.reason = rewound.error().describe();
    return out;
  }
  DeltaRecords records(parser, path, header);
  DeltaMerge merge(records, visit);
  ManifestOpen base = open_manifest(candidate, [&](const ManifestEntry& entry) { merge.base(entry); });
  if (base.state != ManifestState::ok || base.reader->checksum() != header.base_checksum) {
    out.reason = "its base manifest " + candidate.string() +
                 " is damaged: " + (base.state == ManifestState::ok ? "it changed while it was read" : base.reason);
    return out;
  }
  merge.finish();
  if (!merge.bad.empty()) {
    out.reason = merge.bad;
    return out;
  }
  if (merge.entries != header.total_entries || merge.files != header.total_files || merge.bytes != header.total_bytes) {
    out.reason = "its totals do not match its base and records merged";
    return out;
  }
  if (auto rewound = rewind_delta(*reader, parser, path); !rewound) {
    out.reason = rewound.error().describe();
    return out;
  }
  reader->m_delta = std::make_unique<DeltaRecords>(parser, reader->m_path, reader->m_header);
  reader->m_base = std::move(base.reader);
  reader->m_count = merge.entries;
  out.state = ManifestState::ok;
  out.reader = std::move(reader);
  return out;
}

Result<ManifestIndex> open_delta_base(const fs::path& delta_path, const ManifestHeader& header) {
  const fs::path dir = delta_path.parent_path();
  std::string why = "its base manifest " + header.base + " is missing";
  // Only the base it was written against: a manifest under that name may be another since (a
  // snapshot made again under a deleted one's id).
  auto matches = [&](const fs::path& candidate) -> std::optional<ManifestIndex> {
    auto index = ManifestIndex::open(candidate);
    if (!index) {
      if (index.error().err != ENOENT) {
        why = "its base manifest cannot be used: " + index.error().describe();
      }
      return std::nullopt;
    }
    if (index->checksum() != header.base_checksum || index->header().snapshot_id != header.base) {
      why = "its base manifest " + candidate.string() + " is not the one it was written against";
      return std::nullopt;
    }
    return std::move(index).value();
  };
  const std::string gone = std::string(k_gone_manifest_prefix) + header.base;
  const std::vector<fs::path> named{dir / header.base, dir / gone, dir / (gone + "." + header.base_checksum)};
  for (const fs::path& candidate : named) {
    if (auto index = matches(candidate)) {
      return std::move(*index);
    }
  }
  // forget_snapshot_state's other name, when `gone` was taken: ".gone-<id>.<time>".
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(gone + ".") && std::find(named.begin(), named.end(), entry.path()) == named.end()) {
      if (auto index = matches(entry.path())) {
        return std::move(*index);
      }
    }
  }
  return runtime_error(why, delta_path);
}

Result<ManifestDelta> read_manifest_delta(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    return sys_error("cannot open manifest", path);
  }
  ManifestParser parser(fd.get());
  ManifestDelta delta;
  std::string why;
  if (parse_header(parser, path, delta.header, why) != ManifestState::ok) {
    return runtime_error("the manifest cannot be used: " + why, path);
  }
  if (!delta.header.delta()) {
    return runtime_error("the manifest is no delta", path);
  }
  SNAPKEEP_TRY_ASSIGN(bool good, check_delta(parser, path, delta.header, &delta.records, delta.checksum, why));
  if (!good) {
    return runtime_error("the manifest cannot be used: " + why, path);
  }
  return delta;
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
  if (reader->m_header.delta()) {
    return open_delta(std::move(reader), path, visit);
  }
  std::uint64_t count = 0;
  if (reader->m_header.version == 3) {
    auto good = check_paged(parser, fd, path, reader->m_header, visit, count, reader->m_checksum, out.reason);
    if (!good || !*good) {
      out.state = ManifestState::damaged;
      if (!good) {
        out.reason = good.error().describe();
      }
      return out;
    }
  } else if (!check_unpaged(parser, path, reader->m_header, visit, count, reader->m_checksum, out.reason)) {
    out.state = ManifestState::damaged;
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
  return m_parser ? m_parser->offset() : 0;
}

Result<ManifestEntry> ManifestReader::read_at(std::uint64_t position) {
  if (m_base) {
    return runtime_error("internal error: a record of a delta manifest read by its position", m_path);
  }
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
  if (m_base) {
    return next_merged(entry);
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

Result<bool> ManifestReader::next_merged(ManifestEntry& entry) {
  for (;;) {
    if (!m_base_pending && !m_base_done) {
      SNAPKEEP_TRY_ASSIGN(bool more, m_base->next(m_base_entry));
      m_base_pending = more;
      m_base_done = !more;
    }
    if (!m_delta_pending && !m_delta_done) {
      SNAPKEEP_TRY_ASSIGN(bool more, m_delta->next(m_delta_record));
      m_delta_pending = more;
      m_delta_done = !more;
      if (!more && !m_delta->bad().empty()) {
        return runtime_error("delta manifest changed while it was read (" + m_delta->bad() + ")", m_path);
      }
    }
    if (m_delta_pending && (!m_base_pending || !(m_base_entry.path < m_delta_record.entry.path))) {
      m_delta_pending = false;
      if (m_base_pending && m_base_entry.path == m_delta_record.entry.path) {
        m_base_pending = false;
      } else if (m_delta_record.removed) {
        return runtime_error("delta manifest changed while it was read", m_path);
      }
      if (m_delta_record.removed) {
        continue;
      }
      entry = std::move(m_delta_record.entry);
    } else if (m_base_pending) {
      entry = std::move(m_base_entry);
      m_base_pending = false;
    } else {
      return runtime_error("manifest changed while it was read (fewer entries than counted)", m_path);
    }
    ++m_read;
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Index (version 3)

Result<ManifestIndex> ManifestIndex::open(const fs::path& path) {
  ManifestIndex index;
  index.m_path = path;
  index.m_fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!index.m_fd) {
    return sys_error("cannot open manifest", path);
  }
  ManifestParser parser(index.m_fd.get(), k_manifest_page);
  std::string why;
  if (parse_header(parser, path, index.m_header, why) != ManifestState::ok) {
    return runtime_error("the manifest cannot be used: " + why, path);
  }
  if (index.m_header.delta()) {
    return runtime_error("the manifest is a delta of the manifest of " + index.m_header.base + ": it has no page table",
                         path);
  }
  if (index.m_header.version < 3) {
    return runtime_error(
        "the manifest is of format version " + std::to_string(index.m_header.version) + ", which has no page table",
        path);
  }
  struct stat st {};
  if (::fstat(index.m_fd.get(), &st) != 0) {
    return sys_error("cannot read manifest", path);
  }
  Tail tail;
  SNAPKEEP_TRY_ASSIGN(bool good, read_tail(index.m_fd.get(), static_cast<std::uint64_t>(st.st_size), path, tail, why));
  if (!good) {
    return runtime_error("the manifest cannot be used: " + why, path);
  }
  if (parser.offset() != k_manifest_page || parser.take_hash() != tail.header_hash) {
    return runtime_error("the manifest cannot be used: the header page does not match its checksum", path);
  }
  index.m_pages = std::move(tail.pages);
  index.m_links = std::move(tail.links);
  index.m_count = tail.count;
  index.m_checksum = std::move(tail.checksum);
  return index;
}

std::size_t ManifestIndex::page_of(std::string_view path) const {
  auto after = std::upper_bound(m_pages.begin(), m_pages.end(), path,
                                [](std::string_view p, const ManifestPage& page) { return p < page.first; });
  return after == m_pages.begin() ? 0 : static_cast<std::size_t>(after - m_pages.begin()) - 1;
}

Result<std::vector<ManifestEntry>> ManifestIndex::read_page(std::size_t i) const {
  const ManifestPage& page = m_pages.at(i);
  ManifestParser parser(m_fd.get(), static_cast<std::size_t>(page.length));
  SNAPKEEP_TRY(parser.seek(page.offset, m_path, true));
  std::vector<ManifestEntry> entries;
  entries.reserve(page.count);
  std::string why;
  const std::string_view next = i + 1 < m_pages.size() ? std::string_view(m_pages[i + 1].first) : "";
  SNAPKEEP_TRY_ASSIGN(bool good, parse_page(
                                     parser, m_path, m_header, page, i, next,
                                     [&](const ManifestEntry& entry) { entries.push_back(entry); }, why));
  if (!good) {
    return runtime_error("the manifest is damaged: " + why, m_path);
  }
  return entries;
}

Status ManifestIndex::check_pages(std::size_t first, std::size_t end,
                                  const std::function<Status(std::string_view)>& checked) const {
  return check_run(first, end, m_checked.empty() ? nullptr : &m_checked, checked);
}

Status ManifestIndex::check_pages_ahead(const std::vector<bool>& skip) {
  if (skip.size() != m_pages.size()) {
    return runtime_error("internal error: pages to skip do not match the manifest's", m_path);
  }
  SNAPKEEP_TRY(check_run(0, m_pages.size(), &skip, {}));
  m_checked = skip;
  m_checked.flip();  // checked: every page not skipped
  return {};
}

Status ManifestIndex::check_run(std::size_t first, std::size_t end, const std::vector<bool>* known,
                                const std::function<Status(std::string_view)>& checked) const {
  constexpr std::uint64_t k_chunk = 1 << 20;
  // Bytes handed out are always checked: they are the ones the new manifest gets, and a read
  // after the check ahead could differ from the one it checked.
  auto is_known = [&](std::size_t i) { return !checked && known != nullptr && (*known)[i]; };
  std::string bytes;
  for (std::size_t i = first; i < end;) {
    // Whole pages, about a chunk's worth, in one read.
    std::size_t last = i + 1;
    while (last < end && m_pages[last].offset + m_pages[last].length - m_pages[i].offset <= k_chunk) {
      ++last;
    }
    bool all_known = true;
    for (std::size_t k = i; k < last && all_known; ++k) {
      all_known = is_known(k);
    }
    if (all_known) {
      i = last;  // nothing to check, no bytes wanted
      continue;
    }
    const std::uint64_t from = m_pages[i].offset;
    const std::uint64_t length = m_pages[last - 1].offset + m_pages[last - 1].length - from;
    SNAPKEEP_TRY_ASSIGN(bool got, read_fully(m_fd.get(), from, static_cast<std::size_t>(length), bytes, m_path));
    if (!got) {
      return runtime_error("the manifest changed while it was read", m_path);
    }
    for (; i < last; ++i) {
      if (is_known(i)) {
        continue;
      }
      const ManifestPage& page = m_pages[i];
      std::string_view data(bytes.data() + (page.offset - from), static_cast<std::size_t>(page.length));
      if (std::string computed = hex128_of(data); computed != page.hash) {
        return runtime_error("the manifest is damaged: page " + std::to_string(i) + ": checksum mismatch (recorded " +
                                 page.hash + ", computed " + computed + ")",
                             m_path);
      }
    }
    if (checked) {
      SNAPKEEP_TRY(checked(bytes));
    }
  }
  return {};
}

}  // namespace snapkeep
