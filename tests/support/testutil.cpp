#include "tests/support/testutil.hpp"

#include "core/base/mounts.hpp"
#include "core/store/catalog.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <algorithm>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include "core/base/fd.hpp"
#include "core/base/process.hpp"

namespace snapkeep::test {

namespace {

// Every test process keeps the local state (SNAPKEEP_STATE_DIR) in a folder of its own, removed when
// it ends: below the folder ctest names (tests/CMakeLists.txt), or below TMPDIR when a test binary
// is run by hand. So no test sees the state others left (at the end of a suite it held hundreds of
// presets, and every run read and rewrote all of it), and none writes to the machine's
// /var/lib/snapkeep.
class OwnLocalState {
 public:
  OwnLocalState() : m_pid(::getpid()) {
    const char* given = std::getenv("SNAPKEEP_STATE_DIR");
    const char* tmp = std::getenv("TMPDIR");
    const fs::path base = given != nullptr && *given != '\0' ? fs::path(given)
                          : tmp != nullptr && *tmp != '\0'   ? fs::path(tmp)
                                                             : fs::path("/tmp");
    std::error_code ec;
    fs::create_directories(base, ec);
    std::string pattern = (base / "snapkeep-state-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return;  // the folder ctest named stays in use
    }
    m_dir = pattern;
    ::setenv("SNAPKEEP_STATE_DIR", m_dir.c_str(), 1);
  }
  ~OwnLocalState() {
    if (!m_dir.empty() && ::getpid() == m_pid) {  // not in a forked child that exits
      std::error_code ec;
      fs::remove_all(m_dir, ec);
    }
  }
  OwnLocalState(const OwnLocalState&) = delete;
  OwnLocalState& operator=(const OwnLocalState&) = delete;

 private:
  pid_t m_pid;
  fs::path m_dir;
};

const OwnLocalState g_own_local_state;

}  // namespace

ScopedEnv::ScopedEnv(const char* name, const std::string& value) : m_name(name) {
  if (const char* old = std::getenv(name)) {
    m_old = old;
  }
  ::setenv(name, value.c_str(), 1);
}

ScopedEnv::~ScopedEnv() {
  if (m_old) {
    ::setenv(m_name, m_old->c_str(), 1);
  } else {
    ::unsetenv(m_name);
  }
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/snapkeep-test-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + " failed");
  }
  m_path = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  // Make read-only folders writable again so removal cannot fail on them.
  for (auto it = fs::recursive_directory_iterator(m_path, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) {
      ::chmod(it->path().c_str(), 0700);
    }
  }
  fs::remove_all(m_path, ec);
}

bool is_root() {
  return ::geteuid() == 0;
}

bool root_tests_required() {
  const char* v = std::getenv("SNAPKEEP_REQUIRE_ROOT_TESTS");
  return v != nullptr && std::string(v) == "1";
}

RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  RunResult out;
  snapkeep::ProcessOptions options;
  options.capture_stdout = true;
  options.stderr_tail_bytes = 1 << 20;
  options.env = env;
  auto result = snapkeep::run_process(argv, options);
  if (!result) {
    ADD_FAILURE() << "cannot run " << argv.at(0) << ": " << result.error().describe();
    return out;
  }
  out.exit_code = result->term_signal != 0 ? -1 : result->exit_code;
  out.term_signal = result->term_signal;
  out.out = result->stdout_text;
  out.err = result->stderr_tail;
  return out;
}

RunResult run_ok(const std::vector<std::string>& argv) {
  RunResult r = run(argv);
  if (r.exit_code != 0) {
    ADD_FAILURE() << snapkeep::quote_argv(argv) << " exited " << r.exit_code << " signal " << r.term_signal
                  << "\nstdout:\n"
                  << r.out << "\nstderr:\n"
                  << r.err;
  }
  return r;
}

fs::path snapkeep_binary() {
  return SNAPKEEP_BINARY;
}

RunResult snapkeep(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv{snapkeep_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, env);
}

LoopFs::LoopFs(const std::string& type, unsigned size_mib, const std::vector<std::string>& mkfs_extra) {
  m_image = m_dir / (type + ".img");
  m_mount_point = m_dir / "mnt";
  {
    Fd fd(::open(m_image.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(size_mib) * 1024 * 1024) != 0) {
      ADD_FAILURE() << "cannot create image " << m_image << ": " << std::strerror(errno);
      return;
    }
  }
  std::vector<std::string> mkfs{"mkfs." + type};
  mkfs.push_back(type == "btrfs" ? "-f" : "-F");
  mkfs.push_back("-q");
  mkfs.insert(mkfs.end(), mkfs_extra.begin(), mkfs_extra.end());
  mkfs.push_back("--");
  mkfs.push_back(m_image.string());
  if (run_ok(mkfs).exit_code != 0) {
    return;
  }
  m_mount = std::make_unique<LoopMount>(m_image, m_mount_point);
}

LoopFs::~LoopFs() = default;

const std::string& LoopFs::device() const {
  static const std::string none;
  return m_mount ? m_mount->device() : none;
}

bool LoopFs::ok() const {
  return m_mount && m_mount->ok();
}

void LoopFs::remount() {
  if (m_mount) {
    m_mount->remount();
  }
}

void write_file(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) {
    ADD_FAILURE() << "cannot write " << path;
  }
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return {};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct stat stat_of(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    ADD_FAILURE() << "lstat " << path << ": " << std::strerror(errno);
  }
  return st;
}

ino_t inode_of(const fs::path& path) {
  return stat_of(path).st_ino;
}

void write_random_file(const fs::path& path, std::size_t size, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string data(size, '\0');
  for (std::size_t i = 0; i < size; i += 8) {
    std::uint64_t v = rng();
    for (std::size_t j = 0; j < 8 && i + j < size; ++j) {
      data[i + j] = static_cast<char>(v >> (8 * j));
    }
  }
  write_file(path, data);
}

fs::path write_preset_config(const fs::path& config_path, const std::string& preset, const fs::path& source,
                             const fs::path& destination, const std::string& extra_lines) {
  std::string text =
      "[" + preset + "]\nsource = " + source.string() + "\ndestination = " + destination.string() + "\n" + extra_lines;
  // A destination that is not a mount point (a folder on the system disk, or beside the source on
  // one loop filesystem) must be allowed, as a user's would (require_mount): the tests of
  // require_mount itself (tests/integration/test_drives.cpp) write their own configs.
  auto mount_point = is_mount_point(destination);
  if (extra_lines.find("require_mount") == std::string::npos && !(mount_point.ok() && *mount_point)) {
    text += (text.back() == '\n' ? "" : "\n") + std::string("require_mount = no\n");
  }
  write_file(config_path, text);
  return config_path;
}

std::vector<std::string> snapshot_ids(const fs::path& preset_dir) {
  // In the order snapkeep lists them (completion order, latest last): ids name the true time, so a
  // freed id may come back and name order is not the order snapshots were made in.
  std::vector<std::string> ids;
  if (auto listed = list_snapshots(preset_dir)) {
    for (const auto& s : *listed) {
      ids.push_back(s.id);
    }
  }
  return ids;
}

std::vector<std::string> entries_of(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    out.push_back(entry.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace snapkeep::test
