// Hostile paths and restore safety (issue 6), through the built CLI on loop-mounted ext4:
// source and destination PATHS with newlines, leading dashes, $(...), backticks, ';', invalid UTF-8
// and blanks; 255-byte names; a 4000-deep tree; symlinks pointing out of the source; a source
// folder replaced by a symlink between runs; files vanishing or growing during a backup; restores
// that must never write outside --to, refuse a non-empty target without --force, and keep metadata.
// SPEC §4.5: no shell is ever run and no path is ever read as an option.

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/file_probes.hpp"
#include "tests/support/processes.hpp"
#include "tests/support/testutil.hpp"
#include "tests/support/tree_compare.hpp"

// Whether this test binary (and so the snapkeep binary of the same tree) runs under ASan.
#if defined(__SANITIZE_ADDRESS__)
#define SNAPKEEP_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SNAPKEEP_UNDER_ASAN 1
#endif
#endif
#ifndef SNAPKEEP_UNDER_ASAN
#define SNAPKEEP_UNDER_ASAN 0
#endif

namespace snapkeep::test {
namespace {

using namespace std::chrono_literals;

// How many hostile path situations this binary exercised (printed at the end for docs/reliability.md).
int g_paths_tried = 0;

// Prints the tally once all tests ran.
class HostileTally : public ::testing::Environment {
 public:
  void TearDown() override {
    if (g_paths_tried > 0) {
      std::printf("HOSTILE: configs=0 paths=%d\n", g_paths_tried);
    }
  }
};
const auto* const k_tally = ::testing::AddGlobalTestEnvironment(new HostileTally);

// A temporary folder (config, outside folders) and an ext4 loop mount for sources and backups.
struct Rig {
  explicit Rig(unsigned mib = 96) : loop("ext4", mib) {}
  // True when the loop filesystem is mounted; then counts `paths` more hostile path situations as tried.
  bool ready(int paths = 1) const {
    if (!loop.ok()) {
      return false;
    }
    g_paths_tried += paths;
    return true;
  }
  // LOOP/dest, made here: the destination folder of most tests.
  fs::path make_dest() const {
    fs::path dest = loop.mount_point() / "dest";
    fs::create_directories(dest);
    return dest;
  }
  // Writes a one-preset config at `config`.
  void configure(const std::string& preset, const fs::path& source, const fs::path& destination,
                 const std::string& extra = "") {
    write_preset_config(config, preset, source, destination, extra);
  }
  RunResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {"-c", config.string()});
    return snapkeep(args);
  }

  TempDir tmp;
  LoopFs loop;
  fs::path config = tmp / "snapkeep.ini";
};

// Every entry below root with type, mode, owner, size, mtime, link target and content: equal
// fingerprints mean the tree was not changed.
std::vector<std::string> fingerprint(const fs::path& root) {
  std::vector<std::string> out;
  std::vector<fs::path> entries = tree_entries(root);
  entries.insert(entries.begin(), fs::path());
  for (const fs::path& rel : entries) {
    const fs::path p = rel.empty() ? root : root / rel;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      out.push_back(printable(rel.string()) + " lstat failed");
      continue;
    }
    std::string line = printable(rel.string()) + " mode=" + std::to_string(st.st_mode) +
                       " uid=" + std::to_string(st.st_uid) + " size=" + std::to_string(st.st_size) +
                       " ino=" + std::to_string(st.st_ino) + " mtime=" + std::to_string(st.st_mtim.tv_sec) + "." +
                       std::to_string(st.st_mtim.tv_nsec);
    if (S_ISREG(st.st_mode)) {
      line += " data=" + printable(read_file(p));
    } else if (S_ISLNK(st.st_mode)) {
      line += " -> " + printable(link_target(p));
    }
    out.push_back(line);
  }
  return out;
}

// Marker files a shell would have made: none may exist.
void expect_no_markers(const std::vector<fs::path>& markers) {
  for (const fs::path& m : markers) {
    EXPECT_FALSE(exists_nofollow(m)) << printable(m.string()) << " exists: a path was run by a shell";
  }
}

// The id of the newest snapshot in preset_dir ("" and a failure when there is none).
std::string newest_id(const fs::path& preset_dir) {
  auto ids = snapshot_ids(preset_dir);
  if (ids.empty()) {
    ADD_FAILURE() << "no snapshot in " << printable(preset_dir.string());
    return {};
  }
  return ids.back();
}

// ---------------------------------------------------------------------------------------------
// Hostile source and destination paths

