#include "core/ops/monitored_run.hpp"

#include <chrono>
#include <ctime>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/base/format.hpp"
#include "core/base/log.hpp"
#include "core/ops/hooks.hpp"
#include "core/ops/metrics.hpp"
#include "core/ops/run_record.hpp"
#include "core/store/catalog.hpp"
#include "core/store/preset_checks.hpp"

namespace snapkeep {
namespace {

// Monitoring's own trouble: a warning naming the preset, never the run's failure.
void warn(const Preset& preset, const Error& error) {
  Error e = error;
  spdlog::warn("{}", std::move(e).in(preset.name).describe());
}

// The destination as it is now: snapshot count and room; nullopt when it cannot be listed.
std::optional<DestinationRecord> measure_destination(const Preset& preset, const Backend& backend) {
  auto snapshots = count_snapshots(preset.preset_dir());
  if (!snapshots) {
    return std::nullopt;
  }
  DestinationRecord d;
  d.time = std::time(nullptr);
  d.snapshots = *snapshots;
  if (auto space = backend.space(preset.destination)) {
    d.free_bytes = space->free_bytes;
    d.size_bytes = space->size_bytes;
  }
  return d;
}

std::string joined_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) {
    out += line + "\n";
  }
  return out;
}

// Rewrites the metrics file, when the preset has one, from what the local state now says.
void write_metrics(const Preset& preset) {
  if (!preset.hooks.metrics_file) {
    return;
  }
  auto record = read_preset_record(preset);
  if (!record) {
    warn(preset, record.error());
    return;
  }
  if (auto written = update_metrics_file(*preset.hooks.metrics_file, preset, preset_metrics(preset, *record));
      !written) {
    warn(preset, written.error());
  }
}

// What follows every monitored run: on_success or on_failure, then the ping.
void announce(const Preset& preset, const HookContext& context, bool ok, bool ping_success, const std::string& body,
              const std::string& run_id, const PingOptions& ping) {
  const auto& commands = ok ? preset.hooks.on_success : preset.hooks.on_failure;
  if (!commands.empty()) {
    if (auto ran =
            run_hook_commands(preset, ok ? "on_success" : "on_failure", commands, hook_environment(preset, context));
        !ran) {
      warn(preset, ran.error());
    }
  }
  if (!preset.hooks.healthcheck_url.empty() && (!ok || ping_success)) {
    if (auto sent =
            send_ping(preset.hooks.healthcheck_url, ok ? PingKind::success : PingKind::fail, body, run_id, ping);
        !sent) {
      warn(preset, sent.error());
    }
  }
}

// The monitoring around one backup: `run_backup` carries it out, `measure` says what the
// destination holds afterwards.
Result<BackupRun> monitor_backup(const Preset& preset, const BackupOptions& options, const PingOptions& ping,
                                 const BackupRunner& run_backup,
                                 const std::function<std::optional<DestinationRecord>()>& measure) {
  const std::uint64_t mark = log_mark();
  const auto started = std::chrono::steady_clock::now();
  const std::string run_id = preset.hooks.healthcheck_url.empty() ? "" : new_run_id();
  bool before_reached = false;
  BackupOptions hooked = options;
  hooked.before_copy = [&]() -> Status {
    before_reached = true;
    if (!preset.hooks.healthcheck_url.empty()) {
      if (auto sent = send_ping(preset.hooks.healthcheck_url, PingKind::start, "", run_id, ping); !sent) {
        warn(preset, sent.error());
      }
    }
    if (!preset.hooks.before_backup.empty()) {
      HookContext context{"backup", "", "", "", ""};
      SNAPKEEP_TRY(
          run_hook_commands(preset, "before_backup", preset.hooks.before_backup, hook_environment(preset, context)));
    }
    if (options.before_copy) {
      return options.before_copy();
    }
    return {};
  };
  auto run = run_backup(hooked);

  if (!run && run.error().kind == ErrorKind::locked) {
    return run;  // another run of this preset is under way: it records and pings its own outcome
  }
  BackupRecord record;
  record.result = RunResult::ok;
  std::optional<Error> failure;
  bool made_snapshot = false;
  if (!run) {
    const bool skipped = skipped_for_absent_drive(preset, run.error());
    record.result = skipped ? RunResult::skipped : RunResult::failed;
    record.error = Error(run.error()).in(preset.name).describe();
    if (!skipped) {
      failure = run.error();
    }
  } else {
    const BackupOutcome& outcome = run->outcome;
    record.snapshot = outcome.snapshot_id;
    record.files = outcome.stats.files;
    record.bytes_transferred = outcome.stats.bytes_transferred;
    record.warnings = outcome.stats.warnings.size();
    made_snapshot = !outcome.stats.manifest_error;
    failure = outcome.stats.manifest_error ? outcome.stats.manifest_error : run->prune_error;
  }
  const std::string snapshot = record.snapshot;

  // after_backup: whenever before_backup's turn came, whatever happened since.
  if (before_reached && !preset.hooks.after_backup.empty()) {
    HookContext context{"backup", failure ? "failed" : "ok", failure ? Error(*failure).in(preset.name).describe() : "",
                        snapshot, ""};
    if (auto ran =
            run_hook_commands(preset, "after_backup", preset.hooks.after_backup, hook_environment(preset, context));
        !ran) {
      if (!failure) {
        failure = ran.error();
      }
      if (run) {
        run->hook_error = ran.error();  // the command reports it with the run
      } else {
        spdlog::error("{}", ran.error().describe());
      }
    }
  }
  if (failure) {
    record.result = RunResult::failed;
    record.error = Error(*failure).in(preset.name).describe();
  }
  record.time = std::time(nullptr);
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::optional<DestinationRecord> destination;
  if (record.result != RunResult::skipped) {
    destination = measure();
  }
  if (auto recorded = record_backup(preset, record, made_snapshot, destination); !recorded) {
    warn(preset, recorded.error());
  }
  write_metrics(preset);
  if (record.result == RunResult::skipped) {
    spdlog::debug("{}: skipped: no ping, no on_success/on_failure (docs/monitoring.md)", preset.name);
    return run;
  }

  std::vector<std::string> problems = log_problems_since(mark);
  const bool ok = record.result == RunResult::ok;
  std::string body;
  if (ok) {
    body = fmt::format("{}: snapshot {} ({} files, {} copied, {:.1f} s)\n", preset.name, snapshot, record.files,
                       format_bytes(record.bytes_transferred), record.seconds);
  } else {
    problems.push_back("error: " + record.error);
  }
  body += joined_lines(problems);
  HookContext context{"backup", std::string(run_result_name(record.result)), ok ? "" : record.error, snapshot,
                      joined_lines(problems)};
  announce(preset, context, ok, true, body, run_id, ping);
  return run;
}

