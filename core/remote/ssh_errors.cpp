#include "core/remote/ssh_errors.hpp"

#include <array>
#include <utility>

namespace snapkeep {
namespace {

constexpr int k_ssh_failed = 255;

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// ssh's own words for each problem (OpenSSH, LC_ALL=C), checked in this order.
constexpr std::array<std::pair<std::string_view, SshProblem>, 17> k_patterns{{
    {"REMOTE HOST IDENTIFICATION HAS CHANGED", SshProblem::host_key_changed},
    {"has changed and you have requested strict checking", SshProblem::host_key_changed},
    {"and you have requested strict checking", SshProblem::unknown_host_key},
    {"Host key verification failed", SshProblem::unknown_host_key},
    {"Permission denied", SshProblem::permission_denied},
    {"Too many authentication failures", SshProblem::permission_denied},
    {"Could not resolve hostname", SshProblem::cannot_connect},
    {"Connection refused", SshProblem::cannot_connect},
    {"Connection timed out", SshProblem::cannot_connect},
    {"No route to host", SshProblem::cannot_connect},
    {"Network is unreachable", SshProblem::cannot_connect},
    {"kex_exchange_identification", SshProblem::cannot_connect},
    {"banner exchange", SshProblem::cannot_connect},
    {"closed by remote host", SshProblem::connection_lost},
    {"Broken pipe", SshProblem::connection_lost},
    {"Timeout, server", SshProblem::connection_lost},
    {"Connection reset", SshProblem::connection_lost},
}};

std::string trimmed_tail(const std::string& text) {
  std::string out = text;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) {
    out.pop_back();
  }
  return out;
}

}  // namespace

SshProblem classify_ssh_failure(int exit_code, std::string_view stderr_text) {
  if (exit_code != k_ssh_failed) {
    return SshProblem::none;
  }
  for (const auto& [words, problem] : k_patterns) {
    if (contains(stderr_text, words)) {
      return problem;
    }
  }
  return SshProblem::none;
}

std::string_view ssh_problem_name(SshProblem problem) {
  switch (problem) {
    case SshProblem::none: return "remote failure";
    case SshProblem::cannot_connect: return "cannot connect";
    case SshProblem::unknown_host_key: return "unknown host key";
    case SshProblem::host_key_changed: return "host key changed";
    case SshProblem::permission_denied: return "permission denied";
    case SshProblem::connection_lost: return "connection lost";
  }
  return "remote failure";
}

Error ssh_failure_error(const RemoteLocation& where, const RemoteSettings& settings, const ProcessResult& result,
                        std::string_view what) {
  const SshProblem problem =
      result.term_signal == 0 ? classify_ssh_failure(result.exit_code, result.stderr_tail) : SshProblem::none;
  const std::string host = where.bracketed_host() + (where.port ? " port " + std::to_string(*where.port) : "");
  std::string message;
  switch (problem) {
    case SshProblem::cannot_connect:
      message = "cannot connect to " + host + " (is it up, and is the name or address right?)";
      break;
    case SshProblem::unknown_host_key:
      message = "unknown host key: " + host + " is not in " + settings.known_hosts.string() +
                "; check its fingerprint and store it with `snapkeep trust " + where.display() + "`";
      break;
    case SshProblem::host_key_changed:
      message = "host key changed: " + host + " offers another host key than the one stored in " +
                settings.known_hosts.string() +
                " (a reinstalled server, or someone in between). Nothing was sent. If the change is expected, "
                "remove the old line from that file and run `snapkeep trust " +
                where.display() + "`";
      break;
    case SshProblem::permission_denied:
      message = "permission denied on " + host + (where.user.empty() ? "" : " for user " + where.user) +
                (settings.identity ? " with the key " + settings.identity->string() : "") +
                " (is the public key in the remote authorized_keys?)";
      break;
    case SshProblem::connection_lost:
      message = "connection lost to " + host + " while " + std::string(what) + " ran";
      break;
    case SshProblem::none: message = std::string(what) + " on " + host + " failed: it " + result.status_text(); break;
  }
  const std::string tail = trimmed_tail(result.stderr_tail);
  if (!tail.empty()) {
    message += "; the remote's stderr ends with:\n" + tail;
  }
  return runtime_error(std::move(message));
}

}  // namespace snapkeep
