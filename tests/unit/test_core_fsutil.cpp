// Unit tests for core/fsutil: remove_tree (read-only folders, symlinks out of the tree, deep chains,
// hard links), write_file_atomic, dir_is_empty, path_is_within, make_dir, rename_path, count_extents,
// BackgroundRead.

#include <fcntl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/fd.hpp"
#include "core/base/fsutil.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::read_file;
using test::TempDir;
using test::write_file;

constexpr uid_t k_nobody = 65534;

// True when every folder from `dir` up to / lets others (nobody) search it.
bool others_can_reach(const fs::path& dir) {
  for (fs::path p = dir;; p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0 || (st.st_mode & S_IXOTH) == 0) {
      return false;
    }
    if (p == p.root_path()) {
      return true;
    }
  }
}

// A TempDir that nobody can reach when we are root: under $TMPDIR when every folder above it lets
// others search it (a private TMPDIR such as /root/tmp does not), else under the first of /tmp,
// /var/tmp and /dev/shm that does.
std::unique_ptr<TempDir> temp_dir_nobody_reaches() {
  auto dir = std::make_unique<TempDir>();
  if (::geteuid() != 0 || others_can_reach(dir->path().parent_path())) {
    return dir;
  }
  const char* old = std::getenv("TMPDIR");
  std::string saved = old != nullptr ? old : "";
  for (const char* base : {"/tmp", "/var/tmp", "/dev/shm"}) {
    if (others_can_reach(base)) {
      ::setenv("TMPDIR", base, 1);
      dir = std::make_unique<TempDir>();
      break;
    }
  }
  if (old != nullptr) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  return dir;
}

// Runs `body` without root's permission override: when we are root, as nobody in a forked child
// (after handing `tree` to nobody). `body` returns "" on success, else what went wrong (also when
// the child cannot reach the tree: make it with temp_dir_nobody_reaches()).
std::string run_unprivileged(const fs::path& tree, const std::function<std::string()>& body) {
  if (::geteuid() != 0) {
    return body();
  }
  if (test::run({"chown", "-R", "-h", std::to_string(k_nobody) + ":" + std::to_string(k_nobody), "--", tree.string()})
          .exit_code != 0) {
    return "cannot chown the test tree to nobody";
  }
  int fds[2];
  if (::pipe(fds) != 0) {
    return "pipe failed";
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    return "fork failed";
  }
  if (pid == 0) {
    ::close(fds[0]);
    std::string result;
    if (::setgroups(0, nullptr) != 0 || ::setgid(k_nobody) != 0 || ::setuid(k_nobody) != 0) {
      result = "cannot drop privileges";
    } else if (::access(tree.c_str(), X_OK) != 0) {
      result = "nobody cannot reach " + tree.string();
    } else {
      result = body();
    }
    (void)!::write(fds[1], result.data(), result.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string result;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
    result.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status)) {
    return "unprivileged child crashed";
  }
  return result;
}

