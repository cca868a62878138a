#pragma once
// rsync's exit statuses, classified explicitly (SPEC §5).

#include <string>

#include "core/base/process.hpp"

namespace snapkeep {

enum class RsyncOutcome {
  ok,           // 0
  ok_vanished,  // 24: files vanished during the transfer; the snapshot is usable, warn
  ok_partial,   // 23 with allow_partial = yes, unless rsync says the destination is full: usable, warn
  failed,       // anything else, 23 by default, or a signal
};

// Classifies how rsync ended.
RsyncOutcome classify_rsync_exit(const ProcessResult& result, bool allow_partial);

// rsync's own meaning of an exit code ("partial transfer due to error"), from its man page.
std::string rsync_exit_meaning(int code);

}  // namespace snapkeep