TEST(HostilePaths, SourceAndDestinationPathsNeverRunOrParsedAsOptions) {
  SNAPKEEP_REQUIRE_ROOT();
  Rig rig(128);
  ASSERT_TRUE(rig.loop.ok());
  const std::string m = "/tmp/snapkeep-hostile-" + std::to_string(::getpid());
  const std::vector<fs::path> markers = {m + "-dollar", m + "-bt", m + "-semi", m + "-rsh", m + "-e"};
  for (const auto& marker : markers) {
    fs::remove(marker);
  }
  const std::vector<std::string> hostile = {
      "new\nline",
      "-rf",
      "--delete",
      "--rsh=touch " + m + "-rsh",
      "-e touch " + m + "-e",
      "$(touch " + m + "-dollar)",
      "`touch " + m + "-bt`",
      "a;touch " + m + "-semi;b",
      "\xff\xfe\x80 not utf-8 \xc3",
      "with  two   spaces",
  };
  for (std::size_t i = 0; i < hostile.size(); ++i) {
    const std::string& s = hostile[i];
    SCOPED_TRACE("hostile path part: " + printable(s));
    ++g_paths_tried;
    // The config lives in a folder named s, so a newline (which no INI value can hold) reaches the
    // paths through relative-path resolution; other values contain s themselves.
    const fs::path base = rig.loop.mount_point() / ("case" + std::to_string(i)) / s;
    const bool newline = s.find('\n') != std::string::npos;
    const std::string src_value = newline ? std::string("src") : s;
    const std::string dest_value = newline ? std::string("dest") : s + ".dest";
    const fs::path src = base / src_value;
    const fs::path dest = base / dest_value;
    // A preset name cannot hold '/' or control characters; keep the rest of s.
    std::string preset = s;
    for (char& c : preset) {
      if (c == '/' || static_cast<unsigned char>(c) < 0x20) {
        c = '_';
      }
    }
    const fs::path config = base / "snapkeep.ini";
    write_file(config,
               "[" + preset + "]\nsource = " + src_value + "\ndestination = " + dest_value + "\nrequire_mount = no\n");
    fs::create_directories(dest);
    write_file(src / "plain.txt", "plain\n");
    write_file(src / (s + ".txt"), "named like the path: " + printable(s) + "\n");
    write_file(src / "sub" / s / "deeper.txt", "deeper\n");

    RunResult r = snapkeep({"-c", config.string(), "backup"});
    ASSERT_EQ(r.exit_code, 0) << printable(r.err);
    const fs::path preset_dir = dest / preset;
    const std::string id = newest_id(preset_dir);
    ASSERT_FALSE(id.empty());
    auto diffs = tree_differences(src, preset_dir / id, whole_second_mtimes());
    EXPECT_TRUE(diffs.empty()) << join_lines(diffs);

    RunResult list = snapkeep({"-c", config.string(), "list"});
    EXPECT_EQ(list.exit_code, 0) << printable(list.err);
    EXPECT_NE(list.out.find(id), std::string::npos) << printable(list.out);
    RunResult json = snapkeep({"-c", config.string(), "--json", "list"});
    EXPECT_EQ(json.exit_code, 0) << printable(json.err);
    auto doc = nlohmann::json::parse(json.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << "--json list is not JSON: " << printable(json.out);
    if (!doc.is_discarded()) {
      EXPECT_EQ(doc["presets"][0]["snapshots"].size(), 1u) << printable(json.out);
    }

    // Restore everything, then one hostile path, into targets whose own paths are hostile.
    const fs::path all = base / ("restored " + src_value);
    RunResult rest = snapkeep({"-c", config.string(), "restore", "--to", all.string(), "--", preset, "latest"});
    ASSERT_EQ(rest.exit_code, 0) << printable(rest.err);
    diffs = tree_differences(src, all, whole_second_mtimes());
    EXPECT_TRUE(diffs.empty()) << join_lines(diffs);
    const fs::path one = base / ("one " + src_value);
    rest = snapkeep({"-c", config.string(), "restore", "--to", one.string(), "--", preset, id, s + ".txt"});
    ASSERT_EQ(rest.exit_code, 0) << printable(rest.err);
    EXPECT_EQ(read_file(one / fs::path(s + ".txt").filename()), "named like the path: " + printable(s) + "\n");

    // A second, incremental run links the unchanged files.
    RunResult again = snapkeep({"-c", config.string(), "backup"});
    ASSERT_EQ(again.exit_code, 0) << printable(again.err);
    const std::string second = newest_id(preset_dir);
    ASSERT_NE(second, id);
    EXPECT_EQ(inode_of(preset_dir / id / "plain.txt"), inode_of(preset_dir / second / "plain.txt"));
    expect_no_markers(markers);
  }
  expect_no_markers(markers);
}

TEST(HostilePaths, NamesOf255BytesInSourceDestinationAndTree) {
  SNAPKEEP_REQUIRE_ROOT();
  Rig rig;
  ASSERT_TRUE(rig.ready());
  const std::string n255(255, 's');
  const std::string d255(255, 'd');
  const std::string preset(200, 'p');
  const fs::path src = rig.loop.mount_point() / n255;
  const fs::path dest = rig.loop.mount_point() / d255;
  fs::create_directories(dest);
  write_file(src / std::string(255, 'f'), "255-byte file name\n");
  write_file(src / (std::string(253, 'u') + "\xc3\xa9"), "255 bytes with a two-byte character\n");
  fs::path nested = src;
  for (int i = 0; i < 10; ++i) {
    nested /= std::string(255, static_cast<char>('a' + i));
  }
  write_file(nested / std::string(255, 'z'), "2.8 KB below the source\n");
  fs::create_symlink(std::string(255, 't'), src / std::string(255, 'l'));
  rig.configure(preset, src, dest);

  RunResult r = rig.cli({"backup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path preset_dir = dest / preset;
  const std::string id = newest_id(preset_dir);
  ASSERT_FALSE(id.empty());
  auto diffs = tree_differences(src, preset_dir / id, whole_second_mtimes());
  EXPECT_TRUE(diffs.empty()) << join_lines(diffs);
  RunResult list = rig.cli({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find(id), std::string::npos);
  const fs::path target = rig.loop.mount_point() / std::string(255, 'r');
  RunResult rest = rig.cli({"restore", preset, "latest", "--to", target.string()});
  ASSERT_EQ(rest.exit_code, 0) << rest.err;
  diffs = tree_differences(src, target, whole_second_mtimes());
  EXPECT_TRUE(diffs.empty()) << join_lines(diffs);
}

// ---------------------------------------------------------------------------------------------
// A 4000-deep tree (paths far beyond PATH_MAX): made and checked with *at() calls only.

constexpr int k_deep = 4000;

// Makes root/d/d/.../d (depth levels) with mkdirat and a leaf.txt at the bottom.
void make_deep_tree(const fs::path& root, int depth, const std::string& leaf) {
  fs::create_directories(root);
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < depth; ++i) {
    ASSERT_EQ(::mkdirat(fd, "d", 0755), 0) << "mkdirat at depth " << i << ": " << std::strerror(errno);
    int next = ::openat(fd, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    ::close(fd);
    ASSERT_GE(next, 0);
    fd = next;
  }
  int out = ::openat(fd, "leaf.txt", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ::close(fd);
  ASSERT_GE(out, 0);
  ASSERT_EQ(::write(out, leaf.data(), leaf.size()), static_cast<ssize_t>(leaf.size()));
  ::close(out);
}

// Walks root/d/d/... with openat; returns the depth and the leaf's content (or "" if missing).
std::pair<int, std::string> walk_deep_tree(const fs::path& root) {
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return {-1, ""};
  }
  int depth = 0;
  for (;;) {
    int next = ::openat(fd, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      break;
    }
    ::close(fd);
    fd = next;
    ++depth;
  }
  std::string leaf;
  int in = ::openat(fd, "leaf.txt", O_RDONLY | O_CLOEXEC);
  if (in >= 0) {
    char buf[256];
    ssize_t n = ::read(in, buf, sizeof buf);
    if (n > 0) {
      leaf.assign(buf, static_cast<std::size_t>(n));
    }
    ::close(in);
  }
  ::close(fd);
  return {depth, leaf};
}

// rsync (3.2-3.5) cannot copy below about 1000 levels or past 4095-byte paths: with transfer =
// rsync a 4000-deep source fails cleanly, with the cause named and nothing half-made (docs/usage.md
// "Limits"). The native engine works with *at() calls and copies it.
TEST(HostilePaths, Tree4000DeepFailsCleanlyWithRsync) {
  SNAPKEEP_REQUIRE_ROOT();
  Rig rig;
  ASSERT_TRUE(rig.ready());
  const fs::path src = rig.loop.mount_point() / "deep-src";
  const fs::path dest = rig.make_dest();
  make_deep_tree(src, k_deep, "at the bottom\n");
  ASSERT_EQ(walk_deep_tree(src), std::make_pair(k_deep, std::string("at the bottom\n")));
  rig.configure("deep", src, dest, "transfer = rsync\n");
  const fs::path preset_dir = dest / "deep";

  RunResult first = rig.cli({"backup"});
  EXPECT_EQ(first.exit_code, 1) << first.err.substr(0, 2000);
  EXPECT_NE(first.err.find("rsync exited with status 23"), std::string::npos) << first.err.substr(0, 2000);
  EXPECT_TRUE(snapshot_ids(preset_dir).empty());
  EXPECT_FALSE(exists_nofollow(preset_dir / "latest"));
  // The unfinished copy (resumable, never a snapshot) can still be removed: prune's deleter climbs
  // back with ".." instead of long paths.
  EXPECT_EQ(rig.cli({"list"}).exit_code, 0);
}

TEST(HostilePaths, Tree4000DeepIsCopiedByTheNativeEngine) {
  SNAPKEEP_REQUIRE_ROOT();
#if SNAPKEEP_UNDER_ASAN
  // Under AddressSanitizer every frame carries redzones (several times the stack of the real
  // build), so the children get a larger stack; the real build runs it with the default 8 MiB.
  struct rlimit stack {};
  ::getrlimit(RLIMIT_STACK, &stack);
  const struct rlimit saved = stack;
  stack.rlim_cur = stack.rlim_max == RLIM_INFINITY ? 256UL << 20 : std::min<rlim_t>(stack.rlim_max, 256UL << 20);
  ::setrlimit(RLIMIT_STACK, &stack);
  struct Restore {
    struct rlimit limit;
    ~Restore() { ::setrlimit(RLIMIT_STACK, &limit); }
  } restore{saved};
#endif
  // Room for the source, two copies and two manifests of about 2.5 times the paths' 16 MB: a record
  // longer than a manifest page (paths of up to 8 KB here) pads to whole 4 KiB blocks, and the page
  // table names its path again.
  Rig rig(256);
  ASSERT_TRUE(rig.ready());
  const fs::path src = rig.loop.mount_point() / "deep-src";
  const fs::path dest = rig.make_dest();
  make_deep_tree(src, k_deep, "at the bottom\n");
  rig.configure("deep", src, dest);
  const fs::path preset_dir = dest / "deep";
  RunResult first = rig.cli({"backup"});
  ASSERT_EQ(first.exit_code, 0) << first.err.substr(0, 2000);
  std::string id = newest_id(preset_dir);
  EXPECT_EQ(walk_deep_tree(preset_dir / id), std::make_pair(k_deep, std::string("at the bottom\n")));
  RunResult second = rig.cli({"backup"});
  ASSERT_EQ(second.exit_code, 0) << second.err.substr(0, 2000);
  EXPECT_EQ(walk_deep_tree(preset_dir / newest_id(preset_dir)), std::make_pair(k_deep, std::string("at the bottom\n")));
  EXPECT_EQ(rig.cli({"list"}).exit_code, 0);
}

// 900 levels (paths near 1 800 bytes) are within rsync's reach: backup, list, restore and prune work.
TEST(HostilePaths, Tree900DeepBackupListRestorePrune) {
  SNAPKEEP_REQUIRE_ROOT();
  Rig rig;
  ASSERT_TRUE(rig.ready());
  constexpr int k_depth = 900;
  const fs::path src = rig.loop.mount_point() / "deep-src";
  const fs::path dest = rig.make_dest();
  make_deep_tree(src, k_depth, "at the bottom\n");
  rig.configure("deep", src, dest);
  const fs::path preset_dir = dest / "deep";

  RunResult first = rig.cli({"backup"});
  ASSERT_EQ(first.exit_code, 0) << first.err.substr(0, 2000);
  const std::string id1 = newest_id(preset_dir);
  ASSERT_FALSE(id1.empty());
  EXPECT_EQ(walk_deep_tree(preset_dir / id1), std::make_pair(k_depth, std::string("at the bottom\n")));

  RunResult list = rig.cli({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find(id1), std::string::npos);

  const fs::path restored = rig.loop.mount_point() / "restored";
  RunResult rest = rig.cli({"restore", "deep", "latest", "--to", restored.string()});
  ASSERT_EQ(rest.exit_code, 0) << rest.err.substr(0, 2000);
  EXPECT_EQ(walk_deep_tree(restored), std::make_pair(k_depth, std::string("at the bottom\n")));

  RunResult second = rig.cli({"backup"});
  ASSERT_EQ(second.exit_code, 0) << second.err.substr(0, 2000);
  const std::string id2 = newest_id(preset_dir);
  ASSERT_NE(id1, id2);
  rig.configure("deep", src, dest, "keep = 1\n");
  RunResult prune = rig.cli({"prune"});
  ASSERT_EQ(prune.exit_code, 0) << prune.err;
  EXPECT_EQ(snapshot_ids(preset_dir), std::vector<std::string>{id2});
  EXPECT_EQ(walk_deep_tree(preset_dir / id2), std::make_pair(k_depth, std::string("at the bottom\n")));
}

// ---------------------------------------------------------------------------------------------
// Symlinks in and of the source

TEST(HostilePaths, SymlinksPointingOutOfTheSourceAreCopiedNotFollowed) {
  SNAPKEEP_REQUIRE_ROOT();
  Rig rig;
  ASSERT_TRUE(rig.ready(3));
  const fs::path src = rig.loop.mount_point() / "src";
  const fs::path dest = rig.make_dest();
  const fs::path outside = rig.tmp / "outside";
  write_file(outside / "secret.txt", "outside secret\n");
  write_file(src / "inside.txt", "inside\n");
  fs::create_symlink("/etc/passwd", src / "passwd-link");
  fs::create_symlink(outside, src / "dir-link");
  fs::create_directories(src / "sub");
  fs::create_symlink("../../../../../../../../etc", src / "sub" / "etc-rel");
  rig.configure("home", src, dest);

  RunResult r = rig.cli({"backup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path snap = dest / "home" / newest_id(dest / "home");
  for (const char* link : {"passwd-link", "dir-link", "sub/etc-rel"}) {
    EXPECT_TRUE(S_ISLNK(stat_of(snap / link).st_mode)) << link << " is not a symlink in the snapshot";
  }
  EXPECT_EQ(link_target(snap / "passwd-link"), "/etc/passwd");
  EXPECT_EQ(link_target(snap / "dir-link"), outside.string());
  EXPECT_EQ(link_target(snap / "sub" / "etc-rel"), "../../../../../../../../etc");
  EXPECT_EQ(tree_entries(snap), (std::vector<fs::path>{"dir-link", "inside.txt", "passwd-link", "sub", "sub/etc-rel"}))
      << "the snapshot holds something the source does not";
  // No content from outside anywhere in the snapshot.
  const std::string passwd = read_file("/etc/passwd");
  for (const fs::path& rel : tree_entries(snap)) {
    struct stat st = stat_of(snap / rel);
    if (S_ISREG(st.st_mode)) {
      const std::string data = read_file(snap / rel);
      EXPECT_NE(data, passwd) << rel;
      EXPECT_EQ(data.find("outside secret"), std::string::npos) << rel;
    }
  }
  EXPECT_EQ(tree_entries(outside), std::vector<fs::path>{"secret.txt"});
}

TEST(HostilePaths, SourceReplacedBySymlinkBetweenRuns) {
  SNAPKEEP_REQUIRE_ROOT();
  Rig rig;
  ASSERT_TRUE(rig.ready(3));
  const fs::path top = rig.loop.mount_point();
  const fs::path src = top / "data";
  const fs::path dest = top / "dest";
  const fs::path preset_dir = dest / "home";
  fs::create_directories(dest);
  write_file(src / "a.txt", "original a\n");
  write_file(src / "sub" / "b.txt", "original b\n");
  rig.configure("home", src, dest);
  RunResult r = rig.cli({"backup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id1 = newest_id(preset_dir);
  ASSERT_FALSE(id1.empty());
  const auto s1 = fingerprint(preset_dir / id1);

  // The configured source path becomes a symlink to another folder. Observed and documented
  // behaviour: snapkeep follows the configured path as a directory (like `rsync SRC/`), so the
  // next snapshot is a copy of the folder the link names, nothing else; older snapshots stay as
  // they were and nothing of the earlier tree is mixed into the new one.
  fs::rename(src, top / "data.moved");
  const fs::path other = top / "other";
  write_file(other / "foreign.txt", "from the other folder\n");
  write_file(other / "a.txt", "other a\n");
  fs::create_symlink(other, src);
  r = rig.cli({"backup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id2 = newest_id(preset_dir);
  ASSERT_NE(id1, id2);
  EXPECT_TRUE(S_ISDIR(stat_of(preset_dir / id2).st_mode));
  auto diffs = tree_differences(other, preset_dir / id2, whole_second_mtimes());
  EXPECT_TRUE(diffs.empty()) << "the new snapshot is not exactly the linked folder:\n" << join_lines(diffs);
  EXPECT_EQ(fingerprint(preset_dir / id1), s1) << "an older snapshot changed";
  const auto s2 = fingerprint(preset_dir / id2);

  // The link now leads to the destination (the backups would back up themselves): refused, exit 1.
  fs::remove(src);
  fs::create_symlink(dest, src);
  r = rig.cli({"backup"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("home: destination " + preset_dir.string() + " is inside source " + src.string()),
            std::string::npos)
      << r.err;
  // The link leads into a snapshot: refused too.
  fs::remove(src);
  fs::create_symlink(preset_dir / id1 / "sub", src);
  r = rig.cli({"backup"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("home: source " + src.string() + " is inside the backup folder " + preset_dir.string()),
            std::string::npos)
      << r.err;
  EXPECT_EQ(snapshot_ids(preset_dir), (std::vector<std::string>{id1, id2}));
  EXPECT_EQ(link_target(preset_dir / "latest"), id2);
  EXPECT_EQ(fingerprint(preset_dir / id1), s1);
  EXPECT_EQ(fingerprint(preset_dir / id2), s2);
}

// ---------------------------------------------------------------------------------------------
// A changing source

TEST(HostilePaths, FilesVanishingDuringBackupGiveExit0AndAWarning) {
  SNAPKEEP_REQUIRE_ROOT();
  Rig rig(256);
  ASSERT_TRUE(rig.ready());
  const fs::path src = rig.loop.mount_point() / "src";
  const fs::path dest = rig.make_dest();
  // rsync lists the folder first, copies the big file (sorted first), then the small ones: the
  // small ones deleted meanwhile have vanished.
  write_random_file(src / "aaa-big.bin", 48u << 20, 5);
  constexpr int k_files = 2000;
  auto small = [&](int i) {
    char name[32];
    std::snprintf(name, sizeof name, "zz-%05d.txt", i);
    return src / name;
  };
  auto content = [](int i) { return "small file " + std::to_string(i) + "\n"; };
  for (int i = 0; i < k_files; ++i) {
    write_file(small(i), content(i));
  }
  rig.configure("home", src, dest);
  const fs::path partial = dest / "home" / ".snapkeep" / "partial";

  bool vanished = false;
  for (int attempt = 0; attempt < 3 && !vanished; ++attempt) {
    for (int i = k_files / 2; i < k_files; ++i) {
      if (!exists_nofollow(small(i))) {
        write_file(small(i), content(i));
      }
    }
    BackgroundRun run({"-c", rig.config.string(), "backup"}, rig.tmp.path());
    auto partial_has_entries = [&] {
      std::error_code ec;
      fs::directory_iterator it(partial, ec);
      return !ec && it != fs::directory_iterator();
    };
    wait_until([&] { return partial_has_entries() || !run.running(); }, 20s, 200us);
    for (int i = k_files - 1; i >= k_files / 2; --i) {
      fs::remove(small(i));
    }
    int status = run.wait();
    ASSERT_TRUE(WIFEXITED(status)) << run.stderr_text();
    ASSERT_EQ(WEXITSTATUS(status), 0) << run.stderr_text();
    const std::string err = run.stderr_text();
    // rsync: "... vanished while rsync ran; ..."; the native engine: "... vanished while snapkeep copied them; ..."
    vanished = err.find("some source files vanished while") != std::string::npos &&
               err.find("they are not in this snapshot") != std::string::npos;
    const fs::path snap = dest / "home" / newest_id(dest / "home");
    EXPECT_EQ(read_file(snap / "aaa-big.bin"), read_file(src / "aaa-big.bin"));
    int copied_late = 0;
    for (int i = 0; i < k_files; ++i) {
      const fs::path rel = small(i).lexically_relative(src);
      if (i < k_files / 2) {
        EXPECT_EQ(read_file(snap / rel), content(i)) << rel;
      } else if (exists_nofollow(snap / rel)) {
        EXPECT_EQ(read_file(snap / rel), content(i)) << rel;
        ++copied_late;
      }
    }
    if (vanished) {
      EXPECT_LT(copied_late, k_files / 2) << "a vanished warning, but every deleted file is in the snapshot";
      EXPECT_EQ(err.find("snapkeep: error"), std::string::npos) << err;
    }
  }
  EXPECT_TRUE(vanished) << "three backups finished before any file could vanish: the race was lost every time";
}

TEST(HostilePaths, FileGrowingDuringBackupIsAConsistentPrefix) {
  SNAPKEEP_REQUIRE_ROOT();
  Rig rig(256);
  ASSERT_TRUE(rig.ready());
  const fs::path src = rig.loop.mount_point() / "src";
  const fs::path dest = rig.make_dest();
  write_random_file(src / "big.bin", 32u << 20, 9);
  const fs::path log = src / "grow.log";
  write_file(log, "");
  rig.configure("home", src, dest);

  std::atomic<bool> stop{false};
  std::atomic<long> records{0};
  std::thread appender([&] {
    int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) {
      return;
    }
    char line[32];
    while (!stop.load()) {
      const int n = std::snprintf(line, sizeof line, "%015ld\n", records.load());
      if (::write(fd, line, static_cast<std::size_t>(n)) != n) {
        break;
      }
      records.fetch_add(1);
      std::this_thread::sleep_for(20us);  // about 1 MB/s: grows all through the run, never fills the disk
    }
    ::close(fd);
  });
  // Let the file grow a little before and during the run.
  std::this_thread::sleep_for(20ms);
  RunResult r = rig.cli({"backup"});
  stop = true;
  appender.join();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string final_text = read_file(log);
  const fs::path snap = dest / "home" / newest_id(dest / "home");
  const std::string copied = read_file(snap / "grow.log");
  EXPECT_GT(records.load(), 0);
  EXPECT_GT(copied.size(), 0u) << "the file had grown before the run started";
  EXPECT_LE(copied.size(), final_text.size());
  EXPECT_EQ(final_text.compare(0, copied.size(), copied), 0) << "the snapshot is not a prefix of the growing file";
  EXPECT_EQ(read_file(snap / "big.bin"), read_file(src / "big.bin"));
}

// ---------------------------------------------------------------------------------------------
// Restore safety

TEST(HostileRestore, NeverWritesThroughSymlinksInTheTarget) {
  SNAPKEEP_REQUIRE_ROOT();
  Rig rig;
  ASSERT_TRUE(rig.ready(3));
  const fs::path src = rig.loop.mount_point() / "src";
  const fs::path dest = rig.make_dest();
  const fs::path outside = rig.tmp / "outside";      // what the snapshot's symlinks point to
  const fs::path elsewhere = rig.tmp / "elsewhere";  // what the target's symlinks point to
  write_file(outside / "o.txt", "outside\n");
  write_file(elsewhere / "victim.txt", "must stay\n");
  write_file(elsewhere / "file.txt", "must stay too\n");
  write_file(src / "file.txt", "from the snapshot\n");
  write_file(src / "sub" / "file.txt", "sub from the snapshot\n");
  write_file(src / "sub" / "victim.txt", "overwrite attempt\n");
  fs::create_symlink(outside, src / "out-abs");
  fs::create_symlink("../../../outside", src / "out-rel");
  rig.configure("home", src, dest);
  ASSERT_EQ(rig.cli({"backup"}).exit_code, 0);
  const std::string id = newest_id(dest / "home");
  const auto outside_before = fingerprint(outside);
  const auto elsewhere_before = fingerprint(elsewhere);

  // A target holding symlinks named like the snapshot's folder and files, pointing elsewhere.
  const fs::path target = rig.tmp / "target";
  fs::create_directories(target);
  fs::create_symlink(elsewhere, target / "sub");
  fs::create_symlink(elsewhere / "victim.txt", target / "file.txt");
  fs::create_symlink(elsewhere, target / "out-abs");
  RunResult r = rig.cli({"restore", "home", "latest", "--to", target.string(), "--force"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(S_ISDIR(stat_of(target / "sub").st_mode)) << "the target's symlink was written through";
  EXPECT_EQ(read_file(target / "sub" / "file.txt"), "sub from the snapshot\n");
  EXPECT_TRUE(S_ISREG(stat_of(target / "file.txt").st_mode));
  EXPECT_EQ(read_file(target / "file.txt"), "from the snapshot\n");
  EXPECT_EQ(link_target(target / "out-abs"), outside.string());
  EXPECT_EQ(link_target(target / "out-rel"), "../../../outside");
  EXPECT_EQ(fingerprint(elsewhere), elsewhere_before) << "restore wrote outside --to";
  EXPECT_EQ(fingerprint(outside), outside_before) << "restore wrote through a snapshot symlink";

  // One path whose name in the target is a symlink pointing elsewhere.
  const fs::path single = rig.tmp / "single";
  fs::create_directories(single);
  fs::create_symlink(elsewhere, single / "sub");
  r = rig.cli({"restore", "home", id, "sub", "--to", single.string(), "--force"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(S_ISDIR(stat_of(single / "sub").st_mode));
  EXPECT_EQ(read_file(single / "sub" / "victim.txt"), "overwrite attempt\n");
  EXPECT_EQ(fingerprint(elsewhere), elsewhere_before) << "restore wrote outside --to";

  // --to a symlink that leads into the backups: refused, the snapshot untouched.
  const auto snap_before = fingerprint(dest / "home" / id);
  const fs::path into = rig.tmp / "into-backups";
  fs::create_symlink(dest / "home" / id / "sub", into);
  r = rig.cli({"restore", "home", "latest", "--to", into.string(), "--force"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(fingerprint(dest / "home" / id), snap_before) << "restore wrote into a snapshot";
}

TEST(HostileRestore, NonEmptyTargetWithoutForceIsRefusedUntouched) {
  SNAPKEEP_REQUIRE_ROOT();
  Rig rig;
  ASSERT_TRUE(rig.ready());
  const fs::path src = rig.loop.mount_point() / "src";
  const fs::path dest = rig.make_dest();
  write_file(src / "file.txt", "snapshot\n");
  rig.configure("home", src, dest);
  ASSERT_EQ(rig.cli({"backup"}).exit_code, 0);

  const fs::path target = rig.tmp / "busy";
  write_file(target / "file.txt", "mine\n");
  fs::create_symlink("/etc", target / "link");
  const auto before = fingerprint(target);
  RunResult r = rig.cli({"restore", "home", "latest", "--to", target.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "snapkeep: error: home: restore target " + target.string() +
                       " is not empty; use --force to restore into it (files of the same name are replaced)\n");
  EXPECT_EQ(fingerprint(target), before) << "a refused restore changed the target";
  // A target holding only a dot-file is not empty either.
  const fs::path dotted = rig.tmp / "dotted";
  write_file(dotted / ".hidden", "x\n");
  r = rig.cli({"restore", "home", "latest", "--to", dotted.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(tree_entries(dotted), std::vector<fs::path>{".hidden"});
}

TEST(HostileRestore, KeepsModesOwnersNanosecondTimesXattrsAndAcls) {
  SNAPKEEP_REQUIRE_ROOT();
  Rig rig;
  ASSERT_TRUE(rig.ready());
  const fs::path s = rig.loop.mount_point() / "src";
  const fs::path dest = rig.make_dest();
  write_file(s / "suid", "#!/bin/true\n");
  ASSERT_EQ(::chmod((s / "suid").c_str(), 04755), 0);
  write_file(s / "private" / "secret.txt", "secret\n");
  ASSERT_EQ(::chmod((s / "private" / "secret.txt").c_str(), 0600), 0);
  ASSERT_EQ(::chmod((s / "private").c_str(), 0700), 0);
  fs::create_directories(s / "sticky");
  ASSERT_EQ(::chmod((s / "sticky").c_str(), 01777), 0);
  write_file(s / "owned.txt", "owned\n");
  ASSERT_EQ(::chown((s / "owned.txt").c_str(), 1234, 5678), 0);
  fs::create_symlink("owned.txt", s / "link");
  ASSERT_EQ(::lchown((s / "link").c_str(), 4321, 8765), 0);
  write_file(s / "x.txt", "xattrs\n");
  const std::string binary("a\0b\xff", 4);
  ASSERT_EQ(::setxattr((s / "x.txt").c_str(), "user.note", "hello", 5, 0), 0);
  ASSERT_EQ(::setxattr((s / "x.txt").c_str(), "user.bin", binary.data(), binary.size(), 0), 0);
  ASSERT_EQ(::setxattr((s / "private").c_str(), "user.dir", "d", 1, 0), 0);
  write_file(s / "acl.txt", "acl\n");
  run_ok({"setfacl", "-m", "u:1234:rw,g:5678:r", "--", (s / "acl.txt").string()});
  run_ok({"setfacl", "-d", "-m", "u:1234:rwx", "--", (s / "private").string()});
  write_file(s / "h1", "hard\n");
  fs::create_hard_link(s / "h1", s / "private" / "h2");
  set_mtime(s / "suid", 1600000000, 1);
  set_mtime(s / "owned.txt", 1600000001, 999999999);
  set_mtime(s / "x.txt", 1600000002, 123456789);
  set_mtime(s / "acl.txt", 1600000003, 42);
  set_mtime(s / "link", 1600000004, 7);
  set_mtime(s / "h1", 1600000005, 5);
  set_mtime(s / "private" / "secret.txt", 1600000006, 6);
  set_mtime(s / "private", 1600000007, 700);
  set_mtime(s / "sticky", 1600000008, 800);
  set_mtime(s, 1600000009, 900);
  rig.configure("home", s, dest);
  RunResult r = rig.cli({"backup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const fs::path target = rig.tmp / "restored";
  r = rig.cli({"restore", "home", "latest", "--to", target.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  TreeCompare all;
  all.xattrs = true;
  auto diffs = tree_differences(s, target, all);
  EXPECT_TRUE(diffs.empty()) << join_lines(diffs);
  EXPECT_EQ(xattrs_of(target / "x.txt")["user.bin"], binary);
  EXPECT_FALSE(xattrs_of(target / "acl.txt")["system.posix_acl_access"].empty()) << "access ACL lost";
  EXPECT_FALSE(xattrs_of(target / "private")["system.posix_acl_default"].empty()) << "default ACL lost";
  EXPECT_EQ(stat_of(target / "link").st_uid, 4321u);
  EXPECT_EQ(stat_of(target / "owned.txt").st_mtim.tv_nsec, 999999999);
  EXPECT_EQ(inode_of(target / "h1"), inode_of(target / "private" / "h2"));
}

}  // namespace
}  // namespace snapkeep::test
