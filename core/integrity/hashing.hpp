#pragma once
// Content hashes for manifests and scrub: xxh128 (libxxhash XXH3 128-bit), sha256 (OpenSSL EVP) or
// none; and reading a whole file through them in large blocks, optionally from the disk rather
// than the page cache.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.hpp"
#include "core/base/fd.hpp"
#include "core/config/config.hpp"

namespace snapkeep {

// "xxh128", "sha256", "none".
std::string_view checksum_name(ChecksumKind kind);
// The inverse of checksum_name; nullopt for anything else.
std::optional<ChecksumKind> parse_checksum_name(std::string_view text);
// Length of a digest in hex characters (0 for none).
std::size_t checksum_hex_length(ChecksumKind kind);

// A streaming hash of one algorithm. hex_digest() is lower-case hex (xxh128: the canonical
// big-endian form that `xxhsum -H2` prints); "" for none.
class Hasher {
 public:
  explicit Hasher(ChecksumKind kind);
  ~Hasher();
  Hasher(Hasher&& other) noexcept;
  Hasher& operator=(Hasher&& other) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  ChecksumKind kind() const { return m_kind; }
  void update(const void* data, std::size_t size);
  // Finishes and returns the digest; the hasher starts over afterwards.
  std::string hex_digest();

 private:
  void reset();
  ChecksumKind m_kind;
  void* m_state = nullptr;  // XXH3_state_t* or EVP_MD_CTX*
};

// The digest of a byte string.
std::string hash_bytes(ChecksumKind kind, std::string_view data);

// Block size of every file read for hashing: large sequential reads.
inline constexpr std::size_t k_hash_block = 1 << 20;

// How hash_fd reads.
struct HashReadOptions {
  // Drop the file's clean cached pages before reading (posix_fadvise DONTNEED), so the data comes
  // from the disk and a cached copy cannot hide rot; and drop them again afterwards, so a scrub
  // does not push the user's working set out of the page cache.
  bool from_disk = false;
  // Called with the bytes of each block as it is read.
  std::function<void(std::uint64_t)> on_bytes;
};

// Reads the open file `fd` from offset 0 to its end in k_hash_block blocks, feeding each hasher.
// Returns the bytes read. A read error keeps its errno (EIO: the data cannot be read back); `path`
// is for messages.
Result<std::uint64_t> hash_fd(int fd, std::vector<Hasher>& hashers, const HashReadOptions& options,
                              const std::filesystem::path& path);

// Opens `path` read-only without following a symlink (O_NOATIME when allowed). Errors keep errno.
Result<Fd> open_for_reading(const std::filesystem::path& path);

// Opens and hashes one file with one algorithm; *bytes_read (when given) gets the bytes read.
Result<std::string> hash_file(const std::filesystem::path& path, ChecksumKind kind, const HashReadOptions& options,
                              std::uint64_t* bytes_read = nullptr);

}  // namespace snapkeep
