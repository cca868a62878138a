#include "core/config/config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <map>
#include <set>
#include <utility>

#include "core/base/mounts.hpp"
#include "core/config/command_words.hpp"
#include "core/config/ini.hpp"

// Decisions users see (document in the config reference):
// - Interpolation follows configparser's BasicInterpolation: `%%` is a literal `%`, `%(name)s` is
//   the value of `name` in the same preset or [DEFAULT], substituted recursively (at most 10 levels)
//   after all files are merged; unlike configparser, a `%` ending a line is a literal, so
//   `min_free = 10%` works as SPEC §1 shows. An unknown key is allowed only when some value refers to it through
//   `%(name)s` (a helper variable such as `root = /mnt/backup`); any other unknown key is an error.
// - Relative paths resolve against the folder of the file where that value was written; paths are
//   made absolute and lexically normalised, symlinks are kept. `~` is not expanded (error).
// - An empty keep/min_free/exclude/exclude_from/snapshot_dir means "none" (it can clear a DEFAULT).
// - A destination equal to, inside, or containing-by-preset-folder the source is refused.

namespace snapkeep {
namespace {

namespace fs = std::filesystem;

// Every key a preset may have (SPEC §1 and docs/configuration.md), one per line so additions merge.
constexpr std::array k_known_keys = {
    std::string_view("source"),
    std::string_view("destination"),
    std::string_view("backend"),
    std::string_view("keep"),
    std::string_view("min_free"),
    std::string_view("min_free_overrides_keep"),
    std::string_view("exclude"),
    std::string_view("exclude_from"),
    std::string_view("one_file_system"),
    std::string_view("checksum"),
    std::string_view("snapshot_dir"),
    std::string_view("allow_empty_source"),
    std::string_view("allow_partial"),
    std::string_view("require_mount"),
    std::string_view("destination_uuid"),
    std::string_view("if_unmounted"),
    std::string_view("transfer"),
    std::string_view("exclude_if_present"),
    std::string_view("forget_drive_after"),
    std::string_view("healthcheck_url"),
    std::string_view("metrics_file"),
    std::string_view("on_success"),
    std::string_view("on_failure"),
    std::string_view("before_backup"),
    std::string_view("after_backup"),
    std::string_view("ssh_identity"),
    std::string_view("known_hosts"),
    std::string_view("remote_command"),
    std::string_view("bwlimit"),
    std::string_view("compress"),
    std::string_view("pull"),
};
// The values of `transfer` (copy engines, not backends).
constexpr std::array<std::pair<std::string_view, TransferEngine>, 2> k_transfers = {
    {{"native", TransferEngine::native}, {"rsync", TransferEngine::rsync}}};
// The values of `pull` (how a remote source is copied onto a btrfs drive).
constexpr std::array<std::pair<std::string_view, PullMethod>, 2> k_pulls = {
    {{"rsync", PullMethod::rsync}, {"btrfs-send", PullMethod::btrfs_send}}};
constexpr int k_max_interpolation_depth = 10;
constexpr std::size_t k_max_name_bytes = 200;

using ValueMap = std::map<std::string, IniValue>;

Error error_at(const fs::path& file, int line, const std::string& message) {
  return config_error(file.string() + ":" + std::to_string(line) + ": " + message);
}

Error error_at(const IniValue& value, const std::string& message) {
  return error_at(value.file, value.line, message);
}

bool is_known_key(std::string_view key) {
  return std::find(k_known_keys.begin(), k_known_keys.end(), key) != k_known_keys.end();
}

std::string lower(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return text;
}

// Levenshtein distance, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean 'x'?)" for the closest known key within 2 edits, else "".
std::string suggestion(const std::string& key) {
  std::string_view best;
  std::size_t best_distance = 3;
  for (std::string_view known : k_known_keys) {
    const std::size_t d = edit_distance(key, known);
    if (d < best_distance) {
      best = known;
      best_distance = d;
    }
  }
  return best.empty() ? "" : " (did you mean '" + std::string(best) + "'?)";
}

// Every name referenced as %(name)s in any value of the document.
std::set<std::string> referenced_names(const IniDocument& doc) {
  std::set<std::string> names;
  auto scan = [&](const IniSection& section) {
    for (const auto& [key, value] : section.values) {
      const std::string& text = value.value;
      for (std::size_t i = text.find("%("); i != std::string::npos; i = text.find("%(", i + 2)) {
        if (i > 0 && text[i - 1] == '%') {
          continue;  // "%%(" is a literal
        }
        if (const auto close = text.find(')', i + 2); close != std::string::npos) {
          names.insert(lower(text.substr(i + 2, close - i - 2)));
        }
      }
    }
  };
  scan(doc.defaults);
  for (const auto& section : doc.sections) {
    scan(section);
  }
  return names;
}

// Substitutes %% and %(name)s in `raw` (configparser BasicInterpolation); errors point at `origin`.
Result<std::string> interpolate(std::string_view raw, const ValueMap& vars, const std::string& key,
                                const IniValue& origin, const std::string& owner, int depth) {
  if (depth > k_max_interpolation_depth) {
    return error_at(origin, "interpolation of '" + key + "' in " + owner + " nests more than " +
                                std::to_string(k_max_interpolation_depth) + " levels (does a value refer to itself?)");
  }
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%' || i + 1 == raw.size() || raw[i + 1] == '\n') {
      out += raw[i];  // a '%' that ends a line is a literal ("min_free = 10%")
    } else if (raw[i + 1] == '%') {
      out += '%';
      ++i;
    } else if (raw[i + 1] == '(') {
      const auto close = raw.find(')', i + 2);
      if (close == std::string_view::npos || close + 1 >= raw.size() || raw[close + 1] != 's') {
        return error_at(origin, "bad interpolation reference '" + std::string(raw.substr(i)) +
                                    "' (write %(name)s, or '%%' for a literal '%')");
      }
      const std::string name = lower(std::string(raw.substr(i + 2, close - i - 2)));
      const auto found = vars.find(name);
      if (found == vars.end()) {
        return error_at(origin, "'" + key + "' refers to %(" + name + ")s but " + owner + " has no key '" + name +
                                    "' (nor [DEFAULT])");
      }
      auto sub = interpolate(found->second.value, vars, key, origin, owner, depth + 1);
      SNAPKEEP_TRY(sub);
      out += *sub;
      i = close + 1;
    } else {
      return error_at(origin, "'%' must be written '%%'");
    }
  }
  return out;
}

