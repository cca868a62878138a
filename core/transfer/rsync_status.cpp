#include "core/transfer/rsync_status.hpp"

namespace snapkeep {

RsyncOutcome classify_rsync_exit(const ProcessResult& result, bool allow_partial) {
  if (result.term_signal != 0) {
    return RsyncOutcome::failed;
  }
  switch (result.exit_code) {
    case 0: return RsyncOutcome::ok;
    case 24: return RsyncOutcome::ok_vanished;
    case 23:
      // Files rsync could not create on a full destination are not what allow_partial forgives
      // (unreadable source files): the snapshot would silently lack them.
      return allow_partial && !reports_full_filesystem(result.stderr_tail) ? RsyncOutcome::ok_partial
                                                                           : RsyncOutcome::failed;
    default: return RsyncOutcome::failed;
  }
}

std::string rsync_exit_meaning(int code) {
  switch (code) {
    case 0: return "success";
    case 1: return "syntax or usage error";
    case 2: return "protocol incompatibility";
    case 3: return "errors selecting input/output files, dirs";
    case 4: return "requested action not supported";
    case 5: return "error starting client-server protocol";
    case 10: return "error in socket I/O";
    case 11: return "error in file I/O (is the destination full?)";
    case 12: return "error in rsync protocol data stream";
    case 13: return "errors with program diagnostics";
    case 14: return "error in IPC code";
    case 20: return "received SIGUSR1 or SIGINT";
    case 21: return "some error returned by waitpid()";
    case 22: return "error allocating core memory buffers";
    case 23: return "partial transfer due to error";
    case 24: return "partial transfer due to vanished source files";
    case 25: return "the --max-delete limit stopped deletions";
    case 30: return "timeout in data send/receive";
    case 35: return "timeout waiting for daemon connection";
    default: return "unknown rsync exit status";
  }
}

}  // namespace snapkeep
