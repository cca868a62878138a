#include "core/integrity/hashing.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

#include <openssl/evp.h>
#include <xxhash.h>

namespace snapkeep {
namespace {

constexpr char k_hex[] = "0123456789abcdef";

std::string to_hex(const unsigned char* bytes, std::size_t size) {
  std::string out(size * 2, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = k_hex[bytes[i] >> 4];
    out[2 * i + 1] = k_hex[bytes[i] & 0xf];
  }
  return out;
}

// One page-aligned read buffer per thread, reused by every read.
char* read_buffer() {
  struct Buffer {
    char* data = nullptr;
    Buffer() {
      void* p = nullptr;
      if (::posix_memalign(&p, 4096, k_hash_block) == 0) {
        data = static_cast<char*>(p);
      }
    }
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffer;
  return buffer.data;
}

}  // namespace

std::string_view checksum_name(ChecksumKind kind) {
  switch (kind) {
    case ChecksumKind::xxh128: return "xxh128";
    case ChecksumKind::sha256: return "sha256";
    case ChecksumKind::none: return "none";
  }
  return "none";
}

std::optional<ChecksumKind> parse_checksum_name(std::string_view text) {
  if (text == "xxh128") {
    return ChecksumKind::xxh128;
  }
  if (text == "sha256") {
    return ChecksumKind::sha256;
  }
  if (text == "none") {
    return ChecksumKind::none;
  }
  return std::nullopt;
}

std::size_t checksum_hex_length(ChecksumKind kind) {
  switch (kind) {
    case ChecksumKind::xxh128: return 32;
    case ChecksumKind::sha256: return 64;
    case ChecksumKind::none: return 0;
  }
  return 0;
}

Hasher::Hasher(ChecksumKind kind) : m_kind(kind) {
  if (kind == ChecksumKind::xxh128) {
    m_state = XXH3_createState();
  } else if (kind == ChecksumKind::sha256) {
    m_state = EVP_MD_CTX_new();
  }
  if (kind != ChecksumKind::none && m_state == nullptr) {
    throw std::bad_alloc();
  }
  reset();
}

Hasher::~Hasher() {
  if (m_kind == ChecksumKind::xxh128) {
    XXH3_freeState(static_cast<XXH3_state_t*>(m_state));
  } else if (m_kind == ChecksumKind::sha256) {
    EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(m_state));
  }
}

Hasher::Hasher(Hasher&& other) noexcept : m_kind(other.m_kind), m_state(other.m_state) {
  other.m_kind = ChecksumKind::none;
  other.m_state = nullptr;
}

Hasher& Hasher::operator=(Hasher&& other) noexcept {
  if (this != &other) {
    std::swap(m_kind, other.m_kind);
    std::swap(m_state, other.m_state);
  }
  return *this;
}

void Hasher::reset() {
  if (m_kind == ChecksumKind::xxh128) {
    XXH3_128bits_reset(static_cast<XXH3_state_t*>(m_state));
  } else if (m_kind == ChecksumKind::sha256) {
    if (EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(m_state), EVP_sha256(), nullptr) != 1) {
      throw std::runtime_error("OpenSSL cannot initialise SHA-256");
    }
  }
}

void Hasher::update(const void* data, std::size_t size) {
  if (m_kind == ChecksumKind::xxh128) {
    XXH3_128bits_update(static_cast<XXH3_state_t*>(m_state), data, size);
  } else if (m_kind == ChecksumKind::sha256) {
    EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(m_state), data, size);
  }
}

std::string Hasher::hex_digest() {
  std::string out;
  if (m_kind == ChecksumKind::xxh128) {
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(static_cast<XXH3_state_t*>(m_state)));
    out = to_hex(canonical.digest, sizeof canonical.digest);
  } else if (m_kind == ChecksumKind::sha256) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(m_state), digest, &size);
    out = to_hex(digest, size);
  }
  reset();
  return out;
}

std::string hash_bytes(ChecksumKind kind, std::string_view data) {
  Hasher hasher(kind);
  hasher.update(data.data(), data.size());
  return hasher.hex_digest();
}

Result<std::uint64_t> hash_fd(int fd, std::vector<Hasher>& hashers, const HashReadOptions& options,
                              const std::filesystem::path& path) {
  char* buffer = read_buffer();
  if (buffer == nullptr) {
    return runtime_error("out of memory for the read buffer", path);
  }
  if (options.from_disk) {
    // Clean cached pages are dropped, so what follows is read from the device. (Dirty pages cannot
    // be dropped; snapshots are synced when they are made.)
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buffer, k_hash_block);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return sys_error("cannot read", path);
    }
    if (n == 0) {
      break;
    }
    for (auto& hasher : hashers) {
      hasher.update(buffer, static_cast<std::size_t>(n));
    }
    total += static_cast<std::uint64_t>(n);
    if (options.on_bytes) {
      options.on_bytes(static_cast<std::uint64_t>(n));
    }
  }
  if (options.from_disk) {
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  }
  return total;
}

Result<Fd> open_for_reading(const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME));
  if (!fd && errno == EPERM) {
    fd.reset(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  }
  if (!fd) {
    return sys_error("cannot open", path);
  }
  return fd;
}

Result<std::string> hash_file(const std::filesystem::path& path, ChecksumKind kind, const HashReadOptions& options,
                              std::uint64_t* bytes_read) {
  SNAPKEEP_TRY_ASSIGN(Fd fd, open_for_reading(path));
  std::vector<Hasher> hashers;
  hashers.emplace_back(kind);
  SNAPKEEP_TRY_ASSIGN(std::uint64_t read, hash_fd(fd.get(), hashers, options, path));
  if (bytes_read != nullptr) {
    *bytes_read = read;
  }
  return hashers.front().hex_digest();
}

}  // namespace snapkeep
