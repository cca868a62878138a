#pragma once
// Copying a byte stream from one descriptor to another as it comes: a btrfs send stream on its way
// to or from ssh (docs/remote.md). rsync limits its own transfers; this is `bwlimit` for streams.

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace snapkeep {

// How a copy ended.
struct StreamCopy {
  std::uint64_t bytes = 0;    // copied
  bool source_ended = false;  // end of file on `from` (else a read or write failed, or a stop signal came)
  int error = 0;              // errno of the failed read or write, 0 when none
};

// Copies `from` to `to` until end of file on `from`, a failed read or write (a reader gone is
// EPIPE), or a stop signal. With `bytes_per_second`, no faster than that on average. Each piece is
// shown to `on_data` before it is written.
StreamCopy copy_stream(int from, int to, std::optional<std::uint64_t> bytes_per_second,
                       const std::function<void(std::string_view)>& on_data = {});

}  // namespace snapkeep
