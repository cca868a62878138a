#pragma once
// An owned file descriptor: closed on every path out of the scope that holds it.

#include <unistd.h>

#include <utility>

namespace snapkeep {

// Owns one descriptor (or none, -1). Move-only; close() reports the error close(2) gave.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : m_fd(fd) {}
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset(std::exchange(other.m_fd, -1));
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return m_fd; }
  bool valid() const { return m_fd >= 0; }
  explicit operator bool() const { return valid(); }
  // Gives up ownership without closing.
  int release() { return std::exchange(m_fd, -1); }
  // Closes the descriptor held (if any) and holds `fd` instead.
  void reset(int fd = -1) {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
    m_fd = fd;
  }
  // Closes now; returns close(2)'s result (0, or -1 with errno set), 0 when nothing was held.
  int close() { return m_fd >= 0 ? ::close(std::exchange(m_fd, -1)) : 0; }

 private:
  int m_fd = -1;
};

}  // namespace snapkeep