// remove_tree as a body for run_unprivileged.
std::string remove_tree_body(const fs::path& root) {
  auto status = remove_tree(root);
  if (!status) {
    return "remove_tree failed: " + status.error().describe();
  }
  struct stat st {};
  if (::lstat(root.c_str(), &st) == 0 || errno != ENOENT) {
    return "root still exists after remove_tree";
  }
  return "";
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Temporarily lowers the soft limit of open files.
class ScopedFdLimit {
 public:
  explicit ScopedFdLimit(rlim_t soft) {
    ::getrlimit(RLIMIT_NOFILE, &m_old);
    struct rlimit lower = m_old;
    lower.rlim_cur = std::min<rlim_t>(soft, m_old.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &lower);
  }
  ~ScopedFdLimit() { ::setrlimit(RLIMIT_NOFILE, &m_old); }
  ScopedFdLimit(const ScopedFdLimit&) = delete;
  ScopedFdLimit& operator=(const ScopedFdLimit&) = delete;

 private:
  struct rlimit m_old {};
};

// Makes a chain root/d/d/d/... `depth` folders deep with a file at the bottom, through openat so
// that no path gets longer than PATH_MAX; the folder at `read_only_level` (if any) gets mode 0500.
void make_chain(const fs::path& root, int depth, int read_only_level = -1) {
  fs::create_directories(root);
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < depth; ++i) {
    ASSERT_EQ(::mkdirat(fd, "d", 0755), 0) << "level " << i << ": " << std::strerror(errno);
    int child = ::openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(child, 0) << "level " << i << ": " << std::strerror(errno);
    ::close(fd);
    fd = child;
  }
  int leaf = ::openat(fd, "leaf.txt", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(leaf, 0);
  ASSERT_EQ(::write(leaf, "bottom", 6), 6);
  ::close(leaf);
  ::close(fd);
  if (read_only_level >= 0) {
    std::string rel = "d";
    for (int i = 0; i < read_only_level; ++i) {
      rel += "/d";
    }
    ASSERT_EQ(::chmod((root / rel).c_str(), 0500), 0);
  }
}

TEST(CoreFsutil, RemoveTreeHandlesReadOnlyFolders) {
  auto tmp_dir = temp_dir_nobody_reaches();
  const TempDir& tmp = *tmp_dir;
  fs::path root = tmp / "snap";
  write_file(root / "ro" / "file.txt", "x");
  write_file(root / "none" / "file.txt", "x");
  write_file(root / "ro2" / "deep" / "file.txt", "x");
  write_file(root / "plain.txt", "x");
  fs::create_directories(root / "empty-ro");
  ::chmod((root / "ro2" / "deep").c_str(), 0500);
  ::chmod((root / "ro2").c_str(), 0500);
  ::chmod((root / "ro").c_str(), 0500);
  ::chmod((root / "none").c_str(), 0000);
  ::chmod((root / "empty-ro").c_str(), 0000);
  ::chmod(root.c_str(), 0500);
  std::string result = run_unprivileged(tmp.path(), [&] { return remove_tree_body(root); });
  EXPECT_EQ(result, "");
  EXPECT_FALSE(fs::exists(fs::symlink_status(root)));
}

TEST(CoreFsutil, RemoveTreeNeverFollowsSymlinksOutOfTheTree) {
  TempDir tmp;
  fs::path outside = tmp / "outside";
  write_file(outside / "target-dir" / "keep.txt", "keep me");
  write_file(outside / "target-file", "keep me too");
  ::chmod((outside / "target-dir").c_str(), 0500);  // would be made writable if followed
  fs::path root = tmp / "snap";
  fs::create_directories(root / "sub");
  fs::create_directory_symlink(outside / "target-dir", root / "link-dir");
  fs::create_symlink("../../outside/target-file", root / "sub" / "link-rel");
  fs::create_directory_symlink("..", root / "sub" / "loop");
  fs::create_symlink("nowhere", root / "dangling");
  fs::create_directory_symlink(outside, root / "sub" / "link-outside");

  auto status = remove_tree(root);
  ASSERT_TRUE(status.ok()) << status.error().describe();
  EXPECT_FALSE(fs::exists(fs::symlink_status(root)));
  EXPECT_EQ(read_file(outside / "target-dir" / "keep.txt"), "keep me");
  EXPECT_EQ(read_file(outside / "target-file"), "keep me too");
  EXPECT_EQ(test::stat_of(outside / "target-dir").st_mode & 07777, 0500U);
}

TEST(CoreFsutil, RemoveTreeOfASymlinkRemovesOnlyTheLink) {
  TempDir tmp;
  write_file(tmp / "real" / "keep.txt", "keep");
  fs::create_directory_symlink(tmp / "real", tmp / "link");
  auto status = remove_tree(tmp / "link");
  ASSERT_TRUE(status.ok()) << status.error().describe();
  EXPECT_FALSE(fs::exists(fs::symlink_status(tmp / "link")));
  EXPECT_EQ(read_file(tmp / "real" / "keep.txt"), "keep");
}

TEST(CoreFsutil, RemoveTreeOfThousandDeepChain) {
  TempDir tmp;
  fs::path root = tmp / "snap";
  make_chain(root, 1000, 500);
  auto status = remove_tree(root);
  ASSERT_TRUE(status.ok()) << status.error().describe();
  EXPECT_FALSE(fs::exists(fs::symlink_status(root)));
  EXPECT_EQ(names_in(tmp.path()), std::vector<std::string>{});
}

TEST(CoreFsutil, RemoveTreeOfChainDeeperThanTheOpenFileLimit) {
  // A source tree 1100 folders deep is legal and rsync copies it; with the common soft limit of
  // 1024 open files (systemd's default), deleting (pruning) its snapshot must still work.
  TempDir tmp;
  fs::path root = tmp / "snap";
  make_chain(root, 1100);
  Status status;
  {
    ScopedFdLimit limit(1024);
    status = remove_tree(root);
  }
  EXPECT_TRUE(status.ok()) << status.error().describe();
  EXPECT_FALSE(fs::exists(fs::symlink_status(root)));
}

TEST(CoreFsutil, RemoveTreeFarBelowTheRootStillHandlesEverything) {
  // Deep down (past where a remover might switch strategy to save file descriptors) the same rules
  // hold: read-only folders are emptied, symlinks are not followed, hard links elsewhere survive.
  auto tmp_dir = temp_dir_nobody_reaches();
  const TempDir& tmp = *tmp_dir;
  fs::path outside = tmp / "outside";
  write_file(outside / "keep.txt", "keep");
  write_file(outside / "dir" / "keep.txt", "keep");
  fs::path root = tmp / "snap";
  make_chain(root, 300);
  std::string rel = "d";
  for (int i = 1; i < 300; ++i) {
    rel += "/d";
  }
  int fd = ::open((root / rel).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  for (const char* sub : {"ro", "none", "wide"}) {
    ASSERT_EQ(::mkdirat(fd, sub, 0755), 0);
  }
  for (const char* file : {"ro/f", "none/f", "wide/f"}) {
    int f = ::openat(fd, file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(f, 0);
    ::close(f);
  }
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(::mkdirat(fd, ("wide/sub" + std::to_string(i)).c_str(), 0755), 0);
  }
  ASSERT_EQ(::symlinkat((outside / "dir").c_str(), fd, "out-dir"), 0);
  ASSERT_EQ(::symlinkat((outside / "keep.txt").c_str(), fd, "wide/out-file"), 0);
  ASSERT_EQ(::linkat(AT_FDCWD, (outside / "keep.txt").c_str(), fd, "hard", 0), 0);
  ASSERT_EQ(::fchmodat(fd, "ro", 0500, 0), 0);
  ASSERT_EQ(::fchmodat(fd, "none", 0000, 0), 0);
  ::close(fd);
  ::chmod((outside / "dir").c_str(), 0500);

  std::string result = run_unprivileged(tmp.path(), [&] { return remove_tree_body(root); });
  EXPECT_EQ(result, "");
  EXPECT_FALSE(fs::exists(fs::symlink_status(root)));
  EXPECT_EQ(read_file(outside / "keep.txt"), "keep");
  EXPECT_EQ(read_file(outside / "dir" / "keep.txt"), "keep");
  EXPECT_EQ(test::stat_of(outside / "keep.txt").st_nlink, 1U);
  EXPECT_EQ(test::stat_of(outside / "dir").st_mode & 07777, 0500U);
}

TEST(CoreFsutil, RemoveTreeWithHardLinksKeepsOutsideLinks) {
  TempDir tmp;
  fs::path root = tmp / "snap";
  write_file(root / "a.txt", "shared content");
  fs::create_directories(root / "sub");
  fs::create_hard_link(root / "a.txt", root / "b.txt");
  fs::create_hard_link(root / "a.txt", root / "sub" / "c.txt");
  fs::create_hard_link(root / "a.txt", tmp / "older-snapshot-copy.txt");
  ASSERT_EQ(test::stat_of(root / "a.txt").st_nlink, 4U);
  auto status = remove_tree(root);
  ASSERT_TRUE(status.ok()) << status.error().describe();
  EXPECT_FALSE(fs::exists(fs::symlink_status(root)));
  EXPECT_EQ(read_file(tmp / "older-snapshot-copy.txt"), "shared content");
  EXPECT_EQ(test::stat_of(tmp / "older-snapshot-copy.txt").st_nlink, 1U);
}

TEST(CoreFsutil, RemoveTreeRemovesSpecialFilesAndReportsProgress) {
  TempDir tmp;
  fs::path root = tmp / "snap";
  fs::create_directories(root / "many");
  write_file(root / "many" / "f0", "same inode");
  for (int i = 1; i < 4200; ++i) {  // hard links: cheap to make, still one entry each
    fs::create_hard_link(root / "many" / "f0", root / "many" / ("f" + std::to_string(i)));
  }
  ASSERT_EQ(::mkfifo((root / "fifo").c_str(), 0600), 0);
  fs::create_symlink("many/f0", root / "link");
  std::vector<std::uint64_t> reported;
  auto status = remove_tree(root, [&](std::uint64_t n) { reported.push_back(n); });
  ASSERT_TRUE(status.ok()) << status.error().describe();
  EXPECT_FALSE(fs::exists(fs::symlink_status(root)));
  ASSERT_FALSE(reported.empty()) << "no progress reported for 4203 entries";
  EXPECT_TRUE(std::is_sorted(reported.begin(), reported.end()));
  EXPECT_LE(reported.back(), 4203U);
}

TEST(CoreFsutil, RemoveTreeOfMissingRootIsSuccess) {
  TempDir tmp;
  EXPECT_TRUE(remove_tree(tmp / "not-there").ok());
  EXPECT_TRUE(remove_tree(tmp / "not-there" / "deeper").ok());
  EXPECT_EQ(names_in(tmp.path()), std::vector<std::string>{});
}

TEST(CoreFsutil, WriteFileAtomicCreatesFileAndLeavesNoTemporary) {
  TempDir tmp;
  auto status = write_file_atomic(tmp / "manifest", "content\n");
  ASSERT_TRUE(status.ok()) << status.error().describe();
  EXPECT_EQ(read_file(tmp / "manifest"), "content\n");
  EXPECT_EQ(names_in(tmp.path()), std::vector<std::string>{"manifest"});
}

TEST(CoreFsutil, WriteFileAtomicReplacesByRenameNotInPlace) {
  TempDir tmp;
  write_file(tmp / "manifest", "old content");
  fs::create_hard_link(tmp / "manifest", tmp / "reader-view");  // what a concurrent reader still has open
  ino_t before = test::inode_of(tmp / "manifest");
  auto status = write_file_atomic(tmp / "manifest", "new");
  ASSERT_TRUE(status.ok()) << status.error().describe();
  EXPECT_EQ(read_file(tmp / "manifest"), "new");
  EXPECT_EQ(read_file(tmp / "reader-view"), "old content");
  EXPECT_NE(test::inode_of(tmp / "manifest"), before);
  EXPECT_EQ(names_in(tmp.path()), (std::vector<std::string>{"manifest", "reader-view"}));
}

TEST(CoreFsutil, WriteFileAtomicKeepsBinaryAndEmptyContentAndOverwritesLeftoverTemporary) {
  TempDir tmp;
  write_file(tmp / "data.tmp", "left over by a killed run");
  std::string binary("a\0b\0\xff\n", 6);
  ASSERT_TRUE(write_file_atomic(tmp / "data", binary).ok());
  EXPECT_EQ(read_file(tmp / "data"), binary);
  ASSERT_TRUE(write_file_atomic(tmp / "empty", "").ok());
  EXPECT_EQ(read_file(tmp / "empty"), "");
  EXPECT_EQ(names_in(tmp.path()), (std::vector<std::string>{"data", "empty"}));
}

TEST(CoreFsutil, WriteFileAtomicIntoMissingFolderFailsNamingThePath) {
  TempDir tmp;
  auto status = write_file_atomic(tmp / "missing" / "file", "x");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().err, ENOENT);
  EXPECT_NE(status.error().describe().find((tmp / "missing").string()), std::string::npos) << status.error().describe();
  EXPECT_FALSE(fs::exists(tmp / "missing"));
}

TEST(CoreFsutil, DirIsEmpty) {
  TempDir tmp;
  fs::create_directories(tmp / "empty");
  fs::create_directories(tmp / "dotfile");
  write_file(tmp / "dotfile" / ".hidden", "");
  fs::create_directories(tmp / "subdir" / "x");
  auto empty = dir_is_empty(tmp / "empty");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(*empty);
  auto dotfile = dir_is_empty(tmp / "dotfile");
  ASSERT_TRUE(dotfile.ok());
  EXPECT_FALSE(*dotfile);
  auto subdir = dir_is_empty(tmp / "subdir");
  ASSERT_TRUE(subdir.ok());
  EXPECT_FALSE(*subdir);
}

TEST(CoreFsutil, DirIsEmptyErrorsNameThePath) {
  TempDir tmp;
  auto missing = dir_is_empty(tmp / "missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().err, ENOENT);
  EXPECT_NE(missing.error().describe().find((tmp / "missing").string()), std::string::npos);
  write_file(tmp / "file", "x");
  auto file = dir_is_empty(tmp / "file");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().err, ENOTDIR);
}

TEST(CoreFsutil, PathIsWithinSameAndChild) {
  TempDir tmp;
  fs::create_directories(tmp / "a" / "b" / "c");
  EXPECT_TRUE(path_is_within(tmp / "a" / "b", tmp / "a" / "b"));
  EXPECT_TRUE(path_is_within(tmp / "a" / "b", tmp.path() / "a" / "b" / ""));
  EXPECT_TRUE(path_is_within(tmp / "a" / "b" / "", tmp / "a" / "b"));
  EXPECT_TRUE(path_is_within(tmp / "a" / "b" / "c", tmp / "a" / "b"));
  EXPECT_TRUE(path_is_within(tmp / "a" / "b" / "not" / "yet" / "made", tmp / "a" / "b"));
  EXPECT_TRUE(path_is_within(tmp / "a" / "b", "/"));
  EXPECT_FALSE(path_is_within(tmp / "a", tmp / "a" / "b"));
}

TEST(CoreFsutil, PathIsWithinComparesWholeComponents) {
  TempDir tmp;
  fs::create_directories(tmp / "a" / "b");
  fs::create_directories(tmp / "a" / "bc");
  EXPECT_FALSE(path_is_within(tmp / "a" / "bc", tmp / "a" / "b"));
  EXPECT_FALSE(path_is_within(tmp / "a" / "bc" / "x", tmp / "a" / "b"));
  EXPECT_FALSE(path_is_within(tmp / "a" / "b", tmp / "a" / "bc"));
  EXPECT_FALSE(path_is_within(tmp / "a" / "b-backup", tmp / "a" / "b"));  // not even existing
}

TEST(CoreFsutil, PathIsWithinResolvesSymlinksAndDotDot) {
  TempDir tmp;
  fs::create_directories(tmp / "real" / "x");
  fs::create_directories(tmp / "other");
  fs::create_directory_symlink(tmp / "real", tmp / "link");
  fs::create_directory_symlink(tmp / "other", tmp / "real" / "escape");
  EXPECT_TRUE(path_is_within(tmp / "link" / "x", tmp / "real"));
  EXPECT_TRUE(path_is_within(tmp / "real" / "x", tmp / "link"));
  EXPECT_TRUE(path_is_within(tmp / "link", tmp / "real"));
  EXPECT_TRUE(path_is_within(tmp / "link" / "x" / "new", tmp / "real" / "x"));
  EXPECT_FALSE(path_is_within(tmp / "real" / "escape" / "y", tmp / "real"));  // symlink leads out
  EXPECT_FALSE(path_is_within(tmp / "real" / ".." / "other", tmp / "real"));
  EXPECT_TRUE(path_is_within(tmp / "real" / "x" / "..", tmp / "real"));
}

TEST(CoreFsutil, MakeDirAcceptsDirectoryButNotFileOrSymlink) {
  TempDir tmp;
  ASSERT_TRUE(make_dir(tmp / "state", 0700).ok());
  EXPECT_EQ(test::stat_of(tmp / "state").st_mode & 0777, 0700U);
  EXPECT_TRUE(make_dir(tmp / "state").ok());
  write_file(tmp / "file", "x");
  EXPECT_FALSE(make_dir(tmp / "file").ok());
  fs::create_directory_symlink(tmp / "state", tmp / "link");
  EXPECT_FALSE(make_dir(tmp / "link").ok());
  auto nested = make_dir(tmp / "missing" / "child");
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.error().err, ENOENT);
}

