#pragma once
// Pieces of one serve connection shared by its request handlers (core/serve/serve.cpp).

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/serve/restriction.hpp"
#include "core/serve/serve.hpp"

namespace snapkeep {

// One connection being served.
struct ServeSession {
  int in_fd = -1;
  int out_fd = -1;
  const ServeOptions* options = nullptr;
  const ServeEnvironment* environment = nullptr;
  const Restriction* restriction = nullptr;
};

// The preset a request acts for: the client's settings, its destination checked against the
// restriction and resolved, its source marked as the client's (never read here); in append-only
// mode with the server's own policy. exclude_from's lines go to `exclude_lines`.
Result<Preset> requested_preset(const ServeSession& session, const nlohmann::json& request,
                                std::vector<std::string>& exclude_lines);

// Answers one request (not hello, not attach). Returns the message to send: a "result" or an "error".
nlohmann::json handle_request(const ServeSession& session, const nlohmann::json& request);

// A pull's `send` request (--source-only): snapshots the source subvolume the client names, answers
// "stream" with the new snapshot's uuid and its parent, then writes the btrfs send stream to out_fd
// raw, up to the end of the connection. Returns the exit status (not 0 when the stream is not whole).
int handle_send(const ServeSession& session, const nlohmann::json& request);

// The second connection of a transfer: hands this connection's descriptors to the relay of the
// session the client names (after both prove the same secret) and waits for it to finish. Returns
// the exit status.
int handle_attach(const ServeSession& session, const nlohmann::json& request);

// The socket where the relay of a session waits for its attach.
Result<std::filesystem::path> relay_socket_path(const std::string& session);

}  // namespace snapkeep
