#include "tests/support/tree_state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <sstream>
#include <string_view>

#include <gtest/gtest.h>

#include "core/base/fd.hpp"
#include "tests/support/seeds.hpp"

namespace snapkeep::test::fault {
namespace {

// The entries below `dir` (whose relative path is `rel`) into `out`.
void describe_into(const std::filesystem::path& dir, const std::string& rel, TreeState& out, HashCache& cache) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    ADD_FAILURE() << "cannot open folder " << dir << ": " << std::strerror(errno);
    return;
  }
  std::vector<std::string> names;
  while (struct dirent* ent = ::readdir(d)) {
    std::string name = ent->d_name;
    if (name != "." && name != "..") {
      names.push_back(name);
    }
  }
  ::closedir(d);
  for (const auto& name : names) {
    std::filesystem::path path = dir / name;
    std::string child = rel.empty() ? name : rel + "/" + name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      ADD_FAILURE() << "lstat " << path << ": " << std::strerror(errno);
      continue;
    }
    Entry e;
    e.mode = st.st_mode;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.mtime = st.st_mtim.tv_sec;
    if (S_ISREG(st.st_mode)) {
      e.type = 'f';
      e.size = static_cast<std::uint64_t>(st.st_size);
      e.hash = cache.hash_of(path, st);
    } else if (S_ISDIR(st.st_mode)) {
      e.type = 'd';
    } else if (S_ISLNK(st.st_mode)) {
      e.type = 'l';
      std::error_code ec;
      e.target = std::filesystem::read_symlink(path, ec).string();
    } else {
      e.type = 'o';
    }
    out[child] = e;
    if (e.type == 'd') {
      describe_into(path, child, out, cache);
    }
  }
}

}  // namespace

std::string describe_entry(const Entry& e) {
  std::ostringstream os;
  os << e.type << " mode=" << std::oct << e.mode << std::dec << " owner=" << e.uid << ":" << e.gid << " size=" << e.size
     << " mtime=" << e.mtime << " hash=" << std::hex << e.hash << std::dec;
  if (e.type == 'l') {
    os << " -> " << e.target;
  }
  return os.str();
}

std::uint64_t HashCache::hash_of(const std::filesystem::path& path, const struct stat& st) {
  Key key{st.st_dev,         st.st_ino,          static_cast<std::uint64_t>(st.st_size),
          st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_ctim.tv_sec,
          st.st_ctim.tv_nsec};
  if (auto it = m_hashes.find(key); it != m_hashes.end()) {
    return it->second;
  }
  std::uint64_t h = hash_file(path);
  m_hashes.emplace(key, h);
  return h;
}

std::uint64_t HashCache::hash_file(const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    ADD_FAILURE() << "cannot open " << path << ": " << std::strerror(errno);
    return 0;
  }
  std::string data;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      ADD_FAILURE() << "cannot read " << path << ": " << std::strerror(errno);
      break;
    }
    if (n == 0) {
      break;
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
  m_bytes += data.size();
  return mix64(std::hash<std::string_view>{}(data) ^ data.size());
}

TreeState describe_tree(const std::filesystem::path& root, HashCache& cache) {
  TreeState out;
  struct stat st {};
  if (::lstat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    ADD_FAILURE() << root << " is not a folder";
    return out;
  }
  Entry e;
  e.type = 'd';
  e.mode = st.st_mode;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.mtime = st.st_mtim.tv_sec;
  out["."] = e;
  describe_into(root, "", out, cache);
  return out;
}

std::vector<std::string> state_differences(const TreeState& expected, const TreeState& actual, std::size_t limit) {
  std::vector<std::string> out;
  std::size_t total = 0;
  auto add = [&](const std::string& line) {
    if (++total <= limit) {
      out.push_back(line);
    }
  };
  for (const auto& [path, e] : expected) {
    auto it = actual.find(path);
    if (it == actual.end()) {
      add("missing: " + path + " (" + describe_entry(e) + ")");
    } else if (!(it->second == e)) {
      add("differs: " + path + "\n      expected " + describe_entry(e) + "\n      actual   " +
          describe_entry(it->second));
    }
  }
  for (const auto& [path, e] : actual) {
    if (expected.count(path) == 0) {
      add("unexpected: " + path + " (" + describe_entry(e) + ")");
    }
  }
  if (total > limit) {
    out.push_back("... and " + std::to_string(total - limit) + " more");
  }
  return out;
}

std::uint64_t total_file_bytes(const TreeState& state) {
  std::uint64_t total = 0;
  for (const auto& [path, e] : state) {
    if (e.type == 'f') {
      total += e.size;
    }
  }
  return total;
}

std::uint64_t changed_file_bytes(const TreeState& from, const TreeState& to) {
  std::uint64_t total = 0;
  for (const auto& [path, e] : to) {
    auto it = from.find(path);
    if (e.type == 'f' && (it == from.end() || !(it->second == e))) {
      total += e.size;
    }
  }
  return total;
}

}  // namespace snapkeep::test::fault