TEST(CoreFsutil, RenamePathErrorNamesBothPaths) {
  TempDir tmp;
  auto status = rename_path(tmp / "from", tmp / "to");
  ASSERT_FALSE(status.ok());
  std::string text = status.error().describe();
  EXPECT_NE(text.find((tmp / "from").string()), std::string::npos) << text;
  EXPECT_NE(text.find((tmp / "to").string()), std::string::npos) << text;
  EXPECT_EQ(status.error().err, ENOENT);
  write_file(tmp / "from", "x");
  ASSERT_TRUE(rename_path(tmp / "from", tmp / "to").ok());
  EXPECT_EQ(read_file(tmp / "to"), "x");
}

// Three blocks of data far apart in a sparse file are three extents; an empty file has none.
TEST(CoreFsutil, CountExtentsCountsSeparateRunsOfData) {
  TempDir tmp;
  const fs::path file = tmp.path() / "sparse";
  Fd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd);
  auto counted = count_extents(fd.get(), file);
  ASSERT_TRUE(counted.ok()) << counted.error().describe();
  EXPECT_EQ(*counted, 0u);
  const std::string block(4096, 'x');
  for (off_t at : {off_t{0}, off_t{1} << 20, off_t{2} << 20}) {
    ASSERT_EQ(::pwrite(fd.get(), block.data(), block.size(), at), static_cast<ssize_t>(block.size()));
  }
  ASSERT_EQ(::fsync(fd.get()), 0);
  counted = count_extents(fd.get(), file);
  ASSERT_TRUE(counted.ok()) << counted.error().describe();
  if (*counted == 0) {
    GTEST_SKIP() << tmp.path() << " is on a filesystem without FIEMAP";
  }
  EXPECT_EQ(*counted, 3u);
}

