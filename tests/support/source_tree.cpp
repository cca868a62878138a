#include "tests/support/source_tree.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <gtest/gtest.h>

#include "core/base/fd.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test::fault {
namespace {

// dir/name, or name in the root.
std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

// A file size: mostly below 8 KiB, some of 16-128 KiB, a few of 256 KiB-1 MiB.
std::size_t random_size(std::mt19937_64& rng) {
  unsigned r = static_cast<unsigned>(rng() % 100);
  if (r < 88) {
    return rng() % (8 * k_kib);
  }
  if (r < 98) {
    return 16 * k_kib + rng() % (112 * k_kib);
  }
  return 256 * k_kib + rng() % (768 * k_kib);
}

}  // namespace

void SourceTree::populate(std::mt19937_64& rng) {
  std::vector<std::string> folders{"",    "docs",    "docs/old",     "photos", "photos/2025", "photos/2026",
                                   "src", "src/lib", "src/lib/deep", "mail",   "mail/inbox",  "var"};
  for (const auto& f : folders) {
    fs::create_directories(m_root / f);
  }
  fs::create_directories(m_root / "empty");
  for (int i = 0; i < 300; ++i) {
    const std::string& folder = folders[rng() % folders.size()];
    write_whole(join(folder, "f" + std::to_string(m_names++)), random_size(rng), rng());
  }
  auto files = list(true);
  for (int i = 0; i < 6; ++i) {
    const std::string& target = files[rng() % files.size()];
    fs::path link = m_root / ("link" + std::to_string(i));
    fs::create_symlink(i % 2 == 0 ? fs::path(target) : fs::path("missing/" + target), link);
    set_time(link, next_mtime());
  }
  for (int i = 0; i < 6; ++i) {
    const std::string& rel = files[rng() % files.size()];
    EXPECT_EQ(::chown((m_root / rel).c_str(), 1234, 5678), 0);
    ::chmod((m_root / rel).c_str(), i % 2 == 0 ? 0600 : 0755);
    forget(rel);
  }
}

std::string SourceTree::mutate(std::mt19937_64& rng) {
  std::ostringstream log;
  int ops = 6 + static_cast<int>(rng() % 15);
  for (int op = 0; op < ops; ++op) {
    auto files = list(true);
    if (files.empty()) {
      write_whole("f" + std::to_string(m_names++), random_size(rng), rng());
      continue;
    }
    const std::string rel = files[rng() % files.size()];
    unsigned kind = static_cast<unsigned>(rng() % 100);
    if (kind < 28) {
      write_whole(rel, random_size(rng), rng());
      log << " rewrite " << rel;
    } else if (kind < 40) {
      edit_in_place(rel, rng);
      log << " edit " << rel;
    } else if (kind < 47) {
      append(rel, rng);
      log << " append " << rel;
    } else if (kind < 56) {
      fs::remove(m_root / rel);
      forget(rel);
      log << " delete " << rel;
    } else if (kind < 70) {
      auto dirs = list(false);
      std::string name = join(dirs[rng() % dirs.size()], "n" + std::to_string(m_names++));
      write_whole(name, random_size(rng), rng());
      log << " create " << name;
    } else if (kind < 75) {
      static const mode_t modes[] = {0600, 0640, 0644, 0755};
      ::chmod((m_root / rel).c_str(), modes[rng() % 4]);
      forget(rel);
      log << " chmod " << rel;
    } else if (kind < 81) {
      auto dirs = list(false);
      std::string to = join(dirs[rng() % dirs.size()], "r" + std::to_string(m_names++));
      fs::rename(m_root / rel, m_root / to);
      move_versions(rel, to);
      log << " rename " << rel << " " << to;
    } else if (kind < 85) {
      std::string dir = "dir" + std::to_string(m_names++);
      for (int i = 0; i < 3; ++i) {
        write_whole(dir + "/g" + std::to_string(i), random_size(rng), rng());
      }
      log << " mkdir " << dir;
    } else if (kind < 88) {
      remove_a_folder(rng, log);
    } else if (kind < 93) {
      fs::path link = m_root / ("link" + std::to_string(rng() % 8));
      std::error_code ec;
      fs::remove(link, ec);
      fs::create_symlink(rel, link);
      set_time(link, next_mtime());
      log << " symlink " << link.filename().string();
    } else {
      revert(rng, log);
    }
  }
  big_write(rng, log);
  return log.str();
}

