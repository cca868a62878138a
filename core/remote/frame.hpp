#pragma once
// snapkeep's remote protocol on the wire (docs/remote.md): each message is one JSON object in a
// frame "SNPK" + 4-byte big-endian length + UTF-8 JSON, over ssh's stdin/stdout. Frames are read
// with exact-length reads, so a descriptor can be handed to rsync right after a message.

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/base/error.hpp"

namespace snapkeep {

// The protocol version this snapkeep speaks; both ends say theirs in "hello" and refuse another.
// 2: the scrub report in its --json form (statuses by name); versions, diff and report requests.
inline constexpr int k_protocol_version = 3;
// No message is larger (a scrub report of a badly damaged drive fits many times over).
inline constexpr std::size_t k_max_frame_bytes = 64u << 20;

// Writes one message (a JSON object) to fd. Fails when the other end is gone (EPIPE) or on errors.
Status write_message(int fd, const nlohmann::json& message);

// Reads one message from fd. `peer` names the other end in errors ("snapkeep serve on nas"). Fails
// on end of file, on a stop signal, on bytes that are not a frame (the start of them is quoted: a
// login shell that printed something, a remote_command that is not snapkeep), on bad JSON or a
// message without a "type".
Result<nlohmann::json> read_message(int fd, std::string_view peer);

// The message's "type" ("" when it has none).
std::string message_type(const nlohmann::json& message);

// An "error" message carrying `error` (kind, message, errno, path, flags) to the other end.
nlohmann::json error_message(const Error& error);
// The Error an "error" message carries, with `peer` (unless empty) said in front of its message.
Error error_from_message(const nlohmann::json& message, std::string_view peer);

}  // namespace snapkeep