// Pages of `file` in the page cache, and of all.
std::pair<std::size_t, std::size_t> cached_pages(const fs::path& file) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  const auto size = static_cast<std::size_t>(fs::file_size(file));
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
  EXPECT_NE(map, MAP_FAILED);
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size + page - 1) / page);
  EXPECT_EQ(::mincore(map, size, resident.data()), 0);
  ::munmap(map, size);
  return {
      static_cast<std::size_t>(std::count_if(resident.begin(), resident.end(), [](unsigned char c) { return c & 1; })),
      resident.size()};
}

// The whole file is read, and is in the page cache afterwards.
TEST(CoreFsutil, BackgroundReadReadsTheWholeFileIntoThePageCache) {
  TempDir tmp;
  const fs::path file = tmp.path() / "manifest";
  write_file(file, std::string(5 << 20, 'm') + "end");
  {
    Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_EQ(::fdatasync(fd.get()), 0);
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
  }
  const auto [before, pages] = cached_pages(file);
  BackgroundRead read(file);
  EXPECT_EQ(read.finish(), (5u << 20) + 3);
  EXPECT_EQ(read.finish(), (5u << 20) + 3);  // again: nothing more to wait for
  const auto [after, same] = cached_pages(file);
  EXPECT_EQ(after, pages) << before << " of " << pages << " pages were cached before";
}

// A file that cannot be read: nothing is read, nothing fails; destroying one unfinished stops it.
TEST(CoreFsutil, BackgroundReadOfAMissingFileReadsNothing) {
  TempDir tmp;
  BackgroundRead missing(tmp.path() / "missing");
  EXPECT_EQ(missing.finish(), 0u);
  write_file(tmp.path() / "big", std::string(8 << 20, 'b'));
  { BackgroundRead dropped(tmp.path() / "big"); }
}

}  // namespace
}  // namespace snapkeep