// Checks the preset name rules of the config reference; errors point at the [header].
Status check_preset_name(const IniSection& section) {
  const std::string& name = section.name;
  std::string why;
  if (name.empty()) {
    why = "is empty";
  } else if (name.find('/') != std::string::npos) {
    why = "must not contain '/'";
  } else if (name.front() == '.') {
    why = "must not start with '.'";
  } else if (std::any_of(name.begin(), name.end(),
                         [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    why = "must not contain control characters";
  } else if (name.size() > k_max_name_bytes) {
    why = "is longer than " + std::to_string(k_max_name_bytes) + " bytes";
  } else if (name == "latest") {
    why = "is reserved (snapkeep keeps a 'latest' symlink next to the snapshots)";
  } else if (name == "lost+found") {
    why = "is reserved (a drive's lost+found belongs to fsck; its files would mix with the snapshots)";
  }
  if (why.empty()) {
    return {};
  }
  return error_at(section.file, section.line, "preset name '" + name + "' " + why);
}

// Absolute, lexically normal, without a trailing slash; relative to the value's file folder.
Result<fs::path> resolve_path(const std::string& text, const IniValue& origin, const std::string& key) {
  if (text.find('\n') != std::string::npos || text.find('\0') != std::string::npos) {
    return error_at(origin, "'" + key + "' must be a single path on one line");
  }
  if (text == "~" || text.starts_with("~/")) {
    return error_at(origin, "'" + key + "' starts with '~', which is not expanded: write the full path");
  }
  fs::path path(text);
  if (path.is_relative()) {
    path = fs::absolute(origin.file).parent_path() / path;
  }
  path = path.lexically_normal();
  if (!path.has_filename() && path != path.root_path()) {
    path = path.parent_path();
  }
  return path;
}

// True when `inner` equals `outer` or lies below it (both normalised and absolute).
bool is_within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (i == inner.end() || *i != *o) {
      return false;
    }
  }
  return true;
}

// One known key's value after interpolation, with where it was written.
struct Field {
  std::string text;
  const IniValue* origin = nullptr;
};

// "a, b or c".
std::string one_of(const std::vector<std::string>& values) {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    out += (i == 0 ? "" : (i + 1 == values.size() ? " or " : ", ")) + values[i];
  }
  return out;
}

