#include "core/transfer/rsync.hpp"

#include <unistd.h>

#include <algorithm>

#include <cerrno>
#include <cstring>

#include "core/config/units.hpp"
#include "core/remote/ssh_command.hpp"
#include "core/remote/ssh_errors.hpp"
#include "core/transfer/rsync_stats.hpp"
#include "core/transfer/rsync_status.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

std::string with_slash(const fs::path& p) {
  std::string s = p.string();
  if (s.empty() || s.back() != '/') {
    s += '/';
  }
  return s;
}

// The far path as rsync reads it: "host:/path".
std::string far_path(const RsyncRemoteEnd& end, const std::string& path) {
  return end.host + ":" + path;
}

// The host placeholder serve's relay is given: rsync needs one, the relay ignores it.
constexpr std::string_view k_relay_host = "snapkeep-client";

}  // namespace

RsyncRemoteEnd rsync_remote_end(const Preset& preset, const RemoteLocation& where) {
  RsyncRemoteEnd end;
  if (!preset.remote.relay.argv.empty()) {
    end.rsh = preset.remote.relay.argv;
    end.env = preset.remote.relay.env;
    end.host = std::string(k_relay_host);
    return end;
  }
  end.rsh = ssh_options_argv(where, preset.remote);
  end.host = where.bracketed_host();
  end.where = where;
  end.settings = preset.remote;
  return end;
}

Status check_remote_source(const Preset& preset) {
  const RemoteLocation& where = *preset.remote_source;
  const RsyncRemoteEnd end = rsync_remote_end(preset, where);
  std::vector<std::string> argv{"rsync",
                                "--list-only",
                                "--dirs",
                                "--no-human-readable",
                                "--rsh=" + rsync_rsh_value(end.rsh),
                                "--",
                                far_path(end, with_slash(where.path))};
  ProcessOptions options;
  options.capture_stdout = true;
  options.env = end.env;
  auto listed = run_process(argv, options);
  if (!listed) {
    return std::move(listed).error().in(preset.name);
  }
  if (!listed->succeeded()) {
    if (listed->term_signal == 0 && classify_ssh_failure(255, listed->stderr_tail) != SshProblem::none) {
      ProcessResult through_ssh = *listed;
      through_ssh.exit_code = 255;
      return ssh_failure_error(where, preset.remote, through_ssh, "rsync").in(preset.name);
    }
    return runtime_error("source " + where.display() + " cannot be listed: " +
                         describe_failure("rsync", *listed, rsync_exit_meaning(listed->exit_code)))
        .in(preset.name);
  }
  // One line per entry, the name last; "." is the folder itself.
  bool empty = true;
  bool folder = false;
  std::size_t pos = 0;
  const std::string& text = listed->stdout_text;
  while (pos < text.size()) {
    const auto eol = std::min(text.find('\n', pos), text.size());
    const std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.size() < 2) {
      continue;
    }
    if (line.ends_with(" .")) {
      folder = line.front() == 'd';
    } else {
      empty = false;
    }
  }
  if (!folder) {
    return runtime_error("source " + where.display() + " is not a directory").in(preset.name);
  }
  if (empty && !preset.allow_empty_source) {
    return runtime_error("source " + where.display() +
                         " is empty; refusing to back it up (is its drive mounted there?). Set allow_empty_source = "
                         "yes if an empty source is expected")
        .in(preset.name);
  }
  return {};
}

std::string rsync_rsh_value(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words) {
    if (!out.empty()) {
      out += ' ';
    }
    if (!word.empty() && word.find_first_of(" '\"") == std::string::npos) {
      out += word;
      continue;
    }
    out += '\'';
    for (char c : word) {
      out += c;
      if (c == '\'') {
        out += c;  // a doubled quote inside quotes is a literal quote to rsync
      }
    }
    out += '\'';
  }
  return out;
}

std::vector<std::string> rsync_server_argv(const RsyncServerRole& role) {
  std::vector<std::string> argv{"rsync", "--server"};
  if (role.sender) {
    argv.emplace_back("--sender");
  }
  // What rsync -aHAX --numeric-ids --sparse (rsync_argv) tells its server end.
  std::string cluster = "-";
  if (role.dry_run) {
    cluster += 'n';
  }
  cluster += "lHogDtpAXr";
  if (role.one_file_system) {
    cluster += 'x';
  }
  if (role.sparse) {
    cluster += 'S';
  }
  if (role.compress) {
    cluster += 'z';
  }
  cluster += "e." + role.capabilities;
  argv.push_back(cluster);
  if (!role.sender) {
    argv.emplace_back("--stats");
    if (role.exact_mtimes) {
      argv.emplace_back("--modify-window=-1");
    }
  }
  if (role.bwlimit_kib) {
    argv.push_back("--bwlimit=" + std::to_string(*role.bwlimit_kib));
  }
  argv.emplace_back("--numeric-ids");
  if (role.in_place) {
    argv.emplace_back("--inplace");
  }
  argv.emplace_back(".");
  argv.push_back(with_slash(role.path));
  return argv;
}

