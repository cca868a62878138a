#pragma once
// Unix sockets between snapkeep processes on one machine (serve and its data relay), descriptors
// handed over with SCM_RIGHTS, and the random secrets that let only the right peer in.

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.hpp"
#include "core/base/fd.hpp"

namespace snapkeep {

// The folder for snapkeep's sockets: $SNAPKEEP_RUN_DIR, else /run/snapkeep for root, else
// /tmp/snapkeep-UID. Made 0700 when missing; refused unless it is a real directory owned by us that
// nobody else may enter.
Result<std::filesystem::path> run_dir();

// A listening socket at `path` (a stale socket there is replaced), only for us (0600).
Result<Fd> listen_unix(const std::filesystem::path& path);

// Waits up to `limit` for a connection on a listening socket; also gives up (with an error saying
// so) once `give_up()` holds, checked a few times a second.
Result<Fd> accept_unix(int listener, std::chrono::milliseconds limit, const std::function<bool()>& give_up);

// Connects to the socket at path; ENOENT and ECONNREFUSED (not listening yet) are errors with that errno.
Result<Fd> connect_unix(const std::filesystem::path& path);

// Sends bytes and, with them, duplicates of `fds` (SCM_RIGHTS).
Status send_with_fds(int socket, std::string_view bytes, const std::vector<int>& fds);

// What one receive_with_fds got.
struct ReceivedFds {
  std::string bytes;
  std::vector<Fd> fds;
};

// Receives up to max_bytes and any descriptors sent with them; end of file gives no bytes.
Result<ReceivedFds> receive_with_fds(int socket, std::size_t max_bytes);

// `bytes` random bytes from the kernel as lower-case hex.
Result<std::string> random_hex(std::size_t bytes);

// Compares two secrets in time that does not depend on where they differ.
bool same_secret(std::string_view a, std::string_view b);

// Is text exactly `digits` lower-case hex digits?
bool is_hex_token(std::string_view text, std::size_t digits);

}  // namespace snapkeep
