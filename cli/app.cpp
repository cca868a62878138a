#include "cli/app.hpp"

#include <sys/stat.h>

#include <cstring>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/base/log.hpp"
#include "core/config/config.hpp"

namespace snapkeep::cli {
namespace {

const char* const k_commands[] = {"backup", "list",   "restore",   "scrub",    "prune", "du",
                                  "check",  "delete", "adopt",     "versions", "diff",  "report",
                                  "rename", "status", "_complete", "serve",    "trust"};

bool is_command(const std::string& word) {
  for (const char* c : k_commands) {
    if (word == c) {
      return true;
    }
  }
  return false;
}

bool is_existing_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Does a word that is not a command look like a config file the old script was given?
bool looks_like_config_file(const std::string& word) {
  auto ends_with = [&](std::string_view tail) { return word.size() > tail.size() && word.ends_with(tail); };
  return is_existing_file(word) || word.find('/') != std::string::npos || ends_with(".ini") || ends_with(".conf") ||
         ends_with(".cfg");
}

// The command line with the old form `snapkeep FILE.ini [FILE.ini ...]` rewritten to
// `snapkeep -c FILE.ini ... backup`, and whether it was (each file is then loaded on its own).
struct Rewritten {
  std::vector<std::string> args;
  bool legacy = false;
};

Rewritten rewrite_legacy_form(std::vector<std::string> args) {
  std::vector<std::string> options;
  std::vector<std::string> files;
  for (const auto& arg : args) {
    if (!arg.empty() && arg[0] == '-') {
      options.push_back(arg);
    } else if (is_command(arg)) {
      return {args, false};
    } else {
      files.push_back(arg);
    }
  }
  // A missing file is still the old form: loading it then names the file.
  if (files.empty() || !looks_like_config_file(files.front())) {
    return {args, false};
  }
  // Options that take a value (-c FILE) would have been split from it above: keep the plain form.
  for (const auto& opt : options) {
    if (opt == "-c" || opt == "--config") {
      return {args, false};
    }
  }
  std::vector<std::string> out;
  for (const auto& file : files) {
    out.emplace_back("-c");
    out.push_back(file);
  }
  out.emplace_back("backup");
  out.insert(out.end(), options.begin(), options.end());
  return {out, true};
}

}  // namespace

int run_cli(int argc, char** argv) {
  // The relay serve's rsync starts: rsync appends its own words, which are no options of ours.
  if (argc >= 2 && std::string_view(argv[1]) == "__relay") {
    // Its stdout is rsync's protocol stream: messages go to stderr, which rsync passes on.
    setup_logging(0);
    return cmd_relay(argc, argv);
  }
  Rewritten rewritten = rewrite_legacy_form(std::vector<std::string>(argv + 1, argv + argc));
  std::vector<std::string> args = std::move(rewritten.args);

  CLI::App app{"snapkeep: dated, browsable, incremental snapshot backups with bit-rot checks", "snapkeep"};
  app.set_version_flag("--version", "snapkeep " SNAPKEEP_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  GlobalOptions global;
  bool verbose = false;
  bool quiet = false;
  app.add_option("-c,--config", global.config_files, "config file (repeatable; later files override earlier ones)");
  app.add_flag("-v,--verbose", verbose, "log debug details, including every command run");
  app.add_flag("-q,--quiet", quiet, "log warnings and errors only");
  app.add_flag("--json", global.json, "print one JSON document on stdout");
  app.add_option("--progress-fd", global.progress_fd, "write JSON-lines progress events to this open descriptor");
  app.add_option("--progress-interval", global.progress_interval, "seconds between progress events (default 1)");

  BackupArgs backup;
  auto* backup_cmd = app.add_subcommand("backup", "make one new snapshot per preset (all presets if none named)");
  backup_cmd->add_option("presets", backup.presets, "presets to back up");
  backup_cmd->add_flag("--dry-run,-n", backup.dry_run, "show what would be copied; change nothing");
  backup_cmd->add_flag("--wait", backup.wait, "wait for another run's lock instead of exiting with status 3");
  backup_cmd->add_flag("--switch-backend", backup.switch_backend,
                       "back up even though the preset's snapshots were made by another backend (a full copy)");
  backup_cmd->add_flag("--new-folder", backup.new_folder,
                       "start the preset's folder even though another holds snapshots of the same source");

  DeleteArgs del;
  auto* delete_cmd = app.add_subcommand("delete", "delete snapshots of snapkeep's own by id (the newest too)");
  delete_cmd->add_option("preset", del.preset, "preset")->required();
  delete_cmd->add_option("ids", del.ids, "snapshot ids (or latest)")->required();
  delete_cmd->add_flag("--dry-run,-n", del.dry_run, "say what would be deleted; delete nothing");
  delete_cmd->add_flag("--wait", del.wait, "wait for another run's lock instead of exiting with status 3");

  AdoptArgs adopt;
  auto* adopt_cmd =
      app.add_subcommand("adopt", "hand the old script's snapshots over to snapkeep (retention, min_free, scrub)");
  adopt_cmd->add_option("preset", adopt.preset, "preset")->required();
  adopt_cmd->add_flag("--dry-run,-n", adopt.dry_run, "list what would be adopted; change nothing");
  adopt_cmd->add_flag("--wait", adopt.wait, "wait for another run's lock instead of exiting with status 3");

  RenameArgs rename;
  auto* rename_cmd = app.add_subcommand(
      "rename", "after renaming a preset in the config: move its snapshots from DEST/OLD to DEST/NEW");
  rename_cmd->add_option("old", rename.old_name, "the preset's old name")->required();
  rename_cmd->add_option("new", rename.new_name, "its name in the config now")->required();
  rename_cmd->add_flag("--wait", rename.wait, "wait for another run's lock instead of exiting with status 3");

  std::vector<std::string> list_presets;
  auto* list_cmd = app.add_subcommand("list", "snapshots, newest last, with time, backend and state");
  list_cmd->add_option("presets", list_presets, "presets to list");

  RestoreArgs restore;
  auto* restore_cmd = app.add_subcommand("restore", "copy a snapshot (or one path inside it) out");
  restore_cmd->add_option("preset", restore.preset, "preset")->required();
  restore_cmd->add_option("snapshot", restore.snapshot, "snapshot id, or latest")->required();
  restore_cmd->add_option("path", restore.inside, "a file or folder inside the snapshot");
  restore_cmd->add_option("--to", restore.target, "folder to restore into")->required();
  restore_cmd->add_flag("--force", restore.force, "restore into a folder that is not empty");

  std::vector<std::string> check_presets;
  auto* check_cmd = app.add_subcommand("check", "validate config, sources and destinations; change nothing");
  check_cmd->add_option("presets", check_presets, "presets to check");

  PruneArgs prune;
  auto* prune_cmd = app.add_subcommand("prune", "delete the snapshots that no `keep` rule keeps");
  prune_cmd->add_option("presets", prune.presets, "presets to prune");
  prune_cmd->add_flag("--dry-run,-n", prune.dry_run, "list every snapshot with keep/delete and why; delete nothing");
  prune_cmd->add_flag("--wait", prune.wait, "wait for another run's lock instead of exiting with status 3");
  prune_cmd->add_option("--free", prune.free,
                        "then delete the oldest snapshots that may go until this much is free (50G, 10%)");

  std::vector<std::string> du_presets;
  auto* du_cmd = app.add_subcommand("du", "per snapshot: bytes it alone holds and bytes freed with every older one");
  du_cmd->add_option("presets", du_presets, "presets to measure");

  ScrubArgs scrub;
  auto* scrub_cmd = app.add_subcommand("scrub", "verify snapshots against their manifests; find and repair bit rot");
  scrub_cmd->add_option("presets", scrub.presets, "presets to scrub");
  scrub_cmd->add_option("--snapshot", scrub.snapshot, "only this snapshot (an id, or latest)");
  scrub_cmd->add_flag("--repair", scrub.repair, "rewrite damaged content from a verified good copy");
  scrub_cmd->add_flag("--init", scrub.init,
                      "first make manifests for snapshots that have none (first seen, not verified)");
  scrub_cmd->add_option("--max-time", scrub.max_time, "stop starting new files after this long (90s, 30m, 2h)");
  scrub_cmd->add_option("--max-bytes", scrub.max_bytes, "read at most this much file data (50G, 512M)");
  scrub_cmd->add_flag("--wait", scrub.wait, "wait for another run's lock instead of exiting with status 3");

  StatusArgs status;
  auto* status_cmd = app.add_subcommand("status", "last success, age, last result, free space, last scrub");
  status_cmd->add_option("presets", status.presets, "presets to show");
  status_cmd->add_option("--max-age", status.max_age, "exit 1 when a last success is older than this (26h, 2d)");

  CompleteArgs complete;  // hidden: what bash completion asks (packaging/bash-completion/snapkeep)
  auto* complete_cmd = app.add_subcommand("_complete", "")->group("");
  complete_cmd->add_option("what", complete.what)->required();
  complete_cmd->add_option("command", complete.command);
  ServeArgs serve;
  auto* serve_cmd =
      app.add_subcommand("serve", "the remote end of push backups and btrfs pulls, run from authorized_keys");
  serve_cmd->add_option("--restrict-path", serve.restrict_path, "the only folder clients may use")->required();
  serve_cmd->add_flag("--append-only", serve.append_only,
                      "clients may back up but never delete or overwrite (retention follows this host's config)");
  serve_cmd->add_flag("--source-only", serve.source_only,
                      "this host is a pull's source: only send snapshots of subvolumes inside the folder");

  TrustArgs trust;
  auto* trust_cmd = app.add_subcommand("trust", "show a host's key fingerprints and store them in known_hosts");
  trust_cmd->add_option("host", trust.host, "a preset, [user@]host, host:/path or ssh://host:port/path")->required();
  trust_cmd->add_option("--known-hosts", trust.known_hosts, "the known_hosts file (default: the preset's)");
  trust_cmd->add_flag("--yes,-y", trust.yes, "store without asking");

  VersionsArgs versions;
  auto* versions_cmd = app.add_subcommand("versions", "every distinct version of one file or folder across snapshots");
  versions_cmd->add_option("preset", versions.preset, "preset")->required();
  versions_cmd->add_option("path", versions.path, "path inside the snapshots (or under the source)")->required();
  versions_cmd->add_option("--restore", versions.restore, "restore version N (1 = newest); needs --to");
  versions_cmd->add_option("--to", versions.target, "folder to restore into");
  versions_cmd->add_flag("--force", versions.force, "restore into a folder that is not empty");

  DiffArgs diff;
  auto* diff_cmd = app.add_subcommand("diff", "what changed between two snapshots (default: the two newest)");
  diff_cmd->add_option("preset", diff.preset, "preset")->required();
  diff_cmd->add_option("from", diff.from, "the older snapshot (an id, or latest)");
  diff_cmd->add_option("to", diff.to, "the newer snapshot (default: latest)");

  ReportArgs report_args;
  auto* report_cmd = app.add_subcommand("report", "snapshot sizes, free space, durations, scrub coverage, findings");
  report_cmd->add_option("presets", report_args.presets, "presets to report on");
  report_cmd->add_option("--html", report_args.html, "write one self-contained HTML page to FILE");
  report_cmd->add_option("--coverage-window", report_args.window, "scrub coverage counts this long back (30d)");

  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "snapkeep: %s\nRun 'snapkeep --help' for usage.\n", e.what());
    return 2;
  }
  if (verbose && quiet) {
    std::fprintf(stderr, "snapkeep: -v and -q cannot be used together\n");
    return 2;
  }
  global.verbosity = verbose ? 1 : (quiet ? -1 : 0);
  setup_logging(global.verbosity);
  if (app.got_subcommand(complete_cmd)) {
    return cmd_complete(app, global, complete);
  }
  if (app.got_subcommand(serve_cmd)) {
    return cmd_serve(global, serve);
  }
  if (app.got_subcommand(trust_cmd)) {
    return cmd_trust(global, trust);
  }
  global.command = app.get_subcommands().front()->get_name();
  if (auto opened = open_progress_stream(global); !opened) {
    return exit_code(report(opened.error()));
  }