// The yes/no field a key sets, or null when the key is not a yes/no one.
bool* flag_of(Preset& preset, std::string_view key) {
  if (key == "one_file_system") {
    return &preset.one_file_system;
  }
  if (key == "allow_empty_source") {
    return &preset.allow_empty_source;
  }
  if (key == "allow_partial") {
    return &preset.allow_partial;
  }
  if (key == "require_mount") {
    return &preset.require_mount;
  }
  if (key == "min_free_overrides_keep") {
    return &preset.min_free_overrides_keep;
  }
  if (key == "compress") {
    return &preset.remote.compress;
  }
  return nullptr;
}

// The command list a hook key sets, or null when the key is not a command one.
std::vector<std::vector<std::string>>* hook_commands(Preset& preset, std::string_view key) {
  PresetHooks& h = preset.hooks;
  return key == "before_backup"  ? &h.before_backup
         : key == "after_backup" ? &h.after_backup
         : key == "on_success"   ? &h.on_success
         : key == "on_failure"   ? &h.on_failure
                                 : nullptr;
}

// Words separated by blanks, commas or line breaks.
std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> out;
  std::string word;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == ',') {
      if (!word.empty()) {
        out.push_back(std::move(word));
        word.clear();
      }
    } else {
      word += c;
    }
  }
  if (!word.empty()) {
    out.push_back(std::move(word));
  }
  return out;
}

// Hex digits and dashes, at least 8 digits: the UUID forms blkid prints (ext4/btrfs/xfs, FAT, exFAT).
bool looks_like_uuid(const std::string& text) {
  std::size_t digits = 0;
  for (char c : text) {
    if (std::isxdigit(static_cast<unsigned char>(c)) != 0) {
      ++digits;
    } else if (c != '-') {
      return false;
    }
  }
  return digits >= 8 && text.front() != '-' && text.back() != '-';
}

