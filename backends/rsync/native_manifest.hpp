#pragma once
// The native engine's manifest ports (core/transfer/native/manifest_port.hpp) over core/integrity:
// earlier manifests and killed runs' journals as record streams, the new manifest as a journal
// that becomes manifests/<id> on commit.

#include <filesystem>
#include <memory>
#include <optional>

#include "core/integrity/manifest.hpp"
#include "core/transfer/native/manifest_port.hpp"

namespace snapkeep {

// An earlier snapshot's manifest (checked whole first), or a killed run's journal; null when there
// is none or it cannot be trusted (a warning says why).
std::unique_ptr<PreviousManifest> open_previous_manifest(const std::filesystem::path& path, bool journal,
                                                         ChecksumKind checksum);

// The new manifest: records go to `journal` as they come; commit() puts it at `path`.
class ManifestJournal final : public ManifestSink {
 public:
  // Starts the journal; an error (e.g. a full destination) means the engine runs without one.
  static Result<std::unique_ptr<ManifestJournal>> create(const std::filesystem::path& path,
                                                         const std::filesystem::path& journal,
                                                         const ManifestHeader& header);
  bool hashes() const override { return m_checksum != ChecksumKind::none; }
  std::unique_ptr<ContentHasher> hasher() const override;
  Status add(const ManifestEntry& entry) override { return m_writer.add(entry); }
  Status checkpoint() override { return m_writer.checkpoint(); }
  void drop() override { m_writer.abandon(); }
  // Finishes the manifest: complete at `path`, or (on error) gone.
  Status commit();
  // Drops it: the journal is removed.
  void abandon() { m_writer.abandon(); }

 private:
  ManifestJournal(ManifestWriter writer, ChecksumKind checksum) : m_writer(std::move(writer)), m_checksum(checksum) {}
  ManifestWriter m_writer;
  ChecksumKind m_checksum;
};

}  // namespace snapkeep
