#include "backends/btrfs/fs_scrub.hpp"

#include <charconv>
#include <map>
#include <sstream>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "backends/btrfs/subvolume.hpp"

#include "core/base/process.hpp"

namespace snapkeep {

FsScrubCounters parse_btrfs_scrub_output(std::string_view text) {
  FsScrubCounters out;
  const std::map<std::string, std::uint64_t FsScrubCounters::*> fields{
      {"data_bytes_scrubbed", &FsScrubCounters::data_bytes_scrubbed},
      {"tree_bytes_scrubbed", &FsScrubCounters::tree_bytes_scrubbed},
      {"read_errors", &FsScrubCounters::read_errors},
      {"csum_errors", &FsScrubCounters::data_csum_errors},
      {"verify_errors", &FsScrubCounters::tree_errors},
      {"super_errors", &FsScrubCounters::super_errors},
      {"corrected_errors", &FsScrubCounters::corrected_errors},
      {"uncorrectable_errors", &FsScrubCounters::uncorrectable_errors},
  };
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    std::size_t colon = line.find(':');
    if (colon == std::string::npos) {
      continue;
    }
    std::size_t start = line.find_first_not_of(" \t");
    std::string key = line.substr(start, colon - start);
    auto it = fields.find(key);
    if (it == fields.end()) {
      continue;
    }
    std::string value = line.substr(colon + 1);
    std::size_t v = value.find_first_not_of(" \t");
    if (v == std::string::npos) {
      continue;
    }
    std::uint64_t number = 0;
    auto [end, ec] = std::from_chars(value.data() + v, value.data() + value.size(), number);
    if (ec == std::errc()) {
      out.*(it->second) += number;
    }
  }
  return out;
}

Result<FsScrubCounters> run_btrfs_scrub(const std::filesystem::path& path) {
  ProcessOptions options;
  options.capture_stdout = true;
  std::vector<std::string> argv{"btrfs", "scrub", "start", "-B", "-d", "-R", "--", path.string()};
  spdlog::debug("running {}", quote_argv(argv));
  SNAPKEEP_TRY_ASSIGN(auto ran, run_process(argv, options));
  // 0: no errors; 3: errors found (uncorrectable ones), still a complete report.
  if (ran.term_signal != 0 || (ran.exit_code != 0 && ran.exit_code != 3)) {
    return runtime_error(describe_failure("btrfs scrub", ran), path);
  }
  return parse_btrfs_scrub_output(ran.stdout_text);
}

namespace {

class BtrfsFilesystemScrub final : public FilesystemScrub {
 public:
  std::optional<std::string> unavailable() const override {
    if (::geteuid() != 0) {
      return "the btrfs scrub needs root";
    }
    return std::nullopt;
  }
  Result<std::string> filesystem_id(const std::filesystem::path& path) const override {
    SNAPKEEP_TRY_ASSIGN(auto uuid, btrfs::filesystem_uuid(path));
    return btrfs::uuid_text(uuid);
  }
  Result<FsScrubCounters> run(const std::filesystem::path& path) const override { return run_btrfs_scrub(path); }
};

}  // namespace

const FilesystemScrub& btrfs_filesystem_scrub() {
  static const BtrfsFilesystemScrub scrub;
  return scrub;
}

}  // namespace snapkeep
