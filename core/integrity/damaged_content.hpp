#pragma once
// A content that scrub found damaged: what verification saw, every path it has (filled from the
// content index), and what repair made of it. Scrub holds these in memory: they grow with the
// damage found, not with the files checked.

#include <cstddef>
#include <string>
#include <vector>

#include "core/integrity/content_index.hpp"
#include "core/integrity/scrub_repair.hpp"

namespace snapkeep {

// How one expectation of a content compares with what its data hashes to now.
enum class Verdict { intact, corrupted, modified };

// Expectation `x` of `content` against `actual` (the data's digest per expectation): intact, or
// damaged with the mtime unchanged (corrupted) or changed (modified).
inline Verdict verdict_of(const IndexedContent& content, const std::vector<std::string>& actual, std::size_t x) {
  const Expectation& e = content.expectations[x];
  if (actual[x] == e.hash) {
    return Verdict::intact;
  }
  return content.live_mtime_ns == e.mtime_ns ? Verdict::corrupted : Verdict::modified;
}

struct DamagedContent {
  IndexedContent content;
  bool unreadable = false;          // reading failed with an I/O error
  std::string error;                // that error
  std::vector<std::string> actual;  // what the data hashes to, per expectation (none when unreadable)
  std::vector<PathGroup> groups;    // every path of the content
  RepairResult repair;
  bool repair_tried = false;

  // Expectation `x` against the data (only for readable contents).
  Verdict verdict(std::size_t x) const { return verdict_of(content, actual, x); }
};

}  // namespace snapkeep
