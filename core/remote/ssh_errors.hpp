#pragma once
// Why an ssh connection failed, told apart from what ssh printed, so the user reads "cannot connect",
// "host key changed", "permission denied" or the remote program's own failure, each with the tail
// of the remote's stderr.

#include <string>
#include <string_view>

#include "core/base/process.hpp"
#include "core/remote/location.hpp"
#include "core/remote/settings.hpp"

namespace snapkeep {

// What went wrong between us and the remote program.
enum class SshProblem {
  none,               // ssh itself was fine: any failure is the remote program's own
  cannot_connect,     // no connection: name, route, refused, timed out
  unknown_host_key,   // the host is not in snapkeep's known_hosts yet (snapkeep trust HOST)
  host_key_changed,   // the host offers another key than the one stored
  permission_denied,  // the key (or user) is not accepted
  connection_lost,    // the connection broke after it was made
};

// The problem ssh's stderr names when ssh exited with 255 (its own failure); none when it names
// none of them.
SshProblem classify_ssh_failure(int exit_code, std::string_view stderr_text);

// "cannot connect", "host key changed", ...: the short name used at the start of messages.
std::string_view ssh_problem_name(SshProblem problem);

// A runtime error for a failed ssh child that ran `what` on `where` ("snapkeep serve", "rsync"):
// what to do about it, and the tail of the remote's stderr.
Error ssh_failure_error(const RemoteLocation& where, const RemoteSettings& settings, const ProcessResult& result,
                        std::string_view what);

}  // namespace snapkeep