  std::vector<std::filesystem::path> files(global.config_files.begin(), global.config_files.end());
  if (files.empty()) {
    files = default_config_files();
  }
  // The old form backs up each file on its own, in order, as the old script did: a preset name in
  // two files is two presets, never merged.
  auto config =
      rewritten.legacy ? load_configs_separately(files, config_schema()) : load_config(files, config_schema());
  if (!config) {
    if (global.json) {
      print_json({{"error", config.error().describe()}});
    }
    return exit_code(report(config.error()));
  }

  if (app.got_subcommand(backup_cmd)) {
    return cmd_backup(global, *config, backup);
  }
  if (app.got_subcommand(list_cmd)) {
    return cmd_list(global, *config, list_presets);
  }
  if (app.got_subcommand(restore_cmd)) {
    return cmd_restore(global, *config, restore);
  }
  if (app.got_subcommand(prune_cmd)) {
    return cmd_prune(global, *config, prune);
  }
  if (app.got_subcommand(scrub_cmd)) {
    return cmd_scrub(global, *config, scrub);
  }
  if (app.got_subcommand(du_cmd)) {
    return cmd_du(global, *config, du_presets);
  }
  if (app.got_subcommand(check_cmd)) {
    return cmd_check(global, *config, check_presets);
  }
  if (app.got_subcommand(versions_cmd)) {
    return cmd_versions(global, *config, versions);
  }
  if (app.got_subcommand(diff_cmd)) {
    return cmd_diff(global, *config, diff);
  }
  if (app.got_subcommand(report_cmd)) {
    return cmd_report(global, *config, report_args);
  }
  if (app.got_subcommand(delete_cmd)) {
    return cmd_delete(global, *config, del);
  }
  if (app.got_subcommand(adopt_cmd)) {
    return cmd_adopt(global, *config, adopt);
  }
  if (app.got_subcommand(rename_cmd)) {
    return cmd_rename(global, *config, rename);
  }
  if (app.got_subcommand(status_cmd)) {
    return cmd_status(global, *config, status);
  }
  return 2;
}

}  // namespace snapkeep::cli
