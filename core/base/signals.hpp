#pragma once
// Signal handling: SIGINT/SIGTERM/SIGHUP stop the run and take live children down with it.

#include <sys/types.h>

namespace snapkeep {

// Installs the handlers; call once at start-up.
void install_signal_handlers();
// The signal that asked us to stop, 0 while none has.
int stop_signal();
// Children registered here get SIGTERM when a stop signal arrives (async-signal-safe).
void register_child(pid_t pid);
void unregister_child(pid_t pid);

}  // namespace snapkeep
