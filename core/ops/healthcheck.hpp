#pragma once
// Pings a Healthchecks.io-style monitor (docs/monitoring.md#healthcheck_url) over HTTP with libcurl:
// URL/start when a backup starts, URL on success, URL/fail with the log tail on failure.

#include <chrono>
#include <string>
#include <string_view>

#include "core/base/error.hpp"

namespace snapkeep {

enum class PingKind { start, success, fail };

// How hard to try: a monitor that cannot be reached must never hold a backup up for long.
struct PingOptions {
  int attempts = 3;                           // tries in all
  std::chrono::milliseconds timeout{10'000};  // per try, connecting included
  std::chrono::milliseconds pause{1'000};     // before a retry (doubled each time)
};

// The URL a ping goes to: `url` + "/start" or "/fail" (nothing for success), with `?rid=RUN_ID`
// when run_id is not empty (Healthchecks pairs a run's start and end by it).
std::string ping_url(std::string_view url, PingKind kind, std::string_view run_id);

// POSTs `body` (the run's summary or log tail, cut to the last 10 000 bytes) to ping_url. Retries on
// a connection error, a timeout or an HTTP 5xx/429 answer. Fails (for the caller to log as a
// warning, never to fail a backup) when no try got a 2xx answer; the error says what the last got.
Status send_ping(std::string_view url, PingKind kind, std::string_view body, std::string_view run_id,
                 const PingOptions& options = {});

// A fresh random UUID (version 4) for run_id.
std::string new_run_id();

}  // namespace snapkeep
