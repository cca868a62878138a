// Fuzz target: the snapshot-id parser. Arbitrary folder names go through parse_snapshot_id; an id it
// accepts must name itself (text), and, in UTC where no wall-clock time is skipped or repeated, must
// survive the round trip through snapshot_id_time and format_snapshot_id.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>

#include "core/store/snapshot_id.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using snapkeep::fuzz::check;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  return snapkeep::fuzz::use_time_zone("UTC");
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace snapkeep;
  const std::string_view name(reinterpret_cast<const char*>(data), size);
  const auto id = parse_snapshot_id(name);
  if (!id) {
    return 0;
  }
  check(id->text == name, "the id's text differs from the name");
  check(id->legacy == (name.size() == 10), "legacy flag does not match the form");
  const std::string back = format_snapshot_id(snapshot_id_time(*id));
  const std::string expected = id->legacy ? std::string(name) + "_00-00-00" : std::string(name);
  check(back == expected, "the id does not survive snapshot_id_time + format_snapshot_id in UTC");
  const auto again = parse_snapshot_id(back);
  check(again && !again->legacy, "a formatted id does not parse");
  format_iso_local(snapshot_id_time(*id));
  return 0;
}
