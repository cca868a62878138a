#pragma once
// The rsync backend's work folders in DEST/<preset>/.snapkeep: `partial/` (the snapshot being
// made) and `resume-N/` (what killed runs left, kept as link bases, never as snapshots), with the
// native engine's manifest journals `partial.manifest` and `resume-N.manifest` beside them.

#include <filesystem>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/error.hpp"

namespace snapkeep {

inline constexpr std::string_view k_partial_name = "partial";
inline constexpr std::string_view k_journal_suffix = ".manifest";

// The journal of a work folder: `partial.manifest` for `partial`, `resume-N.manifest` for `resume-N`.
std::filesystem::path journal_of(const std::filesystem::path& work_dir);

// resume-N folders under state_dir, newest (highest N) first.
std::vector<std::pair<unsigned long, std::filesystem::path>> resume_dirs(const std::filesystem::path& state_dir);

// Moves a leftover partial/ (and its journal) aside as the next resume-N and returns the resume
// folders, newest first, at most `keep` of them (older ones are deleted with their journals).
Result<std::vector<std::filesystem::path>> take_interrupted_work(const std::filesystem::path& state_dir,
                                                                 const std::string& preset, std::size_t keep);

// Deletes a work folder and its journal.
Status remove_work(const std::filesystem::path& work_dir);

}  // namespace snapkeep
