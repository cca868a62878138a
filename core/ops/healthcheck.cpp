#include "core/ops/healthcheck.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/base/fd.hpp"
#include "core/base/signals.hpp"

namespace snapkeep {
namespace {

constexpr std::size_t k_body_limit = 10'000;  // Healthchecks keeps 10 kB of a ping's body by default

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// curl_global_init once per process (it is not thread-safe itself).
void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Discards the answer's body (Healthchecks answers "OK").
size_t discard(char* /*data*/, size_t size, size_t count, void* /*user*/) {
  return size * count;
}

// One try: the HTTP status, or the error of a try that got none.
struct Attempt {
  long http = 0;
  std::string error;
  bool retry = false;
};

Attempt post_once(const std::string& url, std::string_view body, const PingOptions& options) {
  Attempt out;
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) {
    out.error = "libcurl could not start a request";
    return out;
  }
  std::array<char, CURL_ERROR_SIZE> error_buffer{};
  std::unique_ptr<curl_slist, SlistDeleter> headers(
      curl_slist_append(nullptr, "Content-Type: text/plain; charset=utf-8"));
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "snapkeep");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for DNS timeouts: ours are for stopping
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer.data());
  const CURLcode code = curl_easy_perform(c);
  if (code != CURLE_OK) {
    out.error = error_buffer[0] != '\0' ? std::string(error_buffer.data()) : curl_easy_strerror(code);
    out.retry = true;
    return out;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out.http);
  if (out.http < 200 || out.http > 299) {
    out.error = "HTTP status " + std::to_string(out.http);
    out.retry = out.http >= 500 || out.http == 429;
  }
  return out;
}

}  // namespace

std::string ping_url(std::string_view url, PingKind kind, std::string_view run_id) {
  std::string out(url);
  while (!out.empty() && out.back() == '/') {
    out.pop_back();
  }
  if (kind == PingKind::start) {
    out += "/start";
  } else if (kind == PingKind::fail) {
    out += "/fail";
  }
  if (!run_id.empty()) {
    out += (out.find('?') == std::string::npos ? "?rid=" : "&rid=");
    out += run_id;
  }
  return out;
}

Status send_ping(std::string_view url, PingKind kind, std::string_view body, std::string_view run_id,
                 const PingOptions& options) {
  global_init();
  const std::string target = ping_url(url, kind, run_id);
  if (body.size() > k_body_limit) {
    body = body.substr(body.size() - k_body_limit);
  }
  std::chrono::milliseconds pause = options.pause;
  Attempt last;
  for (int attempt = 1; attempt <= std::max(1, options.attempts); ++attempt) {
    last = post_once(target, body, options);
    if (last.error.empty()) {
      spdlog::debug("pinged {} (HTTP {})", target, last.http);
      return {};
    }
    if (!last.retry || attempt == options.attempts || stop_signal() != 0) {
      break;
    }
    spdlog::debug("ping {} failed ({}); trying again in {} ms", target, last.error, pause.count());
    std::this_thread::sleep_for(pause);
    pause *= 2;
  }
  return runtime_error("the monitor at " + target + " could not be reached: " + last.error);
}

std::string new_run_id() {
  std::array<unsigned char, 16> bytes{};
  Fd random(::open("/dev/urandom", O_RDONLY | O_CLOEXEC));
  if (!random || ::read(random.get(), bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
    return "";
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);
  std::string out;
  char hex[3];
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out += '-';
    }
    std::snprintf(hex, sizeof hex, "%02x", bytes[i]);
    out += hex;
  }
  return out;
}

}  // namespace snapkeep