Result<Preset> build_preset(const IniDocument& doc, const IniSection& section, const std::set<std::string>& referenced,
                            const ConfigSchema& schema) {
  SNAPKEEP_TRY(check_preset_name(section));
  const std::string owner = "preset '" + section.name + "'";
  for (const auto& [key, value] : section.values) {
    if (!is_known_key(key) && referenced.count(key) == 0) {
      return error_at(value, "unknown key '" + key + "' in " + owner + suggestion(key));
    }
  }
  ValueMap vars = doc.defaults.values;
  for (const auto& [key, value] : section.values) {
    vars[key] = value;
  }
  std::map<std::string, Field> fields;
  for (std::string_view key : k_known_keys) {
    if (const auto found = vars.find(std::string(key)); found != vars.end()) {
      auto text = interpolate(found->second.value, vars, found->first, found->second, owner, 0);
      SNAPKEEP_TRY(text);
      fields[std::string(key)] = Field{std::move(*text), &found->second};
    }
  }
  Preset preset;
  preset.name = section.name;
  preset.origin = section.file.string() + ":" + std::to_string(section.line);
  for (const auto& [key, field] : fields) {
    preset.origins[key] = field.origin->file.string() + ":" + std::to_string(field.origin->line);
  }
  for (const char* key : {"source", "destination"}) {
    const auto found = fields.find(key);
    if (found == fields.end()) {
      return error_at(section.file, section.line, owner + " has no '" + key + "'");
    }
    if (found->second.text.empty()) {
      return error_at(*found->second.origin, "'" + std::string(key) + "' is empty in " + owner);
    }
  }
  // Reports a value error from units.hpp at the value's line.
  const auto bad = [&](const std::string& key, const Error& error) {
    return error_at(*fields[key].origin, "'" + key + "' in " + owner + ": " + error.message);
  };
  for (auto& [key, field] : fields) {
    const std::string& text = field.text;
    if ((key == "source" || key == "destination") && looks_remote(text)) {
      // Parsed before any path resolution: "host:/path" is never a folder next to the config file.
      auto where = parse_remote_location(text);
      if (!where) {
        return error_at(*field.origin, "'" + key + "' in " + owner + ": " + where.error().message);
      }
      (key == "source" ? preset.source : preset.destination) = where->path;
      (key == "source" ? preset.remote_source : preset.remote_destination) = std::move(*where);
    } else if ((key == "ssh_identity" || key == "known_hosts") && !text.empty()) {
      auto path = resolve_path(text, *field.origin, key);
      SNAPKEEP_TRY(path);
      if (auto problem = ssh_path_problem(*path)) {
        return error_at(*field.origin,
                        "'" + key + "' in " + owner + ": " + path->string() + " cannot be given to ssh: " + *problem);
      }
      if (key == "ssh_identity") {
        preset.remote.identity = *path;
      } else {
        preset.remote.known_hosts = *path;
      }
    } else if (key == "remote_command") {
      auto words = parse_remote_command(text);
      if (!words) {
        return bad(key, words.error());
      }
      preset.remote.remote_command = std::move(*words);
    } else if (key == "bwlimit" && !text.empty()) {
      // A rate in bytes per second, as rsync's --bwlimit takes it (in KiB, at least 1).
      auto rate = parse_bytes(text.ends_with("/s") ? std::string_view(text).substr(0, text.size() - 2) : text);
      if (!rate || *rate < 1024) {
        return error_at(*field.origin, "'bwlimit' in " + owner + ": '" + text +
                                           "' is not a rate of at least 1K per second (e.g. 5M or 500K)");
      }
      preset.remote.bwlimit_kib = *rate / 1024;
    } else if (key == "source" || key == "destination" ||
               ((key == "exclude_from" || key == "snapshot_dir" || key == "metrics_file") && !text.empty())) {
      auto path = resolve_path(text, *field.origin, key);
      SNAPKEEP_TRY(path);
      if (key == "source") {
        preset.source = *path;
      } else if (key == "destination") {
        preset.destination = *path;
      } else if (key == "exclude_from") {
        preset.exclude_from = *path;
      } else if (key == "metrics_file") {
        preset.hooks.metrics_file = *path;
      } else {
        preset.snapshot_dir = *path;
      }
    } else if (key == "backend") {
      const auto& values = schema.backend_values;
      if (std::find(values.begin(), values.end(), text) == values.end()) {
        return error_at(*field.origin, "unknown backend '" + text + "' in " + owner + " (use " + one_of(values) + ")");
      }
      preset.backend = text;
    } else if (key == "checksum") {
      if (text == "xxh128" || text == "sha256" || text == "none") {
        preset.checksum = text == "xxh128"   ? ChecksumKind::xxh128
                          : text == "sha256" ? ChecksumKind::sha256
                                             : ChecksumKind::none;
      } else {
        return error_at(*field.origin, "unknown checksum '" + text + "' in " + owner + " (use xxh128, sha256 or none)");
      }
    } else if (key == "keep") {
      auto keep = parse_keep(text);
      if (!keep) {
        return bad(key, keep.error());
      }
      preset.keep = std::move(*keep);
    } else if (key == "min_free" && !text.empty()) {
      auto spec = parse_size_spec(text);
      if (!spec) {
        return bad(key, spec.error());
      }
      preset.min_free = *spec;
    } else if (key == "exclude") {
      for (std::size_t pos = 0; pos <= text.size();) {
        const auto end = std::min(text.find('\n', pos), text.size());
        if (end > pos) {
          std::string pattern = text.substr(pos, end - pos);
          // "*.tmp, .cache" is one pattern to rsync, never what was meant: say how to write two.
          if (pattern.find(", ") != std::string::npos) {
            return error_at(*field.origin, "'exclude' in " + owner + ": '" + pattern +
                                               "' looks like a list, but each line is one pattern: write one "
                                               "pattern per line (indented lines continue the value); for a name "
                                               "that really holds ', ' write '[,] '");
          }
          preset.exclude.push_back(std::move(pattern));
        }
        pos = end + 1;
      }
    } else if (key == "forget_drive_after") {
      // "never" (or empty) keeps a rotating drive's btrfs parent for as long as it takes.
      if (text.empty() || lower(text) == "never") {
        preset.forget_drive_after.reset();
      } else {
        auto seconds = parse_duration(text);
        if (!seconds) {
          return bad(key, seconds.error());
        }
        if (*seconds == 0) {
          return error_at(*field.origin, "'" + key + "' in " + owner + " must be longer than 0 (or never)");
        }
        preset.forget_drive_after = *seconds;
      }
    } else if (key == "transfer") {
      const auto found =
          std::find_if(k_transfers.begin(), k_transfers.end(), [&](const auto& entry) { return entry.first == text; });
      if (found != k_transfers.end()) {
        preset.transfer = found->second;
      } else {
        return error_at(*field.origin, "unknown transfer '" + text + "' in " + owner + " (use native or rsync)");
      }
    } else if (key == "pull") {
      const auto found =
          std::find_if(k_pulls.begin(), k_pulls.end(), [&](const auto& entry) { return entry.first == text; });
      if (found == k_pulls.end()) {
        return error_at(*field.origin, "unknown pull '" + text + "' in " + owner + " (use rsync or btrfs-send)");
      }
      preset.pull = found->second;
    } else if (key == "exclude_if_present") {
      for (std::size_t pos = 0; pos <= text.size();) {
        const auto end = std::min(text.find('\n', pos), text.size());
        const std::string name = text.substr(pos, end - pos);
        if (name == "." || name == ".." || name.find('/') != std::string::npos) {
          return error_at(*field.origin, "'exclude_if_present' in " + owner + ": '" + name +
                                             "' is not a file name (one name per line, without '/')");
        }
        if (!name.empty()) {
          preset.exclude_if_present.push_back(name);
        }
        pos = end + 1;
      }
    } else if (bool* flag_target = flag_of(preset, key)) {
      auto flag = parse_bool(text);
      if (!flag) {
        return bad(key, flag.error());
      }
      *flag_target = *flag;
    } else if (key == "destination_uuid") {
      for (const auto& uuid : split_words(text)) {
        if (!looks_like_uuid(uuid)) {
          return error_at(*field.origin, "'destination_uuid' in " + owner + ": '" + uuid +
                                             "' is not a filesystem UUID (blkid or lsblk -f shows them, e.g. "
                                             "0c5f9e1a-7d3b-4c2e-9a41-2f6d8b7e1c05 or 1A2B-3C4D)");
        }
        preset.destination_uuids.push_back(normalize_uuid(uuid));
      }
    } else if (auto* commands = hook_commands(preset, key)) {
      auto split = split_command_lines(text);
      if (!split) {
        return error_at(*field.origin, "'" + key + "' in " + owner + ": " + split.error().message);
      }
      *commands = std::move(*split);
    } else if (key == "healthcheck_url") {
      if (!text.empty() && !text.starts_with("http://") && !text.starts_with("https://")) {
        return error_at(*field.origin, "'healthcheck_url' in " + owner + " is '" + text +
                                           "' (an http:// or https:// URL, e.g. https://hc-ping.com/UUID)");
      }
      preset.hooks.healthcheck_url = text;
      while (preset.hooks.healthcheck_url.ends_with('/')) {
        preset.hooks.healthcheck_url.pop_back();
      }
    } else if (key == "if_unmounted") {
      if (text != "fail" && text != "skip") {
        return error_at(*field.origin, "'if_unmounted' in " + owner + " is '" + text + "' (use fail or skip)");
      }
      preset.skip_if_unmounted = text == "skip";
    }
  }
  if (preset.transfer == TransferEngine::rsync && !preset.exclude_if_present.empty()) {
    return error_at(*fields["exclude_if_present"].origin,
                    "'exclude_if_present' in " + owner + " needs transfer = native (rsync has no such option)");
  }
  const IniValue& dest_origin = *fields["destination"].origin;
  if (preset.pull == PullMethod::btrfs_send) {
    if (!preset.remote_source) {
      return error_at(*fields["pull"].origin,
                      "'pull = btrfs-send' in " + owner + " needs a source on another host (source = host:/path)");
    }
    if (!preset.exclude.empty() || preset.exclude_from || preset.one_file_system) {
      return error_at(*fields["pull"].origin, "'pull = btrfs-send' in " + owner +
                                                  " sends the whole subvolume: exclude, exclude_from and "
                                                  "one_file_system cannot apply (use pull = rsync to filter)");
    }
  }
  if (preset.remote_source && preset.remote_destination) {
    return error_at(dest_origin, owner +
                                     ": source and destination are both remote; one of them must be a folder "
                                     "of this machine (run snapkeep on one of the two hosts)");
  }
  if (preset.remote_source || preset.remote_destination) {
    // Remote transfers copy with rsync, which has no exclude_if_present.
    if (!preset.exclude_if_present.empty()) {
      return error_at(*fields["exclude_if_present"].origin,
                      "'exclude_if_present' in " + owner +
                          " needs the native engine, but remote backups copy with rsync (use exclude patterns)");
    }
    if (preset.remote.known_hosts.empty()) {
      preset.remote.known_hosts = default_known_hosts();
    }
    return preset;  // the two live on different machines: they cannot overlap
  }
  if (preset.destination == preset.source) {
    return error_at(dest_origin, "destination " + preset.destination.string() + " is the same as source in " + owner);
  }
  if (is_within(preset.destination, preset.source)) {
    return error_at(dest_origin, "destination " + preset.destination.string() + " is inside source " +
                                     preset.source.string() + ": each backup would contain the previous ones");
  }
  if (is_within(preset.source, preset.preset_dir())) {
    return error_at(dest_origin, "source " + preset.source.string() + " is inside " + preset.preset_dir().string() +
                                     ", where " + owner + " keeps its snapshots");
  }
  return preset;
}

