#include "core/history/versions.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include <xxhash.h>

#include "core/base/signals.hpp"
#include "core/history/tree_walk.hpp"
#include "core/integrity/hashing.hpp"
#include "core/integrity/manifest.hpp"
#include "core/integrity/manifest_diff.hpp"
#include "core/store/catalog.hpp"
#include "core/store/snapshot_id.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// An order-independent digest of a folder's listing: the sum (mod 2^128) of one xxh128 per entry,
// so a listing read from a manifest (path order) and one walked in a tree agree.
class ListingDigest {
 public:
  // Adds one entry, `rel` relative to the folder. A folder's size is left out (it depends on the
  // filesystem's history, not on what the folder holds).
  void add(std::string_view rel, const ManifestEntry& e) {
    m_buffer.assign(rel);
    m_buffer.push_back('\0');
    m_buffer.push_back(static_cast<char>(e.type));
    append(e.type == EntryType::directory ? 0 : e.size);
    append(static_cast<std::uint64_t>(e.mtime_ns));
    XXH128_hash_t h = XXH3_128bits(m_buffer.data(), m_buffer.size());
    const std::uint64_t low = m_low + h.low64;
    m_high += h.high64 + (low < m_low ? 1 : 0);
    m_low = low;
  }
  std::string hex() const {
    char text[33];
    std::snprintf(text, sizeof text, "%016llx%016llx", static_cast<unsigned long long>(m_high),
                  static_cast<unsigned long long>(m_low));
    return text;
  }

 private:
  void append(std::uint64_t value) {
    for (int shift = 0; shift < 64; shift += 8) {
      m_buffer.push_back(static_cast<char>(value >> shift));
    }
  }
  std::string m_buffer;
  std::uint64_t m_low = 0;
  std::uint64_t m_high = 0;
};

// The path as one snapshot holds it.
struct Seen {
  bool found = false;
  PathVersion version;  // without snapshots
  ListingDigest digest;
};

// Adds a folder's entry to what was seen.
void add_to_folder(Seen& seen, std::string_view rel, const ManifestEntry& e) {
  seen.digest.add(rel, e);
  ++seen.version.entries;
  if (e.type == EntryType::file) {
    seen.version.size += e.size;
  }
}

// Takes the path's own entry.
void take_entry(Seen& seen, const ManifestEntry& e) {
  seen.found = true;
  seen.version.type = e.type;
  seen.version.size = e.type == EntryType::directory ? 0 : e.size;
  seen.version.mtime_ns = e.mtime_ns;
  seen.version.hash = e.type == EntryType::directory ? "" : e.hash;
}

// Finds `rel` (and, for a folder, everything below it) in a checked manifest.
Status scan_manifest(ManifestReader& reader, const std::string& rel, Seen& seen) {
  const std::string inside = rel + "/";
  ManifestEntry e;
  for (;;) {
    SNAPKEEP_TRY_ASSIGN(bool more, reader.next(e));
    if (!more) {
      break;
    }
    if (e.path == rel) {
      take_entry(seen, e);
      if (e.type != EntryType::directory) {
        break;
      }
    } else if (e.path.compare(0, inside.size(), inside) == 0) {
      if (seen.found) {
        add_to_folder(seen, std::string_view(e.path).substr(inside.size()), e);
      }
    } else if (e.path > inside) {
      break;  // past the folder's contents (which come after "rel" and "rel.txt", say)
    }
  }
  if (seen.found && seen.version.type == EntryType::directory) {
    seen.version.hash = seen.digest.hex();
  }
  return {};
}

