#pragma once
// A source subvolume sent to another host as btrfs send streams: a push to a server whose drive is
// btrfs, and a pull through `snapkeep serve --source-only` (docs/remote.md). Read-only snapshots of
// the source are kept beside it, as for a local btrfs backup, to be the parents of incremental
// sends. The other end vouches for its copies by naming the received uuids of its complete
// snapshots: a source snapshot is a parent only when the other end holds its copy.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "core/base/error.hpp"
#include "core/base/process.hpp"
#include "core/config/config.hpp"

namespace snapkeep {

// A new source snapshot about to be sent.
struct SubvolumeSend {
  std::filesystem::path snapshot;  // read-only, under a dot-name until the other end holds its copy
  std::string uuid;                // its uuid: the copy's received uuid must be this
  std::string parent;              // id of the source snapshot the stream is incremental from; "" = full
  std::filesystem::path parent_path;
};

class SubvolumeSender {
 public:
  virtual ~SubvolumeSender() = default;

  // Whether `source` is a btrfs subvolume (false for a plain folder or another filesystem).
  virtual Result<bool> is_subvolume(const std::filesystem::path& source) const = 0;

  // Settles what earlier sends left among preset.source's snapshots: a snapshot still under its
  // dot-name whose uuid is in `received` takes its id, other dot-named ones are deleted, and of the
  // id-named ones the three newest in `received` stay, with every one in `pinned` (all of them when
  // pinned is nullopt). Then makes the read-only snapshot `id` of the source and picks its parent:
  // the newest kept source snapshot whose uuid is in `received`.
  virtual Result<SubvolumeSend> prepare(const Preset& preset, const std::string& id,
                                        const std::set<std::string>& received,
                                        const std::optional<std::set<std::string>>& pinned) = 0;

  // Runs `btrfs send [-p parent] -- snapshot` and copies its stream to `out_fd`, at most
  // `bytes_per_second` when set. `sent` receives the bytes copied.
  virtual Result<ProcessResult> stream(const SubvolumeSend& send, int out_fd,
                                       std::optional<std::uint64_t> bytes_per_second, std::uint64_t& sent) = 0;
};

}  // namespace snapkeep
