#include "backends/rsync/native_manifest.hpp"

#include <spdlog/spdlog.h>

#include "core/integrity/hashing.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

class IntegrityHasher final : public ContentHasher {
 public:
  explicit IntegrityHasher(ChecksumKind kind) : m_hasher(kind) {}
  void update(const void* data, std::size_t size) override { m_hasher.update(data, size); }
  std::string hex_digest() override { return m_hasher.hex_digest(); }

 private:
  Hasher m_hasher;
};

class ManifestStream final : public PreviousManifest {
 public:
  ManifestStream(fs::path path, bool journal, ChecksumKind checksum, std::unique_ptr<ManifestReader> reader)
      : m_path(std::move(path)), m_journal(journal), m_checksum(checksum), m_reader(std::move(reader)) {}
  bool same_checksum() const override { return m_reader->header().checksum == m_checksum; }
  Result<bool> next(ManifestEntry& entry) override {
    m_last = m_reader->position();
    return m_reader->next(entry);
  }
  Result<std::unique_ptr<PreviousManifest>> reopen() const override {
    auto opened = open_previous_manifest(m_path, m_journal, m_checksum);
    if (opened == nullptr) {
      return runtime_error("the manifest changed", m_path);
    }
    return opened;
  }
  std::uint64_t last_position() const override { return m_last; }
  Result<ManifestEntry> at(std::uint64_t position) override { return m_reader->read_at(position); }

 private:
  fs::path m_path;
  bool m_journal;
  ChecksumKind m_checksum;
  std::unique_ptr<ManifestReader> m_reader;
  std::uint64_t m_last = 0;
};

}  // namespace

std::unique_ptr<PreviousManifest> open_previous_manifest(const fs::path& path, bool journal, ChecksumKind checksum) {
  ManifestOpen opened = journal ? open_manifest_journal(path) : open_manifest(path);
  if (opened.state != ManifestState::ok) {
    if (opened.state != ManifestState::missing) {
      spdlog::warn("not linking by the manifest {}: {}", path.string(), opened.reason);
    }
    return nullptr;
  }
  if (opened.reader->header().delta()) {
    // The engine reads records again by their position; a delta's come from two files. A btrfs
    // backup writes deltas: a preset moved to this engine links by size and mtime, as without one.
    spdlog::info("not linking by the manifest {}: a delta manifest", path.string());
    return nullptr;
  }
  return std::make_unique<ManifestStream>(path, journal, checksum, std::move(opened.reader));
}

Result<std::unique_ptr<ManifestJournal>> ManifestJournal::create(const fs::path& path, const fs::path& journal,
                                                                 const ManifestHeader& header) {
  SNAPKEEP_TRY_ASSIGN(ManifestWriter writer, ManifestWriter::create_journal(path, journal, header));
  return std::unique_ptr<ManifestJournal>(new ManifestJournal(std::move(writer), header.checksum));
}

std::unique_ptr<ContentHasher> ManifestJournal::hasher() const {
  return std::make_unique<IntegrityHasher>(m_checksum);
}

Status ManifestJournal::commit() {
  Status committed = m_writer.commit();
  if (!committed) {
    m_writer.abandon();
  }
  return committed;
}

}  // namespace snapkeep
