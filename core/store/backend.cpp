#include "core/store/backend.hpp"

#include <sys/statvfs.h>

namespace snapkeep {

Result<DestinationSpace> Backend::space(const std::filesystem::path& destination) const {
  struct statvfs st {};
  if (::statvfs(destination.c_str(), &st) != 0) {
    return sys_error("cannot statvfs", destination);
  }
  return DestinationSpace{static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize,
                          static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize};
}

}  // namespace snapkeep
