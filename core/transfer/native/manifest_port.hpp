#pragma once
// What the native copy engine needs from manifests and hashing, without depending on
// core/integrity (a sibling layer): previous manifests as sorted record streams, a sink for the new
// manifest, and a content hash. backends/rsync implements them over core/integrity.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/base/error.hpp"
#include "core/store/manifest_entry.hpp"

namespace snapkeep {

// A streaming content hash of the manifest's algorithm.
class ContentHasher {
 public:
  virtual ~ContentHasher() = default;
  virtual void update(const void* data, std::size_t size) = 0;
  // The digest in lower-case hex; the hasher starts over afterwards.
  virtual std::string hex_digest() = 0;
};

// The records of one earlier manifest, in manifest order (path bytes), and random access to them.
class PreviousManifest {
 public:
  virtual ~PreviousManifest() = default;
  // Do its hashes use the new manifest's algorithm (so they can be copied into it)?
  virtual bool same_checksum() const = 0;
  // The next record into `entry`; false after the last. An error means the file changed under us.
  virtual Result<bool> next(ManifestEntry& entry) = 0;
  // Opens a second, independent view for random access: every record in order with its position
  // (walk()) and the record at a position (at()).
  virtual Result<std::unique_ptr<PreviousManifest>> reopen() const = 0;
  // The position of the record next() returned last.
  virtual std::uint64_t last_position() const = 0;
  // The record at `position` (a last_position() of this view or another of the same file).
  virtual Result<ManifestEntry> at(std::uint64_t position) = 0;
};

// Receives the new snapshot's manifest, record by record in manifest order.
class ManifestSink {
 public:
  virtual ~ManifestSink() = default;
  // Are content hashes recorded (checksum is not `none`)?
  virtual bool hashes() const = 0;
  // A new hasher of the manifest's algorithm (only when hashes()).
  virtual std::unique_ptr<ContentHasher> hasher() const = 0;
  // Adds one record; paths come in strictly increasing byte order.
  virtual Status add(const ManifestEntry& entry) = 0;
  // Makes the records added so far readable by a resumed run (no fsync).
  virtual Status checkpoint() = 0;
  // Gives the manifest up and frees the room it took (the data has priority on a full destination).
  virtual void drop() = 0;
};

}  // namespace snapkeep