std::set<std::string> rsync_server_options(const std::vector<std::string>& server_args) {
  std::set<std::string> out;
  for (const auto& arg : server_args) {
    if (arg == "--server" || arg == "--stats" || arg == "." || arg.empty() || arg.front() != '-') {
      continue;
    }
    if (arg.starts_with("--")) {
      out.insert(arg);
    } else if (arg.starts_with("-@")) {
      out.insert("--modify-window=" + arg.substr(2));
    } else {
      for (std::size_t i = 1; i < arg.size() && arg[i] != 'e'; ++i) {
        out.insert(std::string("-") + arg[i]);
      }
    }
  }
  return out;
}

std::string rsync_server_capabilities(const std::vector<std::string>& server_args) {
  for (const auto& arg : server_args) {
    if (arg.size() > 1 && arg[0] == '-' && arg[1] != '-' && arg[1] != '@') {
      if (const auto e = arg.find("e."); e != std::string::npos) {
        return arg.substr(e + 2);
      }
    }
  }
  return {};
}

std::vector<std::string> rsync_argv(const Preset& preset, const RsyncTransfer& transfer, bool show_progress) {
  std::vector<std::string> argv{"rsync", "-aHAX", "--numeric-ids"};
  if (transfer.mirror) {
    argv.emplace_back("--delete");
    // A working copy kept from run to run (btrfs, in place): what the filters exclude now goes too,
    // or a pattern added later would leave what it matches in every later snapshot.
    if (transfer.in_place) {
      argv.emplace_back("--delete-excluded");
    }
  }
  argv.emplace_back("--stats");
  argv.emplace_back("--no-human-readable");
  // --sparse with --inplace punches partial blocks at rsync's chunk edges, rewriting (unsharing)
  // blocks of unchanged data: only for fresh copies.
  if (!transfer.in_place || transfer.fresh_target) {
    argv.emplace_back("--sparse");
  }
  if (transfer.exact_mtimes) {
    argv.emplace_back("--modify-window=-1");
  }
  if (show_progress) {
    argv.emplace_back("--info=progress2");
  }
  if (transfer.dry_run) {
    argv.emplace_back("--dry-run");
  }
  if (transfer.in_place) {
    argv.emplace_back("--inplace");
    argv.emplace_back("--no-whole-file");
  }
  // Which xattrs: with -X, rsync as root also reads XFS's own trusted.SGI_ACL_* (the ACLs -A copies
  // already), and links or copies by them wrongly. Any x-rule replaces rsync's default name filter,
  // so the default is restated: never system.* (ACLs travel by -A), and only user.* for others.
  argv.emplace_back("--filter=-x system.*");
  argv.emplace_back("--filter=-x trusted.SGI_*");
  argv.emplace_back("--filter=-x xfsroot.*");
  if (::geteuid() != 0) {
    argv.emplace_back("--filter=-x! user.*");
  }
  if (transfer.mirror) {
    // The source's top-level lost+found holds fsck's orphans, not the user's files (the old script
    // excluded it too); anchored, so a lost+found deeper in the tree is copied.
    argv.emplace_back("--exclude=/lost+found");
    if (preset.one_file_system) {
      argv.emplace_back("--one-file-system");
    }
    for (const auto& pattern : preset.exclude) {
      argv.push_back("--exclude=" + pattern);
    }
    if (preset.exclude_from) {
      argv.push_back("--exclude-from=" + preset.exclude_from->string());
    }
  }
  if (transfer.files_from) {
    argv.push_back("--files-from=" + transfer.files_from->string());
    argv.emplace_back("--from0");
  }
  for (const auto& dir : transfer.link_dests) {
    argv.push_back("--link-dest=" + dir.string());
  }
  const RsyncRemoteEnd* remote = transfer.remote_source   ? &*transfer.remote_source
                                 : transfer.remote_target ? &*transfer.remote_target
                                                          : nullptr;
  if (remote != nullptr) {
    argv.push_back("--rsh=" + rsync_rsh_value(remote->rsh));
    if (preset.remote.compress) {
      argv.emplace_back("--compress");
    }
    if (preset.remote.bwlimit_kib) {
      argv.push_back("--bwlimit=" + std::to_string(*preset.remote.bwlimit_kib));
    }
  }
  argv.emplace_back("--");
  std::string source = transfer.contents ? with_slash(transfer.source) : transfer.source.string();
  std::string target = with_slash(transfer.target);
  argv.push_back(transfer.remote_source ? far_path(*transfer.remote_source, source) : source);
  argv.push_back(transfer.remote_target ? far_path(*transfer.remote_target, target) : target);
  return argv;
}

