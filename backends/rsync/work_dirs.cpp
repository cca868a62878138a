#include "backends/rsync/work_dirs.hpp"

#include <unistd.h>

#include <algorithm>
#include <string>

#include <spdlog/spdlog.h>

#include "core/base/fsutil.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr std::string_view k_resume_prefix = "resume-";

}  // namespace

fs::path journal_of(const fs::path& work_dir) {
  fs::path journal = work_dir;
  journal += std::string(k_journal_suffix);
  return journal;
}

std::vector<std::pair<unsigned long, fs::path>> resume_dirs(const fs::path& state_dir) {
  std::vector<std::pair<unsigned long, fs::path>> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(state_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(k_resume_prefix, 0) != 0 || !entry.is_directory(ec) || entry.is_symlink(ec)) {
      continue;
    }
    try {
      std::size_t used = 0;
      unsigned long n = std::stoul(name.substr(k_resume_prefix.size()), &used);
      if (used + k_resume_prefix.size() == name.size()) {
        out.emplace_back(n, entry.path());
      }
    } catch (const std::exception&) {
      continue;
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

Result<std::vector<fs::path>> take_interrupted_work(const fs::path& state_dir, const std::string& preset,
                                                    std::size_t keep) {
  fs::path partial = state_dir / k_partial_name;
  auto resumes = resume_dirs(state_dir);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(partial, ec))) {
    unsigned long next = resumes.empty() ? 1 : resumes.front().first + 1;
    fs::path resume = state_dir / (std::string(k_resume_prefix) + std::to_string(next));
    spdlog::info("{}: resuming the interrupted backup left in {}", preset, partial.string());
    SNAPKEEP_TRY(rename_path(partial, resume));
    if (fs::exists(fs::symlink_status(journal_of(partial), ec))) {
      SNAPKEEP_TRY(rename_path(journal_of(partial), journal_of(resume)));
    }
    resumes.insert(resumes.begin(), {next, resume});
  } else {
    fs::remove(journal_of(partial), ec);  // a journal without its work: a finished or emptied run
  }
  while (resumes.size() > keep) {
    SNAPKEEP_TRY(remove_work(resumes.back().second));
    resumes.pop_back();
  }
  std::vector<fs::path> out;
  for (const auto& [n, dir] : resumes) {
    out.push_back(dir);
  }
  return out;
}

Status remove_work(const fs::path& work_dir) {
  SNAPKEEP_TRY(remove_tree(work_dir));
  if (::unlink(journal_of(work_dir).c_str()) != 0 && errno != ENOENT) {
    return sys_error("cannot remove", journal_of(work_dir));
  }
  return {};
}

}  // namespace snapkeep
