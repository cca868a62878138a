// Fuzz target: the config parser. Arbitrary text goes through parse_ini and build_config, as one file
// or, split at a line "--8<--", as two files merged the way `-c a.conf -c b.conf` merges them.
// Any crash, sanitizer report or uncaught exception is a bug; so is an error that is not a config
// error (exit 2) or a preset that breaks a documented rule.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/config/config.hpp"
#include "core/config/ini.hpp"
#include "tests/fuzz/fuzz_support.hpp"

using snapkeep::fuzz::check;

namespace {

constexpr std::string_view k_split = "\n--8<--\n";
// The values backends/registry.cpp gives (the fuzz target links core only).
const snapkeep::ConfigSchema k_schema{{"auto", "rsync", "btrfs"}};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace snapkeep;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto split = input.find(k_split);
  const std::string_view first = input.substr(0, split);
  const std::string_view second =
      split == std::string_view::npos ? std::string_view() : input.substr(split + k_split.size());

  IniDocument doc;
  Status parsed = parse_ini(first, "/etc/snapkeep/snapkeep.conf", doc);
  if (parsed && split != std::string_view::npos) {
    parsed = parse_ini(second, "/etc/snapkeep/conf.d/local.conf", doc);
  }
  if (!parsed) {
    check(parsed.error().kind == ErrorKind::config, "parse_ini failed with a non-config error");
    check(!parsed.error().message.empty(), "parse_ini error without a message");
    return 0;
  }

  Result<Config> config = build_config(doc, k_schema);
  if (!config) {
    check(config.error().kind == ErrorKind::config, "build_config failed with a non-config error");
    check(!config.error().message.empty(), "build_config error without a message");
    return 0;
  }
  check(!config->presets.empty(), "a valid config without presets");
  for (const Preset& preset : config->presets) {
    check(!preset.name.empty() && preset.name.find('/') == std::string::npos && preset.name.front() != '.' &&
              preset.name != "latest" && preset.name.size() <= 200,
          "a preset name that breaks the naming rules");
    check(preset.source.is_absolute() && preset.destination.is_absolute(), "a relative source or destination");
    check(preset.source != preset.destination, "destination equal to source");
    check(std::find(k_schema.backend_values.begin(), k_schema.backend_values.end(), preset.backend) !=
              k_schema.backend_values.end(),
          "an unknown backend");
    check(!preset.origin.empty(), "a preset without origin");
  }
  return 0;
}
