#include "core/remote/settings.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

namespace snapkeep {

std::filesystem::path default_known_hosts() {
  const char* dir = std::getenv("SNAPKEEP_STATE_DIR");
  if (dir != nullptr && *dir != '\0') {
    return std::filesystem::path(dir) / "known_hosts";
  }
  return "/var/lib/snapkeep/known_hosts";
}

Result<std::vector<std::string>> parse_remote_command(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  };
  for (char c : text) {
    if (c == ' ' || c == '\t') {
      flush();
    } else if (std::isalnum(static_cast<unsigned char>(c)) != 0 || std::strchr("_-./=:,+@%", c) != nullptr) {
      word += c;
    } else {
      return config_error(std::string("'") + c +
                          "' is not allowed in remote_command: its words reach the remote login shell when "
                          "authorized_keys sets no forced command, so only letters, digits and _-./=:,+@% are taken");
    }
  }
  flush();
  if (words.empty()) {
    return config_error("remote_command is empty (the default is: snapkeep serve)");
  }
  if (words.front().front() == '-') {
    return config_error("remote_command must start with a program, not an option ('" + words.front() + "')");
  }
  return words;
}

std::optional<std::string> ssh_path_problem(const std::filesystem::path& path) {
  const std::string& text = path.native();
  if (std::any_of(text.begin(), text.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
      })) {
    return "it holds a control character";
  }
  if (text.find('"') != std::string::npos || text.find('\\') != std::string::npos) {
    return "ssh reads '\"' and '\\' in option values specially";
  }
  if (text.find("${") != std::string::npos) {
    return "ssh expands \"${...}\" in file names";
  }
  return std::nullopt;
}

}  // namespace snapkeep
