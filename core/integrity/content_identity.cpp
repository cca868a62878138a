#include "core/integrity/content_identity.hpp"

#include <xxhash.h>

#include "core/base/fsutil.hpp"
#include "core/integrity/manifest.hpp"

namespace snapkeep {

std::size_t ContentKeyHash::operator()(const ContentKey& key) const {
  const std::uint64_t fields[] = {key.dev, key.ino, static_cast<std::uint64_t>(key.ctime_ns), key.size,
                                  static_cast<std::uint64_t>(key.mtime_ns)};
  return static_cast<std::size_t>(XXH3_64bits(fields, sizeof fields));
}

namespace {

// The rule itself, from the facts that may decide it.
ContentKey key_of(std::uint64_t dev, std::uint64_t ino, std::int64_t ctime_ns, std::uint64_t size,
                  std::int64_t mtime_ns, ContentSharing sharing) {
  ContentKey key;
  key.ino = ino;
  if (sharing == ContentSharing::hard_links) {
    key.dev = dev;
    return key;
  }
  key.ctime_ns = ctime_ns;
  key.size = size;
  key.mtime_ns = mtime_ns;
  return key;
}

}  // namespace

ContentKey content_key(const struct stat& st, ContentSharing sharing) {
  return key_of(static_cast<std::uint64_t>(st.st_dev), st.st_ino, timespec_ns(st.st_ctim),
                static_cast<std::uint64_t>(st.st_size), timespec_ns(st.st_mtim), sharing);
}

bool may_reuse_hash(const ManifestEntry& recorded, const struct stat& live, ContentSharing sharing) {
  bool unchanged =
      recorded.size == static_cast<std::uint64_t>(live.st_size) && recorded.mtime_ns == timespec_ns(live.st_mtim);
  // A manifest has no device number: the recorded file is on the live file's device.
  ContentKey then = key_of(static_cast<std::uint64_t>(live.st_dev), recorded.ino, recorded.ctime_ns, recorded.size,
                           recorded.mtime_ns, sharing);
  return unchanged && then == content_key(live, sharing);
}

}  // namespace snapkeep
