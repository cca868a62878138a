#include "core/store/manifest_entry.hpp"

#include <sys/stat.h>

namespace snapkeep {

EntryType entry_type_of(mode_t mode) {
  if (S_ISREG(mode)) {
    return EntryType::file;
  }
  if (S_ISDIR(mode)) {
    return EntryType::directory;
  }
  if (S_ISLNK(mode)) {
    return EntryType::symlink;
  }
  return EntryType::other;
}

}  // namespace snapkeep