// Files named in the document, in first-seen order.
std::vector<fs::path> files_of(const IniDocument& doc) {
  std::vector<fs::path> files;
  auto add = [&](const fs::path& file) {
    if (!file.empty() && std::find(files.begin(), files.end(), file) == files.end()) {
      files.push_back(file);
    }
  };
  auto add_section = [&](const IniSection& section) {
    add(section.file);
    for (const auto& [key, value] : section.values) {
      add(value.file);
    }
  };
  add_section(doc.defaults);
  for (const auto& section : doc.sections) {
    add_section(section);
  }
  return files;
}

std::string join_paths(const std::vector<fs::path>& files) {
  std::string out;
  for (const auto& file : files) {
    out += (out.empty() ? "" : ", ") + file.string();
  }
  return out;
}

}  // namespace

Result<Config> build_config(const IniDocument& doc, const ConfigSchema& schema) {
  Config config;
  config.files = files_of(doc);
  const std::set<std::string> referenced = referenced_names(doc);
  for (const auto& [key, value] : doc.defaults.values) {
    if (!is_known_key(key) && referenced.count(key) == 0) {
      return error_at(value, "unknown key '" + key + "' in [DEFAULT]" + suggestion(key));
    }
  }
  if (doc.sections.empty()) {
    return config_error("no presets defined in " +
                        (config.files.empty() ? "the configuration" : join_paths(config.files)) +
                        " (add a [name] section with source and destination)");
  }
  for (const auto& section : doc.sections) {
    auto preset = build_preset(doc, section, referenced, schema);
    SNAPKEEP_TRY(preset);
    config.presets.push_back(std::move(*preset));
  }
  return config;
}

