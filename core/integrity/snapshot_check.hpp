#pragma once
// The metadata half of a scrub: open each snapshot's manifest (those that cannot be used become
// findings or "without manifest"), then walk the manifests of many snapshots at once, path by path,
// checking that every entry exists with its type (symlink targets and, with checksum = none, sizes
// and mtimes are compared here). Entry findings go to a FindingList; regular files go to the
// ContentIndex, to be read later, once per content. Memory: one open manifest per snapshot of a
// batch of k_open_manifests.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/base/error.hpp"
#include "core/base/progress.hpp"
#include "core/integrity/content_index.hpp"
#include "core/integrity/manifest.hpp"
#include "core/integrity/scrub.hpp"
#include "core/integrity/scrub_findings.hpp"
#include "core/store/catalog.hpp"

namespace snapkeep {

// Manifests read at once.
inline constexpr std::size_t k_open_manifests = 32;

// A snapshot verified by this run.
struct VerifiedSnapshot {
  SnapshotInfo info;
  std::uint32_t order = 0;  // its place among the snapshots asked for (the report's order)
};

// A regular file missing from a hard-link tree: its inode may live on in another snapshot.
struct MissingFile {
  std::size_t finding = 0;     // its finding in the FindingList
  std::uint32_t snapshot = 0;  // place in the verified snapshots
  std::filesystem::path path;
  ManifestEntry entry;
  ChecksumKind kind = ChecksumKind::xxh128;  // of its manifest's hashes
};

class SnapshotCheck {
 public:
  // Checks the snapshots of `state_dir`'s preset into `findings` and `index`, counting into `report`.
  SnapshotCheck(std::filesystem::path state_dir, ContentSharing sharing, FindingList& findings, ContentIndex& index,
                ScrubReport& report, Progress& progress)
      : m_state_dir(std::move(state_dir)),
        m_sharing(sharing),
        m_findings(findings),
        m_index(index),
        m_report(report),
        m_progress(progress) {}

  // Checks `snapshots` (in the report's order). Fails on a stop signal or when a manifest cannot
  // be read any more; what is found wrong with the snapshots is a finding, not a failure.
  Status run(const std::vector<SnapshotInfo>& snapshots, const std::string& preset_name);

  // The snapshots verified (those whose manifest could be used).
  const std::vector<VerifiedSnapshot>& verified() const { return m_verified; }
  // Missing regular files of hard-link trees, for relinking.
  std::vector<MissingFile>& missing() { return m_missing; }

 private:
  struct Walker;
  Status walk(std::vector<Walker>& walkers);
  Status check_entry(Walker& walker);
  void entry_finding(FindingStatus status, const Walker& walker, const std::filesystem::path& full, std::string actual,
                     std::string detail);

  std::filesystem::path m_state_dir;
  ContentSharing m_sharing;
  FindingList& m_findings;
  ContentIndex& m_index;
  ScrubReport& m_report;
  Progress& m_progress;
  std::vector<VerifiedSnapshot> m_verified;
  std::vector<MissingFile> m_missing;
};

}  // namespace snapkeep
