#include "core/remote/host_keys.hpp"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "core/base/fd.hpp"
#include "core/base/fsutil.hpp"
#include "core/base/process.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr int k_default_port = 22;

// The words of a line split at blanks.
std::vector<std::string> words_of(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) {
    out.push_back(w);
  }
  return out;
}

// Does a known_hosts host field ("a,b,[c]:2222") name `name`?
bool names_host(const std::string& field, const std::string& name) {
  std::size_t pos = 0;
  while (pos <= field.size()) {
    const auto comma = std::min(field.find(',', pos), field.size());
    if (field.compare(pos, comma - pos, name) == 0 && comma - pos == name.size()) {
      return true;
    }
    pos = comma + 1;
  }
  return false;
}

Result<std::string> read_text(const fs::path& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) {
      return std::string();
    }
    return sys_error("cannot read", path);
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string known_hosts_name(const RemoteLocation& where) {
  if (!where.port || *where.port == k_default_port) {
    return where.host;
  }
  return "[" + where.host + "]:" + std::to_string(*where.port);
}

Result<std::vector<HostKey>> scan_host_keys(const RemoteLocation& where) {
  std::vector<std::string> argv{"ssh-keyscan", "-T", "15"};
  if (where.port) {
    argv.emplace_back("-p");
    argv.push_back(std::to_string(*where.port));
  }
  argv.emplace_back("--");
  argv.push_back(where.host);
  ProcessOptions options;
  options.capture_stdout = true;
  SNAPKEEP_TRY_ASSIGN(ProcessResult scanned, run_process(argv, options));
  std::vector<HostKey> keys;
  std::istringstream lines(scanned.stdout_text);
  for (std::string line; std::getline(lines, line);) {
    const auto w = words_of(line);
    if (w.size() >= 3 && line.front() != '#') {
      keys.push_back({w[0] + " " + w[1] + " " + w[2], w[1], ""});
    }
  }
  if (keys.empty()) {
    return runtime_error("cannot connect to " + known_hosts_name(where) + ": ssh-keyscan got no host key (" +
                         describe_failure("ssh-keyscan", scanned) + ")");
  }
  // Fingerprints, the way ssh prints them.
  char name[] = "/tmp/snapkeep-keys-XXXXXX";
  Fd fd(::mkstemp(name));
  if (!fd) {
    return sys_error("cannot make a temporary file", "/tmp");
  }
  struct Unlink {
    const char* path;
    ~Unlink() { ::unlink(path); }
  } unlink_later{name};
  std::string text;
  for (const auto& key : keys) {
    text += key.line + "\n";
  }
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return sys_error("cannot write", name);
  }
  ProcessOptions capture;
  capture.capture_stdout = true;
  SNAPKEEP_TRY_ASSIGN(ProcessResult printed, run_process({"ssh-keygen", "-l", "-f", name}, capture));
  if (!printed.succeeded()) {
    return runtime_error(describe_failure("ssh-keygen", printed));
  }
  std::istringstream fingerprints(printed.stdout_text);
  std::size_t i = 0;
  for (std::string line; std::getline(fingerprints, line) && i < keys.size(); ++i) {
    const auto w = words_of(line);
    keys[i].fingerprint = w.size() >= 2 ? w[1] : line;
  }
  return keys;
}

Result<StoreCheck> compare_host_keys(const fs::path& known_hosts, const std::vector<HostKey>& keys) {
  SNAPKEEP_TRY_ASSIGN(std::string text, read_text(known_hosts));
  StoreCheck out;
  for (const auto& key : keys) {
    const auto ours = words_of(key.line);
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      const auto w = words_of(line);
      if (w.size() < 3 || line.front() == '#' || !names_host(w[0], ours[0]) || w[1] != ours[1]) {
        continue;
      }
      (w[2] == ours[2] ? out.already : out.conflict).push_back(key.type);
      break;
    }
  }
  return out;
}

Status store_host_keys(const fs::path& known_hosts, const std::vector<HostKey>& keys) {
  SNAPKEEP_TRY_ASSIGN(StoreCheck check, compare_host_keys(known_hosts, keys));
  if (!check.conflict.empty()) {
    return runtime_error("host key changed: " + known_hosts.string() + " already holds another " +
                         check.conflict.front() + " key for " + words_of(keys.front().line)[0] +
                         "; if the change is expected, remove that line (ssh-keygen -R HOST -f " +
                         known_hosts.string() + ") and trust again");
  }
  SNAPKEEP_TRY_ASSIGN(std::string text, read_text(known_hosts));
  bool added = false;
  for (const auto& key : keys) {
    if (std::find(check.already.begin(), check.already.end(), key.type) == check.already.end()) {
      if (!text.empty() && text.back() != '\n') {
        text += '\n';
      }
      text += key.line + "\n";
      added = true;
    }
  }
  if (!added) {
    return {};
  }
  std::error_code ec;
  fs::create_directories(known_hosts.parent_path(), ec);
  if (ec) {
    return sys_error("cannot create the folder of", known_hosts, ec.value());
  }
  SNAPKEEP_TRY(write_file_atomic(known_hosts, text));
  ::chmod(known_hosts.c_str(), 0644);
  return {};
}

}  // namespace snapkeep
