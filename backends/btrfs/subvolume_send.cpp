// Sending a source subvolume to another host (core/store/subvolume_sender.hpp, docs/remote.md).

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include <spdlog/spdlog.h>

#include "backends/btrfs/btrfs_backend.hpp"
#include "core/base/fd.hpp"
#include "core/base/fsutil.hpp"
#include "core/remote/stream_copy.hpp"
#include "core/store/snapshot_id.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

class BtrfsSubvolumeSender final : public SubvolumeSender {
 public:
  Result<bool> is_subvolume(const fs::path& source) const override { return btrfs::is_subvolume(source); }

  Result<SubvolumeSend> prepare(const Preset& preset, const std::string& id, const std::set<std::string>& received,
                                const std::optional<std::set<std::string>>& pinned) override {
    SNAPKEEP_TRY_ASSIGN(bool subvolume, btrfs::is_subvolume(preset.source));
    if (!subvolume) {
      return runtime_error(preset.source.string() + " is not a btrfs subvolume, so it cannot be sent with btrfs send")
          .in(preset.name);
    }
    if (!parse_snapshot_id(id)) {
      return runtime_error("'" + id + "' is not a snapshot id").in(preset.name);
    }
    const fs::path root = source_snapshot_root(preset);
    SNAPKEEP_TRY(make_snapshot_container(root.parent_path()));
    SNAPKEEP_TRY(make_dir(root, 0700));
    warn_about_nested_subvolumes(preset, root);
    SNAPKEEP_TRY(settle_earlier_sends(preset, root, received, pinned));

    std::error_code ec;
    if (fs::exists(fs::symlink_status(root / id, ec))) {
      auto info = btrfs::subvolume_info(root / id);
      if (info && received.count(btrfs::uuid_text(info->uuid)) > 0) {
        return runtime_error("the source snapshot " + (root / id).string() +
                             " has the new snapshot's id and its copy is at the other end; run the backup again in "
                             "a second")
            .in(preset.name);
      }
      SNAPKEEP_TRY(btrfs::delete_subvolume(root / id));  // stale: its copy is gone
    }
    SubvolumeSend send;
    send.snapshot = root / incoming_name(id);
    SNAPKEEP_TRY(btrfs::snapshot(preset.source, send.snapshot, true));
    auto made = btrfs::subvolume_info(send.snapshot);
    if (!made) {
      if (auto deleted = btrfs::delete_subvolume(send.snapshot); !deleted) {
        spdlog::warn("{}: {}", preset.name, deleted.error().describe());
      }
      return std::move(made).error();
    }
    send.uuid = btrfs::uuid_text(made->uuid);
    const auto kept = list_source_snapshots(root);
    for (auto it = kept.rbegin(); it != kept.rend(); ++it) {
      if (received.count(btrfs::uuid_text(it->info.uuid)) > 0) {
        send.parent = it->id;
        send.parent_path = it->path;
        break;
      }
    }
    return send;
  }

  Result<ProcessResult> stream(const SubvolumeSend& send, int out_fd, std::optional<std::uint64_t> bytes_per_second,
                               std::uint64_t& sent) override {
    std::vector<std::string> argv{"btrfs", "send", "-q"};
    if (!send.parent.empty()) {
      argv.emplace_back("-p");
      argv.push_back(send.parent_path.string());
    }
    argv.emplace_back("--");
    argv.push_back(send.snapshot.string());
    Fd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!null) {
      return sys_error("cannot open", "/dev/null");
    }
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      return sys_error("cannot make a pipe", {});
    }
    Fd from_send(fds[0]);
    Fd to_us(fds[1]);
    SNAPKEEP_TRY_ASSIGN(RunningProcess child, start_process(argv, null.get(), to_us.get()));
    to_us.reset();
    const StreamCopy copied = copy_stream(from_send.get(), out_fd, bytes_per_second);
    sent = copied.bytes;
    from_send.reset();  // a reader gone: btrfs send sees EPIPE and ends
    ProcessResult ended = child.wait();
    if (ended.succeeded() && !copied.source_ended) {
      ended.exit_code = 1;  // the stream did not get through whole
      ended.stderr_tail += "the stream could not be passed on: " +
                           std::string(copied.error != 0 ? std::strerror(copied.error) : "interrupted by a signal");
    }
    return ended;
  }

 private:
  // What earlier sends left: a dot-named snapshot whose copy the other end holds takes its id, the
  // rest of them go; id-named ones neither among the newest verified pairs nor pinned go too.
  static Status settle_earlier_sends(const Preset& preset, const fs::path& root, const std::set<std::string>& received,
                                     const std::optional<std::set<std::string>>& pinned) {
    std::error_code ec;
    std::vector<fs::path> waiting;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      if (entry.path().filename().string().rfind(k_incoming_prefix, 0) == 0) {
        waiting.push_back(entry.path());
      }
    }
    for (const auto& path : waiting) {
      const std::string id = path.filename().string().substr(k_incoming_prefix.size());
      auto info = btrfs::subvolume_info(path);
      if (info && info->read_only && received.count(btrfs::uuid_text(info->uuid)) > 0 && parse_snapshot_id(id) &&
          !fs::exists(fs::symlink_status(root / id, ec))) {
        SNAPKEEP_TRY(rename_path(path, root / id));
        continue;
      }
      spdlog::info("{}: removing the source snapshot {}, whose copy did not arrive", preset.name, path.string());
      SNAPKEEP_TRY(btrfs::delete_subvolume(path));
    }
    const auto snapshots = list_source_snapshots(root);
    std::size_t kept = 0;
    for (auto it = snapshots.rbegin(); it != snapshots.rend(); ++it) {
      const std::string uuid = btrfs::uuid_text(it->info.uuid);
      if (kept < k_kept_source_pairs && received.count(uuid) > 0) {
        ++kept;
        continue;
      }
      if (!pinned || pinned->count(uuid) > 0) {
        continue;
      }
      if (auto removed = btrfs::delete_subvolume(it->path); !removed) {
        spdlog::warn("{}: cannot delete the old source snapshot: {}", preset.name, removed.error().describe());
      }
    }
    return {};
  }
};

}  // namespace

std::unique_ptr<SubvolumeSender> make_btrfs_subvolume_sender() {
  return std::make_unique<BtrfsSubvolumeSender>();
}

}  // namespace snapkeep
