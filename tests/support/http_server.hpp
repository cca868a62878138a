#pragma once
// A tiny HTTP/1.1 server on 127.0.0.1 for the healthcheck tests: it records every request and
// answers with a scripted status (or not at all, to test timeouts). Stops with its owner.

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/base/fd.hpp"

namespace snapkeep::test {

class HttpServer {
 public:
  // One request as received.
  struct Request {
    std::string method;
    std::string target;  // path and query
    std::string body;
  };

  // Answers request i with statuses[i] (200 once the script runs out); with `hang`, reads each
  // request and never answers.
  explicit HttpServer(std::vector<int> statuses = {}, bool hang = false);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // "http://127.0.0.1:PORT" + path.
  std::string url(const std::string& path = "") const;
  int port() const { return m_port; }
  // The requests so far, oldest first.
  std::vector<Request> requests() const;
  // The requests once at least `count` have arrived or 20 s have passed (a bound, not a timing).
  std::vector<Request> wait_for(std::size_t count) const;

 private:
  void serve();
  void handle(Fd client);

  std::vector<int> m_statuses;
  bool m_hang = false;
  Fd m_listen;
  Fd m_stop_read;
  Fd m_stop_write;
  int m_port = 0;
  mutable std::mutex m_mutex;
  mutable std::condition_variable m_arrived;
  std::vector<Request> m_requests;
  std::vector<Fd> m_held;  // connections left unanswered (hang)
  std::thread m_thread;
};

// A TCP port on 127.0.0.1 where nothing listens (bound, then closed).
int closed_port();

}  // namespace snapkeep::test
