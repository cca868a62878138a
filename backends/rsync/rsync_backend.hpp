#pragma once
// The rsync backend: hard-link snapshot trees made with rsync --link-dest (SPEC §5).

#include <memory>

#include "core/store/backend.hpp"

namespace snapkeep {

// The backend for the registry.
std::unique_ptr<Backend> make_rsync_backend();

}  // namespace snapkeep
