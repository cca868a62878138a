// Fuzz target: the manifest reader. open_manifest reads a path (with O_NOFOLLOW, so not a
// /proc/self/fd link), so each input is written to one temporary file on tmpfs and opened from
// there. A mutated file nearly always fails the trailer's xxh128 and stops early, so each input is
// also tried with the checksum of its "end" line recomputed: that lets the fuzzer reach the records.
// An accepted manifest must stream exactly its entry count, in strictly increasing path order.

#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "core/integrity/hashing.hpp"
#include "core/integrity/manifest.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using snapkeep::fuzz::check;

namespace {

std::string g_path;  // this process's temporary file

void remove_temp() {
  ::unlink(g_path.c_str());
}

// Replaces the file's contents with `bytes`.
void write_file(std::string_view bytes) {
  const int fd = ::open(g_path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  check(fd >= 0, "cannot open the temporary file");
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    check(n > 0, "cannot write the temporary file");
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

// Opens the file as a manifest and, when it is accepted, reads every entry.
void read_manifest(std::string_view bytes) {
  using namespace snapkeep;
  write_file(bytes);
  ManifestOpen opened = open_manifest(g_path);
  // The page index a patch reads (version 3) must not crash on anything either, and must agree with
  // open_manifest on a manifest that is ok.
  std::uint64_t paged = 0;
  bool pages_good = false;
  if (auto index = ManifestIndex::open(g_path); index.ok()) {
    pages_good = index->check_pages(0, index->pages().size()).ok();
    for (std::size_t i = 0; i < index->pages().size(); ++i) {
      auto records = index->read_page(i);
      pages_good = pages_good && records.ok();
      paged += records.ok() ? records->size() : 0;
    }
  }
  if (opened.state != ManifestState::ok) {
    check(opened.reader == nullptr, "a reader for a manifest that is not ok");
    check(!opened.reason.empty(), "a damaged or unsupported manifest without a reason");
    return;
  }
  check(opened.reader != nullptr, "no reader for an ok manifest");
  ManifestReader& reader = *opened.reader;
  ManifestEntry entry;
  std::string last;
  std::uint64_t n = 0;
  std::uint64_t files = 0;
  std::uint64_t file_bytes = 0;
  for (;;) {
    Result<bool> more = reader.next(entry);
    check(more.ok(), "next() failed on a manifest that open_manifest checked");
    if (!*more) {
      break;
    }
    if (entry.type == EntryType::file) {
      ++files;
      file_bytes += entry.size;
    }
    check(n == 0 || last < entry.path, "entries not in strictly increasing path order");
    check(!entry.path.empty() && entry.path.find('\0') == std::string::npos, "an empty path or a NUL in a path");
    last = entry.path;
    ++n;
  }
  check(n == reader.entry_count(), "next() gave another number of entries than entry_count()");
  if (reader.header().delta()) {
    // A delta merged with its base: what next() gave is what its header says the two hold.
    check(n == reader.header().total_entries && files == reader.header().total_files &&
              file_bytes == reader.header().total_bytes,
          "a delta's entries differ from its totals");
  }
  if (reader.header().version == 3) {
    check(pages_good, "a page of an ok manifest does not read");
    check(paged == n, "the pages hold another number of entries than next() gave");
  }
}

// `bytes` with the checksum on its first "end COUNT CHECKSUM" line (after the header) recomputed
// over everything before that line; "" when there is no such line.
std::string with_fixed_checksum(std::string_view bytes) {
  const auto header_end = bytes.find("\nentries\n");
  if (header_end == std::string_view::npos) {
    return {};
  }
  const auto end_line = bytes.find("\nend ", header_end + 8);
  if (end_line == std::string_view::npos) {
    return {};
  }
  const std::size_t start = end_line + 1;
  const auto count_end = bytes.find(' ', start + 4);
  if (count_end == std::string_view::npos) {
    return {};
  }
  const auto line_end = bytes.find('\n', count_end);
  std::string fixed(bytes.substr(0, count_end + 1));
  fixed += snapkeep::hash_bytes(snapkeep::ChecksumKind::xxh128, bytes.substr(0, start));
  if (line_end != std::string_view::npos) {
    fixed += bytes.substr(line_end);
  }
  return fixed;
}

}  // namespace

// The base a delta manifest input may name (version 4): a whole manifest of fixed bytes beside the
// input, under the id k_base_id, so that the fuzzer reaches the merge of the two.
constexpr const char* k_base_id = "2026-01-01_00-00-00";
std::string g_dir;

void remove_temp_dir() {
  remove_temp();
  ::unlink((g_dir + "/" + k_base_id).c_str());
  ::rmdir(g_dir.c_str());
}

void write_base() {
  using namespace snapkeep;
  ManifestHeader header;
  header.snapshot_id = k_base_id;
  header.created_ns = 1;
  header.links = true;
  auto writer = ManifestWriter::create(g_dir + "/" + k_base_id, header);
  check(writer.ok(), "cannot write the base manifest");
  for (const char* path : {"a", "a/one", "a/two", "b", "c"}) {
    ManifestEntry e;
    e.path = path;
    e.type = std::string_view(path).size() == 1 ? EntryType::directory : EntryType::file;
    if (e.type == EntryType::file) {
      e.size = 3;
      e.hash = "0123456789abcdef0123456789abcdef";
    }
    check(writer->add(e, e.path == "a/two").ok(), "cannot add to the base manifest");
  }
  check(writer->commit().ok(), "cannot commit the base manifest");
}

// SNAPKEEP_FUZZ_WRITE_DELTA_SEED=FILE: writes a delta of the base to FILE (the corpus seed
// tests/fuzz/corpus/manifest/delta-version-4 was made so) and exits.
void write_delta_seed(const char* file) {
  using namespace snapkeep;
  auto base = ManifestIndex::open(g_dir + "/" + k_base_id);
  check(base.ok(), "cannot read the base manifest");
  ManifestHeader header;
  header.snapshot_id = "2026-01-01_01-00-00";
  header.created_ns = 2;
  header.links = true;
  header.base = k_base_id;
  header.base_checksum = base->checksum();
  ManifestDeltaWriter delta(header);
  ManifestEntry changed;
  changed.path = "a/one";
  changed.type = EntryType::file;
  changed.size = 4;
  changed.hash = "00000000000000000000000000000001";
  ManifestEntry added = changed;
  added.path = "a/three";
  check(delta.add(changed).ok() && delta.add(added, true).ok() && delta.remove("b").ok(), "cannot write the delta");
  const std::string temp = g_dir + "/seed";
  check(delta.commit(temp, {5, 3, 11}).ok(), "cannot commit the delta");
  {
    std::ifstream in(temp, std::ios::binary);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << in.rdbuf();
    out.flush();
    check(in.is_open() && out.good(), "cannot copy the delta");
  }
  ::unlink(temp.c_str());
  std::exit(0);
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  std::string pattern = std::string(dir) + "/snapkeep-fuzz-manifest-XXXXXX";
  check(::mkdtemp(pattern.data()) != nullptr, "cannot create a temporary folder");
  g_dir = pattern;
  g_path = g_dir + "/2026-01-01_01-00-00";
  const int fd = ::open(g_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  check(fd >= 0, "cannot create a temporary file");
  ::close(fd);
  std::atexit(remove_temp_dir);
  write_base();
  if (const char* seed = std::getenv("SNAPKEEP_FUZZ_WRITE_DELTA_SEED")) {
    write_delta_seed(seed);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  read_manifest(bytes);
  const std::string fixed = with_fixed_checksum(bytes);
  if (!fixed.empty() && fixed != bytes) {
    read_manifest(fixed);
  }
  return 0;
}
