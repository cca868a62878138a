// Fuzz target: the send stream reader (backends/btrfs/send_stream). Arbitrary bytes, fed whole and
// then in pieces whose sizes come from the input, must give the same verdict and the same paths:
// how the pipe happens to cut the stream never changes what snapkeep reads from it (paths, the
// subvolume made, the subvolumes data is taken from). A usable stream names only relative paths,
// sorted and unique.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "backends/btrfs/send_stream.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using snapkeep::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using snapkeep::btrfs::SendStreamChanges;
  if (size == 0) {
    return 0;
  }
  // The first byte picks the piece sizes; the rest is the stream (its header included).
  const unsigned step = 1 + data[0] % 37;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  SendStreamChanges whole(64);
  whole.feed(stream);
  SendStreamChanges pieces(64);
  for (std::size_t at = 0; at < stream.size(); at += step) {
    pieces.feed(stream.substr(at, step));
  }
  check(whole.usable() == pieces.usable(), "pieces change whether the stream is usable");
  check(whole.well_formed() == pieces.well_formed(), "pieces change whether the stream is well formed");
  check(whole.referenced_uuids() == pieces.referenced_uuids() && whole.subvolume_name() == pieces.subvolume_name() &&
            whole.subvolume_uuid() == pieces.subvolume_uuid(),
        "pieces change the subvolumes read");
  if (!whole.usable()) {
    check(!whole.changes("x").has_value(), "an unusable stream gives changes");
    return 0;
  }
  const auto a = whole.changes("x");
  const auto b = pieces.changes("x");
  check(a && b && a->entries == b->entries && a->subtrees == b->subtrees, "pieces change the paths read");
  check(a->entries.size() + a->subtrees.size() <= 64, "more paths than the limit");
  for (const auto* list : {&a->entries, &a->subtrees}) {
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string& path = (*list)[i];
      check(path.empty() || path.front() != '/', "an absolute path");
      check(path.find('\0') == std::string::npos, "a path with NUL");
      check(i == 0 || (*list)[i - 1] < path, "paths not sorted and unique");
    }
  }
  return 0;
}
