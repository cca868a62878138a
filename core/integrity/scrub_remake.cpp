#include "core/integrity/scrub_remake.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/base/fsutil.hpp"
#include "core/integrity/hashing.hpp"
#include "core/integrity/manifest.hpp"
#include "core/store/catalog.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// Checks `copy` against the manifest `manifest_file` (see remake_damaged_snapshots) and writes the
// copy's manifest to `new_manifest`. The error names the first entry that differs.
Status verify_copy(const fs::path& copy, const fs::path& manifest_file, const fs::path& new_manifest) {
  auto opened = open_manifest(manifest_file);
  if (opened.state != ManifestState::ok) {
    return runtime_error("its manifest cannot be used: " + opened.reason, manifest_file);
  }
  const ManifestHeader& header = opened.reader->header();
  ManifestHeader copy_header = header;
  copy_header.links = false;  // the entries are written without their link counts
  SNAPKEEP_TRY_ASSIGN(ManifestWriter writer, ManifestWriter::create(new_manifest, copy_header));
  ManifestEntry e;
  for (;;) {
    SNAPKEEP_TRY_ASSIGN(bool more, opened.reader->next(e));
    if (!more) {
      break;
    }
    const fs::path full = copy / e.path;
    struct stat st {};
    if (::lstat(full.c_str(), &st) != 0) {
      return sys_error("an entry of the manifest is not in the copy", full);
    }
    if (entry_type_of(st.st_mode) != e.type) {
      return runtime_error("the entry has another type than in the manifest", full);
    }
    if (e.type == EntryType::file || e.type == EntryType::symlink) {
      if (static_cast<std::uint64_t>(st.st_size) != e.size || timespec_ns(st.st_mtim) != e.mtime_ns) {
        return runtime_error("size or mtime differ from the manifest", full);
      }
    }
    if (e.type == EntryType::file && !e.hash.empty()) {
      SNAPKEEP_TRY_ASSIGN(std::string actual, hash_file(full, header.checksum, HashReadOptions{true, {}}));
      if (actual != e.hash) {
        return runtime_error("the content does not hash to the manifest's hash", full);
      }
    }
    if (e.type == EntryType::symlink && !e.hash.empty()) {
      std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
      if (n < 0) {
        return sys_error("cannot read symlink", full);
      }
      target.resize(static_cast<std::size_t>(n));
      if (hash_bytes(header.checksum, target) != e.hash) {
        return runtime_error("the symlink target differs from the manifest's", full);
      }
    }
    // The same content and metadata, under the copy's own identity.
    e.ino = st.st_ino;
    e.ctime_ns = timespec_ns(st.st_ctim);
    SNAPKEEP_TRY(writer.add(e));
  }
  return writer.commit();
}

// The snapshot id a path below preset_dir lies in ("" when none).
std::string snapshot_of(const fs::path& path, const fs::path& preset_dir) {
  fs::path rel = path.lexically_relative(preset_dir);
  if (rel.empty() || *rel.begin() == "..") {
    return {};
  }
  return rel.begin()->string();
}

}  // namespace

void remake_damaged_snapshots(const Preset& preset, const SnapshotRemaker& remaker,
                              const std::vector<SnapshotInfo>& snapshots, ScrubReport& report) {
  const fs::path preset_dir = preset.preset_dir();
  const fs::path state_dir = preset_dir / k_state_dir_name;
  std::set<std::string> damaged;
  for (const auto& f : report.findings) {
    if (!f.repaired && f.status != FindingStatus::manifest_damaged) {
      damaged.insert(f.snapshots.begin(), f.snapshots.end());
    }
  }
  std::map<std::string, const SnapshotRepair*> outcome;
  if (damaged.empty()) {
    return;
  }
  // Staged manifests an interrupted repair left (we hold the lock: no repair is running).
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(state_dir, ec)) {
    if (entry.path().filename().string().rfind("remake-", 0) == 0) {
      fs::remove(entry.path(), ec);
    }
  }
  for (const auto& snapshot : snapshots) {
    if (damaged.count(snapshot.id) == 0) {
      continue;
    }
    const fs::path staged = state_dir / ("remake-" + snapshot.id);  // the copy's manifest until it is in place
    RemakeResult made = remaker.remake(preset, snapshot, [&](const fs::path& copy) {
      return verify_copy(copy, manifest_path(state_dir, snapshot.id), staged);
    });
    if (made.remade) {
      // The old manifest stays for the delta manifests that amend it (docs/scrub.md): their
      // snapshots were not swapped.
      if (auto kept = set_manifest_aside(manifest_path(state_dir, snapshot.id)); !kept) {
        spdlog::warn("{}: {}", preset.name, kept.error().describe());
      }
      if (auto moved = rename_path(staged, manifest_path(state_dir, snapshot.id)); !moved) {
        spdlog::warn("{}: {} (the next backup rehashes what it cannot reuse)", preset.name, moved.error().describe());
      }
      spdlog::info("{}: repaired snapshot {}: {}", preset.name, snapshot.id, made.note);
    } else {
      fs::remove(staged, ec);
      spdlog::warn("{}: snapshot {} stays damaged: {}", preset.name, snapshot.id, made.note);
    }
    report.snapshot_repairs.push_back(SnapshotRepair{snapshot.id, made.remade, made.note});
  }
  for (const auto& repair : report.snapshot_repairs) {
    outcome[repair.snapshot] = &repair;
  }
  // Findings: the paths in remade snapshots are repaired; the rest stay, saying why.
  std::vector<ScrubFinding> split;
  for (auto& f : report.findings) {
    if (f.repaired || f.status == FindingStatus::manifest_damaged) {
      continue;
    }
    ScrubFinding fixed = f;
    fixed.paths.clear();
    fixed.snapshots.clear();
    ScrubFinding left = f;
    left.paths.clear();
    left.snapshots.clear();
    for (const auto& path : f.paths) {
      std::string id = snapshot_of(path, preset_dir);
      auto it = outcome.find(id);
      ScrubFinding& part = it != outcome.end() && it->second->repaired ? fixed : left;
      part.paths.push_back(path);
      if (std::find(part.snapshots.begin(), part.snapshots.end(), id) == part.snapshots.end()) {
        part.snapshots.push_back(id);
      }
    }
    if (!fixed.paths.empty()) {
      fixed.repaired = true;
      fixed.repair_note.clear();
      fixed.repaired_from = "clean copies of the snapshots received again from their source snapshots";
    }
    std::string stays;
    for (const auto& id : left.snapshots) {
      auto it = outcome.find(id);
      stays +=
          (stays.empty() ? "" : "; ") + id + ": " + (it != outcome.end() ? it->second->note : std::string("not tried"));
    }
    if (!left.paths.empty() && !outcome.empty()) {
      left.repair_note += (left.repair_note.empty() ? "" : " ") + std::string("Snapshots that stay damaged: ") + stays;
    }
    if (fixed.paths.empty()) {
      f = std::move(left);
    } else if (left.paths.empty()) {
      f = std::move(fixed);
    } else {
      f = std::move(left);
      split.push_back(std::move(fixed));
    }
  }
  for (auto& f : split) {
    report.findings.push_back(std::move(f));
  }
}

}  // namespace snapkeep
