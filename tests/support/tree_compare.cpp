#include "tests/support/tree_compare.hpp"

#include <sys/stat.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/support/testutil.hpp"

namespace snapkeep::test {

TreeCompare whole_second_mtimes() {
  TreeCompare what;
  what.mtime_ns = false;
  return what;
}

std::string link_target(const fs::path& link) {
  std::error_code ec;
  fs::path target = fs::read_symlink(link, ec);
  if (ec) {
    ADD_FAILURE() << "readlink " << link << ": " << ec.message();
    return {};
  }
  return target.string();
}

std::map<std::string, std::string> xattrs_of(const fs::path& path) {
  std::map<std::string, std::string> out;
  ssize_t size = ::llistxattr(path.c_str(), nullptr, 0);
  if (size <= 0) {
    return out;
  }
  std::string names(static_cast<std::size_t>(size), '\0');
  size = ::llistxattr(path.c_str(), names.data(), names.size());
  if (size <= 0) {
    return out;
  }
  names.resize(static_cast<std::size_t>(size));
  for (std::size_t pos = 0; pos < names.size();) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    ssize_t vsize = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    std::string value(vsize > 0 ? static_cast<std::size_t>(vsize) : 0, '\0');
    if (vsize > 0) {
      vsize = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
      value.resize(vsize > 0 ? static_cast<std::size_t>(vsize) : 0);
    }
    out[name] = value;
  }
  return out;
}

std::string printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::vector<fs::path> tree_entries(const fs::path& root) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    out.push_back(it->path().lexically_relative(root));
  }
  if (ec) {
    ADD_FAILURE() << "cannot walk " << root << ": " << ec.message();
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> tree_differences(const fs::path& a, const fs::path& b, const TreeCompare& what) {
  std::vector<std::string> diffs;
  auto ea = tree_entries(a);
  auto eb = tree_entries(b);
  std::set<fs::path> sb(eb.begin(), eb.end());
  std::set<fs::path> sa(ea.begin(), ea.end());
  for (const auto& rel : eb) {
    if (sa.count(rel) == 0) {
      diffs.push_back("only in " + b.string() + ": " + printable(rel.string()));
    }
  }
  std::vector<fs::path> both;
  for (const auto& rel : ea) {
    if (sb.count(rel) == 0) {
      diffs.push_back("only in " + a.string() + ": " + printable(rel.string()));
    } else {
      both.push_back(rel);
    }
  }
  if (what.root) {
    both.insert(both.begin(), fs::path());
  }
  std::map<ino_t, ino_t> inode_map;  // inode in a -> inode in b
  std::map<ino_t, ino_t> inode_back;
  for (const auto& rel : both) {
    fs::path pa = rel.empty() ? a : a / rel;
    fs::path pb = rel.empty() ? b : b / rel;
    std::string name = rel.empty() ? "(root)" : printable(rel.string());
    struct stat sta {};
    struct stat stb {};
    if (::lstat(pa.c_str(), &sta) != 0 || ::lstat(pb.c_str(), &stb) != 0) {
      diffs.push_back(name + ": lstat failed");
      continue;
    }
    if ((sta.st_mode & S_IFMT) != (stb.st_mode & S_IFMT)) {
      diffs.push_back(name + ": file type differs");
      continue;
    }
    if (what.modes && sta.st_mode != stb.st_mode) {
      std::ostringstream os;
      os << name << ": mode " << std::oct << sta.st_mode << " vs " << stb.st_mode;
      diffs.push_back(os.str());
    }
    if (what.owners && (sta.st_uid != stb.st_uid || sta.st_gid != stb.st_gid)) {
      diffs.push_back(name + ": owner " + std::to_string(sta.st_uid) + ":" + std::to_string(sta.st_gid) + " vs " +
                      std::to_string(stb.st_uid) + ":" + std::to_string(stb.st_gid));
    }
    if (what.mtimes &&
        (sta.st_mtim.tv_sec != stb.st_mtim.tv_sec || (what.mtime_ns && sta.st_mtim.tv_nsec != stb.st_mtim.tv_nsec))) {
      diffs.push_back(name + ": mtime " + std::to_string(sta.st_mtim.tv_sec) + "." +
                      std::to_string(sta.st_mtim.tv_nsec) + " vs " + std::to_string(stb.st_mtim.tv_sec) + "." +
                      std::to_string(stb.st_mtim.tv_nsec));
    }
    if (S_ISREG(sta.st_mode)) {
      if (sta.st_size != stb.st_size) {
        diffs.push_back(name + ": size " + std::to_string(sta.st_size) + " vs " + std::to_string(stb.st_size));
      } else if (read_file(pa) != read_file(pb)) {
        diffs.push_back(name + ": contents differ");
      }
      if (what.hard_links && sta.st_nlink > 1) {
        auto [it, fresh] = inode_map.emplace(sta.st_ino, stb.st_ino);
        if (!fresh && it->second != stb.st_ino) {
          diffs.push_back(name + ": hard link to an earlier entry was broken");
        }
      }
      if (what.hard_links && stb.st_nlink > 1) {
        auto [it, fresh] = inode_back.emplace(stb.st_ino, sta.st_ino);
        if (!fresh && it->second != sta.st_ino) {
          diffs.push_back(name + ": linked to an entry it is not linked to in " + a.string());
        }
      }
    }
    if (S_ISLNK(sta.st_mode) && link_target(pa) != link_target(pb)) {
      diffs.push_back(name + ": symlink target '" + printable(link_target(pa)) + "' vs '" + printable(link_target(pb)) +
                      "'");
    }
    if (what.xattrs && xattrs_of(pa) != xattrs_of(pb)) {
      diffs.push_back(name + ": extended attributes differ");
    }
  }
  return diffs;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) {
    out += "  " + line + "\n";
  }
  return out;
}

}  // namespace snapkeep::test