Result<BackupStats> run_rsync(const Preset& preset, const RsyncTransfer& transfer, Progress& progress) {
  if (transfer.mirror && !preset.exclude_if_present.empty()) {
    return runtime_error(preset.name +
                         ": exclude_if_present needs the native engine; this backup copies with rsync "
                         "(a btrfs destination with a plain source folder), which has no such option");
  }
  RsyncStats stats;
  ProcessOptions options;
  options.on_stdout_line = [&](std::string_view line) {
    if (auto p = parse_rsync_progress_line(line)) {
      progress.update(format_bytes(p->bytes) + " copied, " + std::to_string(p->files_checked) + "/" +
                          std::to_string(p->files_total) + " files checked, " + std::to_string(p->files_transferred) +
                          " copied",
                      {p->files_checked, p->bytes});
      return;
    }
    parse_rsync_stats_line(line, stats);
  };
  if (transfer.remote_source) {
    options.env = transfer.remote_source->env;
  } else if (transfer.remote_target) {
    options.env = transfer.remote_target->env;
  }
  auto result = run_process(rsync_argv(preset, transfer, progress.enabled()), options);
  progress.finish();
  if (!result) {
    Error e = std::move(result).error();
    e.preset = preset.name;
    return e;
  }
  BackupStats out;
  out.files = stats.files;
  out.files_transferred = stats.files_transferred;
  out.bytes_total = stats.bytes_total;
  out.bytes_transferred = stats.bytes_transferred;
  std::string meaning = result->term_signal == 0 ? rsync_exit_meaning(result->exit_code) : "";
  RsyncOutcome outcome = classify_rsync_exit(*result, preset.allow_partial);
  if (transfer.strict && !result->succeeded()) {
    outcome = RsyncOutcome::failed;
  }
  switch (outcome) {
    case RsyncOutcome::ok: break;
    case RsyncOutcome::ok_vanished:
      out.warnings.push_back("some source files vanished while rsync ran; they are not in this snapshot");
      break;
    case RsyncOutcome::ok_partial:
      out.warnings.push_back("rsync could not copy some files (allow_partial = yes keeps the snapshot): " +
                             describe_failure("rsync", *result, meaning));
      break;
    case RsyncOutcome::failed: {
      const RsyncRemoteEnd* remote = transfer.remote_source   ? &*transfer.remote_source
                                     : transfer.remote_target ? &*transfer.remote_target
                                                              : nullptr;
      // ssh's own failure (its stderr reaches rsync's): say which, not only rsync's status.
      if (remote != nullptr && remote->where && result->term_signal == 0 &&
          classify_ssh_failure(255, result->stderr_tail) != SshProblem::none) {
        ProcessResult through_ssh = *result;
        through_ssh.exit_code = 255;  // rsync's status hides ssh's; its stderr names the problem
        Error e = ssh_failure_error(*remote->where, remote->settings, through_ssh, "rsync");
        e.message = transfer.operation + " failed: " + e.message;
        return std::move(e).in(preset.name);
      }
      Error e =
          runtime_error(transfer.operation + " failed: " + describe_failure("rsync", *result, meaning)).in(preset.name);
      e.full = reports_full_filesystem(result->stderr_tail);
      // A hard link the destination could not make (ext4 allows 65000 per inode): the caller can
      // copy that content once more (backends/rsync/rsync_backend.cpp). rsync reports it as a partial
      // transfer (23), or, when a link of its own -H group fails, aborts with a protocol error (2).
      if (!e.full && result->term_signal == 0 && (result->exit_code == 23 || result->exit_code == 2) &&
          result->stderr_tail.find(std::strerror(EMLINK)) != std::string::npos) {
        e.err = EMLINK;
      }
      return e;
    }
  }
  return out;
}

}  // namespace snapkeep