Result<Config> load_config(const std::vector<fs::path>& files, const ConfigSchema& schema) {
  if (files.empty()) {
    return config_error("no config file given");
  }
  IniDocument doc;
  for (const auto& file : files) {
    SNAPKEEP_TRY(read_ini_file(file, doc));
  }
  if (doc.sections.empty()) {
    return config_error("no presets defined in " + join_paths(files) +
                        " (add a [name] section with source and destination)");
  }
  auto config = build_config(doc, schema);
  SNAPKEEP_TRY(config);
  config->files = files;
  return config;
}

Result<Config> load_configs_separately(const std::vector<fs::path>& files, const ConfigSchema& schema) {
  Config all;
  for (const auto& file : files) {
    SNAPKEEP_TRY_ASSIGN(Config one, load_config({file}, schema));
    for (auto& preset : one.presets) {
      all.presets.push_back(std::move(preset));
    }
  }
  all.files = files;
  return all;
}

std::vector<fs::path> default_config_files() {
  const char* env = std::getenv("SNAPKEEP_CONFIG");
  if (env != nullptr && *env != '\0') {
    return {fs::path(env)};
  }
  return {fs::path("/etc/snapkeep/snapkeep.conf")};
}

std::vector<std::string> config_keys() {
  return {k_known_keys.begin(), k_known_keys.end()};
}

Result<std::vector<Preset>> select_presets(const Config& config, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    const bool known =
        std::any_of(config.presets.begin(), config.presets.end(), [&](const Preset& p) { return p.name == name; });
    if (!known) {
      std::string all;
      for (const auto& preset : config.presets) {
        all += (all.empty() ? "" : ", ") + preset.name;
      }
      return config_error("no preset named '" + name + "' (known: " + all + ")");
    }
  }
  std::vector<Preset> selected;
  for (const auto& preset : config.presets) {
    if (names.empty() || std::find(names.begin(), names.end(), preset.name) != names.end()) {
      selected.push_back(preset);
    }
  }
  return selected;
}

}  // namespace snapkeep