// Finds `rel` in a snapshot tree: a file's content is hashed with `kind`, a folder is walked.
Status scan_tree(const fs::path& snapshot, const std::string& rel, ChecksumKind kind, Seen& seen) {
  Fd parent;
  auto st = stat_beneath(snapshot, rel, parent);
  if (!st) {
    if (st.error().err == ENOENT || st.error().err == ENOTDIR || st.error().err == ELOOP) {
      return {};  // not in this snapshot
    }
    return std::move(st).error();
  }
  const std::string name = fs::path(rel).filename().string();
  take_entry(seen, entry_from_stat(rel, *st));
  const fs::path where = snapshot / rel;
  if (S_ISREG(st->st_mode) && kind != ChecksumKind::none) {
    Fd fd(::openat(parent.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!fd) {
      return sys_error("cannot open", where);
    }
    std::vector<Hasher> hashers;
    hashers.emplace_back(kind);
    SNAPKEEP_TRY(hash_fd(fd.get(), hashers, {}, where));
    seen.version.hash = hashers[0].hex_digest();
  } else if (S_ISLNK(st->st_mode) && kind != ChecksumKind::none) {
    std::string target(static_cast<std::size_t>(st->st_size) + 1, '\0');
    const ssize_t n = ::readlinkat(parent.get(), name.c_str(), target.data(), target.size());
    if (n < 0) {
      return sys_error("cannot read symlink", where);
    }
    target.resize(static_cast<std::size_t>(n));
    seen.version.hash = hash_bytes(kind, target);
  } else if (S_ISDIR(st->st_mode)) {
    SNAPKEEP_TRY_ASSIGN(auto stream, TreeStream::open(snapshot, rel));
    ManifestEntry e;
    for (;;) {
      SNAPKEEP_TRY_ASSIGN(bool more, stream->next(e));
      if (!more) {
        break;
      }
      add_to_folder(seen, e.path, e);
    }
    seen.version.hash = seen.digest.hex();
  }
  return {};
}

// Are two sightings one version?
bool same_version(const PathVersion& a, const PathVersion& b) {
  if (a.type != b.type || a.hash != b.hash) {
    return false;
  }
  return a.type == EntryType::directory || (a.size == b.size && a.mtime_ns == b.mtime_ns);
}

}  // namespace

Result<std::string> path_in_snapshots(const Preset& preset, const std::string& path) {
  if (path.empty()) {
    return config_error("name a file or folder inside the snapshots");
  }
  fs::path p = fs::path(path).lexically_normal();
  fs::path rel;
  if (p.is_absolute()) {
    fs::path from_source = p.lexically_relative(preset.source.lexically_normal());
    fs::path from_dest = p.lexically_relative(preset.preset_dir().lexically_normal());
    if (!from_source.empty() && *from_source.begin() != "..") {
      rel = from_source;
    } else if (!from_dest.empty() && *from_dest.begin() != "..") {
      // DEST/<preset>/<id or latest>/PATH: the part after the snapshot folder.
      auto it = from_dest.begin();
      const std::string first = it->string();
      if (first != k_latest_name && !parse_snapshot_id(first)) {
        return config_error(path + " is in the preset folder but not inside a snapshot");
      }
      for (++it; it != from_dest.end(); ++it) {
        rel /= *it;
      }
    } else {
      return config_error(path + " is neither under the source " + preset.source.string() +
                          " nor inside a snapshot in " + preset.preset_dir().string() +
                          " (a relative path is taken inside the snapshots)");
    }
  } else {
    rel = p;
  }
  std::string text = rel.lexically_normal().string();
  while (!text.empty() && text.back() == '/') {
    text.pop_back();
  }
  if (text == ".." || text.rfind("../", 0) == 0) {
    return config_error(path + " leaves the snapshot");
  }
  if (text.empty() || text == ".") {
    return config_error("name a file or folder inside the snapshots, not the whole snapshot");
  }
  return text;
}

Result<VersionsReport> find_versions(const Preset& preset, const std::string& rel) {
  const fs::path preset_dir = preset.preset_dir();
  const fs::path state_dir = preset_dir / k_state_dir_name;
  SNAPKEEP_TRY_ASSIGN(auto snapshots, list_snapshots(preset_dir));
  VersionsReport report;
  report.path = rel;
  report.snapshots = snapshots.size();
  std::vector<std::size_t> newest;  // per version: the index of the newest snapshot holding it
  for (std::size_t i = 0; i < snapshots.size(); ++i) {
    if (stop_signal() != 0) {
      return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
    }
    const SnapshotInfo& snapshot = snapshots[i];
    Seen seen;
    ManifestOpen opened = open_manifest(manifest_path(state_dir, snapshot.id));
    if (opened.state == ManifestState::ok) {
      SNAPKEEP_TRY(scan_manifest(*opened.reader, rel, seen));
    } else {
      std::string reason =
          opened.state == ManifestState::missing ? "no manifest" : "manifest not usable (" + opened.reason + ")";
      report.read_from_tree.push_back({snapshot.id, reason});
      SNAPKEEP_TRY(scan_tree(snapshot.path, rel, preset.checksum, seen));
    }
    if (!seen.found) {
      report.absent.push_back(snapshot.id);
      continue;
    }
    auto same = std::find_if(report.versions.begin(), report.versions.end(),
                             [&](const PathVersion& v) { return same_version(v, seen.version); });
    if (same == report.versions.end()) {
      report.versions.push_back(seen.version);
      newest.push_back(i);
      same = report.versions.end() - 1;
    }
    same->snapshots.push_back(snapshot.id);
    same->mtime_ns = seen.version.mtime_ns;
    newest[static_cast<std::size_t>(same - report.versions.begin())] = i;
  }
  // Newest first: by the newest snapshot holding each version.
  std::vector<std::size_t> order(report.versions.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return newest[a] > newest[b]; });
  std::vector<PathVersion> sorted;
  sorted.reserve(order.size());
  for (std::size_t i : order) {
    sorted.push_back(std::move(report.versions[i]));
  }
  report.versions = std::move(sorted);
  return report;
}