std::vector<std::string> SourceTree::list(bool files) const {
  std::vector<std::string> out;
  if (!files) {
    out.emplace_back();
  }
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(m_root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::string rel = it->path().lexically_relative(m_root).string();
    if (rel == "empty" || rel.rfind("big", 0) == 0) {
      continue;
    }
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) {
      continue;
    }
    if (files ? S_ISREG(st.st_mode) : S_ISDIR(st.st_mode)) {
      out.push_back(rel);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void SourceTree::write_whole(const std::string& rel, std::size_t size, std::uint64_t seed) {
  write_random_file(m_root / rel, size, static_cast<unsigned>(seed ^ (seed >> 32)));
  Version v{seed, size, next_mtime()};
  set_time(m_root / rel, v.mtime);
  if (auto it = m_versions.find(rel); it != m_versions.end()) {
    m_previous[rel] = it->second;
  }
  m_versions[rel] = v;
}

void SourceTree::forget(const std::string& rel) {
  m_versions.erase(rel);
  m_previous.erase(rel);
}

void SourceTree::move_versions(const std::string& from, const std::string& to) {
  for (auto* map : {&m_versions, &m_previous}) {
    if (auto it = map->find(from); it != map->end()) {
      (*map)[to] = it->second;
      map->erase(it);
    }
  }
}

void SourceTree::edit_in_place(const std::string& rel, std::mt19937_64& rng) {
  fs::path path = m_root / rel;
  auto size = static_cast<std::size_t>(stat_of(path).st_size);
  if (size == 0) {
    write_whole(rel, 1 + rng() % 4096, rng());
    return;
  }
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid()) << path << ": " << std::strerror(errno);
  std::string bytes(1 + rng() % 64, '\0');
  for (auto& c : bytes) {
    c = static_cast<char>(rng());
  }
  auto offset = static_cast<off_t>(rng() % size);
  std::size_t n = std::min(bytes.size(), size - static_cast<std::size_t>(offset));
  EXPECT_EQ(::pwrite(fd.get(), bytes.data(), n, offset), static_cast<ssize_t>(n));
  fd.reset();
  set_time(path, next_mtime());
  forget(rel);
}

void SourceTree::append(const std::string& rel, std::mt19937_64& rng) {
  std::ofstream out(m_root / rel, std::ios::binary | std::ios::app);
  std::string bytes(1 + rng() % 8192, '\0');
  for (auto& c : bytes) {
    c = static_cast<char>(rng());
  }
  out << bytes;
  out.close();
  set_time(m_root / rel, next_mtime());
  forget(rel);
}

void SourceTree::remove_a_folder(std::mt19937_64& rng, std::ostringstream& log) {
  auto dirs = list(false);
  if (dirs.size() < 8) {
    return;
  }
  const std::string& dir = dirs[1 + rng() % (dirs.size() - 1)];
  for (auto it = m_versions.begin(); it != m_versions.end();) {
    it = it->first.rfind(dir + "/", 0) == 0 ? m_versions.erase(it) : std::next(it);
  }
  for (auto it = m_previous.begin(); it != m_previous.end();) {
    it = it->first.rfind(dir + "/", 0) == 0 ? m_previous.erase(it) : std::next(it);
  }
  fs::remove_all(m_root / dir);
  log << " rmdir " << dir;
}

void SourceTree::revert(std::mt19937_64& rng, std::ostringstream& log) {
  std::vector<std::string> candidates;
  for (const auto& [rel, v] : m_previous) {
    if (m_versions.count(rel) != 0 && fs::exists(m_root / rel)) {
      candidates.push_back(rel);
    }
  }
  if (candidates.empty()) {
    return;
  }
  const std::string rel = candidates[rng() % candidates.size()];
  Version old = m_previous[rel];
  write_random_file(m_root / rel, old.size, static_cast<unsigned>(old.seed ^ (old.seed >> 32)));
  set_time(m_root / rel, old.mtime);
  m_previous[rel] = m_versions[rel];
  m_versions[rel] = old;
  log << " revert " << rel;
}

void SourceTree::big_write(std::mt19937_64& rng, std::ostringstream& log) {
  std::string rel = "big/b" + std::to_string(rng() % 5);
  std::error_code ec;
  std::size_t bigs = 0;
  for (const auto& entry : fs::directory_iterator(m_root / "big", ec)) {
    (void)entry;
    ++bigs;
  }
  if (bigs >= 4 && !fs::exists(m_root / rel)) {
    for (const auto& entry : fs::directory_iterator(m_root / "big", ec)) {
      fs::remove(entry.path());
      forget(entry.path().lexically_relative(m_root).string());
      break;
    }
  }
  write_whole(rel, 512 * k_kib + rng() % (1024 * k_kib), rng());
  log << " big " << rel;
}

}  // namespace snapkeep::test::fault
