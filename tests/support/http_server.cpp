#include "tests/support/http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <stdexcept>

namespace snapkeep::test {
namespace {

Fd listen_loopback(int& port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd.get(), 16) != 0) {
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

const char* reason(int status) {
  return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
}

}  // namespace

HttpServer::HttpServer(std::vector<int> statuses, bool hang) : m_statuses(std::move(statuses)), m_hang(hang) {
  m_listen = listen_loopback(m_port);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2");
  }
  m_stop_read.reset(pipe_fds[0]);
  m_stop_write.reset(pipe_fds[1]);
  m_thread = std::thread([this] { serve(); });
}

HttpServer::~HttpServer() {
  const char byte = 'x';
  (void)!::write(m_stop_write.get(), &byte, 1);
  m_thread.join();
}

std::string HttpServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(m_port) + path;
}

std::vector<HttpServer::Request> HttpServer::requests() const {
  std::lock_guard<std::mutex> guard(m_mutex);
  return m_requests;
}

std::vector<HttpServer::Request> HttpServer::wait_for(std::size_t count) const {
  std::unique_lock<std::mutex> lock(m_mutex);
  m_arrived.wait_for(lock, std::chrono::seconds(20), [&] { return m_requests.size() >= count; });
  return m_requests;
}

void HttpServer::serve() {
  while (true) {
    pollfd fds[2] = {{m_listen.get(), POLLIN, 0}, {m_stop_read.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      continue;
    }
    if ((fds[1].revents & POLLIN) != 0) {
      return;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      Fd client(::accept4(m_listen.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (client) {
        handle(std::move(client));
      }
    }
  }
}

void HttpServer::handle(Fd client) {
  std::string data;
  char buffer[4096];
  std::size_t header_end = std::string::npos;
  std::size_t body_length = 0;
  while (true) {
    pollfd pfd{client.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 5000) <= 0) {
      return;
    }
    const ssize_t n = ::read(client.get(), buffer, sizeof buffer);
    if (n <= 0) {
      return;
    }
    data.append(buffer, static_cast<std::size_t>(n));
    if (header_end == std::string::npos && (header_end = data.find("\r\n\r\n")) != std::string::npos) {
      for (std::size_t line = data.find("\r\n"); line < header_end; line = data.find("\r\n", line + 2)) {
        std::string header = data.substr(line + 2, data.find("\r\n", line + 2) - line - 2);
        for (auto& c : header) {
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (header.rfind("content-length:", 0) == 0) {
          body_length = std::strtoull(header.c_str() + 15, nullptr, 10);
        }
      }
    }
    if (header_end != std::string::npos && data.size() >= header_end + 4 + body_length) {
      break;
    }
  }
  Request request;
  const std::size_t space1 = data.find(' ');
  const std::size_t space2 = data.find(' ', space1 + 1);
  request.method = data.substr(0, space1);
  request.target = data.substr(space1 + 1, space2 - space1 - 1);
  request.body = data.substr(header_end + 4, body_length);
  int status = 200;
  {
    std::lock_guard<std::mutex> guard(m_mutex);
    if (m_requests.size() < m_statuses.size()) {
      status = m_statuses[m_requests.size()];
    }
    m_requests.push_back(std::move(request));
  }
  m_arrived.notify_all();
  if (m_hang) {
    m_held.push_back(std::move(client));
    return;
  }
  const std::string answer = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) +
                             "\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK";
  (void)!::write(client.get(), answer.data(), answer.size());
}

int closed_port() {
  int port = 0;
  Fd fd = listen_loopback(port);
  return port;
}

}  // namespace snapkeep::test