Result<RestoreRequest> version_restore_request(const VersionsReport& report, std::size_t number, const fs::path& target,
                                               bool force) {
  if (number == 0 || number > report.versions.size()) {
    return config_error("--restore " + std::to_string(number) + ": " + report.path + " has " +
                        std::to_string(report.versions.size()) + " version(s), numbered from 1 (newest)");
  }
  RestoreRequest request;
  request.snapshot = report.versions[number - 1].snapshots.back();
  request.inside = report.path;
  request.target = target;
  request.force = force;
  return request;
}

Result<RestoreOutcome> restore_version(const Preset& preset, const VersionsReport& report, std::size_t number,
                                       const fs::path& target, bool force) {
  SNAPKEEP_TRY_ASSIGN(RestoreRequest request, version_restore_request(report, number, target, force));
  return restore_snapshot(preset, request);
}

nlohmann::json versions_to_json(const VersionsReport& r) {
  nlohmann::json list = nlohmann::json::array();
  for (std::size_t i = 0; i < r.versions.size(); ++i) {
    const PathVersion& v = r.versions[i];
    nlohmann::json item{{"version", i + 1},
                        {"type", entry_type_name(v.type)},
                        {"hash", v.hash},
                        {"size", v.size},
                        {"mtime", format_iso_local(static_cast<std::time_t>(v.mtime_ns / 1000000000))},
                        {"mtime_ns", v.mtime_ns},
                        {"snapshots", v.snapshots}};
    if (v.type == EntryType::directory) {
      item["entries"] = v.entries;
    }
    list.push_back(std::move(item));
  }
  nlohmann::json tree = nlohmann::json::array();
  for (const auto& t : r.read_from_tree) {
    tree.push_back({{"id", t.id}, {"reason", t.reason}});
  }
  return {
      {"path", r.path}, {"versions", list}, {"absent", r.absent}, {"read_from_tree", tree}, {"snapshots", r.snapshots}};
}

Result<VersionsReport> versions_from_json(const nlohmann::json& j) {
  try {
    VersionsReport r;
    r.path = j.at("path").get<std::string>();
    r.absent = j.at("absent").get<std::vector<std::string>>();
    r.snapshots = j.at("snapshots").get<std::uint64_t>();
    for (const auto& item : j.at("versions")) {
      PathVersion v;
      const auto type = item.at("type").get<std::string>();
      bool known = false;
      for (auto t : {EntryType::file, EntryType::directory, EntryType::symlink, EntryType::other}) {
        if (entry_type_name(t) == type) {
          v.type = t;
          known = true;
        }
      }
      if (!known) {
        return runtime_error("malformed versions report: unknown entry type \"" + type + "\"");
      }
      v.hash = item.at("hash").get<std::string>();
      v.size = item.at("size").get<std::uint64_t>();
      v.mtime_ns = item.at("mtime_ns").get<std::int64_t>();
      v.snapshots = item.at("snapshots").get<std::vector<std::string>>();
      if (item.contains("entries")) {
        v.entries = item.at("entries").get<std::uint64_t>();
      }
      r.versions.push_back(std::move(v));
    }
    for (const auto& t : j.at("read_from_tree")) {
      r.read_from_tree.push_back({t.at("id").get<std::string>(), t.at("reason").get<std::string>()});
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    return runtime_error(std::string("malformed versions report: ") + e.what());
  }
}

}  // namespace snapkeep