// The monitoring around one scrub, as monitor_backup's.
Result<ScrubReport> monitor_scrub(const Preset& preset, const PingOptions& ping, const ScrubRunner& run,
                                  const std::function<std::optional<DestinationRecord>()>& measure) {
  const std::uint64_t mark = log_mark();
  const auto started = std::chrono::steady_clock::now();
  auto report = run();
  if (!report && (report.error().kind == ErrorKind::locked || skipped_for_absent_drive(preset, report.error()))) {
    return report;  // nothing was checked: nothing to record or announce
  }
  ScrubRecord record;
  std::string summary;
  if (!report) {
    record.result = RunResult::failed;
    record.error = Error(report.error()).in(preset.name).describe();
  } else {
    const ScrubReport& r = *report;
    record.result = r.damage_remains() ? RunResult::damaged : RunResult::ok;
    record.files_checked = r.files_checked;
    record.bytes_read = r.bytes_read;
    record.contents_unverified = r.contents_unverified;
    record.budget_reached = r.budget_reached;
    for (const auto& f : r.findings) {
      ++record.findings[std::string(finding_status_name(f.status))];
      if (f.repaired) {
        ++record.repaired;
      } else {
        ++record.damaged_contents;
      }
    }
    if (r.fs_scrub && r.fs_scrub->uncorrectable_errors > 0) {
      record.findings["fs_uncorrectable"] = r.fs_scrub->uncorrectable_errors;
    }
    summary = fmt::format("{}: scrub: {} files checked, {} read, {} findings, {} not repaired\n", preset.name,
                          r.files_checked, format_bytes(r.bytes_read), r.findings.size(), record.damaged_contents);
    if (record.result == RunResult::damaged) {
      record.error = summary;
      for (const auto& f : r.findings) {
        if (!f.repaired) {
          record.error += std::string(finding_status_name(f.status)) + ": " +
                          (f.paths.empty() ? f.detail : f.paths.front().string()) +
                          (f.paths.size() > 1 ? fmt::format(" (and {} more paths)", f.paths.size() - 1) : "") + "\n";
        }
      }
    }
  }
  record.time = std::time(nullptr);
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (auto recorded = record_scrub(preset, record, measure()); !recorded) {
    warn(preset, recorded.error());
  }
  write_metrics(preset);

  std::vector<std::string> problems = log_problems_since(mark);
  const bool ok = record.result == RunResult::ok;
  if (!ok) {
    problems.push_back((record.result == RunResult::damaged ? "damage: " : "error: ") + record.error);
  }
  HookContext context{"scrub", std::string(run_result_name(record.result)), ok ? "" : record.error, "",
                      joined_lines(problems)};
  announce(preset, context, ok, false, summary + joined_lines(problems), new_run_id(), ping);
  return report;
}

}  // namespace

Result<BackupRun> monitored_backup(const Preset& preset, const BackendMaker& make_backend, const BackupOptions& options,
                                   SourceFreezer* freezer, const PingOptions& ping) {
  if (options.dry_run) {
    SNAPKEEP_TRY_ASSIGN(auto backend, make_backend(preset));
    return backup_preset(preset, *backend, options, freezer);
  }
  // Made inside the monitored run, so that what making it logs is part of the run's report.
  std::unique_ptr<Backend> backend;
  return monitor_backup(
      preset, options, ping,
      [&](const BackupOptions& hooked) -> Result<BackupRun> {
        SNAPKEEP_TRY_ASSIGN(backend, make_backend(preset));
        return backup_preset(preset, *backend, hooked, freezer);
      },
      [&] { return backend ? measure_destination(preset, *backend) : std::nullopt; });
}

Result<BackupRun> monitored_backup(const Preset& preset, const BackupRunner& run_backup, const BackupOptions& options,
                                   const PingOptions& ping) {
  if (options.dry_run) {
    return run_backup(options);
  }
  return monitor_backup(preset, options, ping, run_backup, [] { return std::optional<DestinationRecord>(); });
}

Result<ScrubReport> monitored_scrub(const Preset& preset, const Backend& backend, const ScrubOptions& options,
                                    const PingOptions& ping) {
  return monitor_scrub(
      preset, ping, [&] { return run_scrub(preset, backend, options); },
      [&] { return measure_destination(preset, backend); });
}

Result<ScrubReport> monitored_scrub(const Preset& preset, const ScrubRunner& run, const PingOptions& ping) {
  return monitor_scrub(preset, ping, run, [] { return std::optional<DestinationRecord>(); });
}

}  // namespace snapkeep
