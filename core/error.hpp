#pragma once
// One error type for all of snapkeep: what went wrong, the errno and the path it concerns.

#include <cerrno>
#include <filesystem>
#include <string>
#include <utility>
#include <variant>

namespace snapkeep {

// How an error maps to the exit status of SPEC §2.
enum class ErrorKind {
  runtime,  // exit 1: an operation failed at run time
  config,   // exit 2: usage or configuration error, nothing changed
  locked,   // exit 3: another run holds the preset's lock
  damage,   // exit 4: scrub found unrepaired damage
};

// An error that keeps its errno and path so the user sees what and where.
struct Error {
  ErrorKind kind = ErrorKind::runtime;
  std::string message;
  int err = 0;                 // errno, 0 when none
  std::filesystem::path path;  // path concerned, empty when none

  // "message: path: strerror" with the parts that are set.
  std::string describe() const;
  int exit_code() const;
  // Did it come from a full filesystem: ENOSPC or EDQUOT in err, or their strerror text in the
  // message (a child's stderr tail)?
  bool full_filesystem() const;
};

// Does this text (e.g. a child's stderr) say strerror(ENOSPC) or strerror(EDQUOT)?
bool reports_full_filesystem(const std::string& text);

// An Error for a failed system call on `path`, taking errno now.
Error sys_error(std::string message, const std::filesystem::path& path, int err = errno);
// A runtime error without errno.
Error runtime_error(std::string message, std::filesystem::path path = {});
// A configuration or usage error (exit 2).
Error config_error(std::string message, std::filesystem::path path = {});

// A small expected<T, Error>: C++20 has none.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : m_v(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : m_v(std::in_place_index<1>, std::move(error)) {}

  explicit operator bool() const { return m_v.index() == 0; }
  bool ok() const { return m_v.index() == 0; }
  T& value() & { return std::get<0>(m_v); }
  const T& value() const& { return std::get<0>(m_v); }
  T&& value() && { return std::get<0>(std::move(m_v)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const& { return std::get<1>(m_v); }
  Error&& error() && { return std::get<1>(std::move(m_v)); }

 private:
  std::variant<T, Error> m_v;
};

// Result<void>: success carries nothing.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : m_error(std::move(error)), m_failed(true) {}

  explicit operator bool() const { return !m_failed; }
  bool ok() const { return !m_failed; }
  const Error& error() const& { return m_error; }
  Error&& error() && { return std::move(m_error); }

 private:
  Error m_error;
  bool m_failed = false;
};

using Status = Result<void>;

}  // namespace snapkeep

// Propagate a failed Result from the enclosing function.
#define SNAPKEEP_TRY(expr)                            \
  do {                                                \
    auto&& snapkeep_try_result_ = (expr);             \
    if (!snapkeep_try_result_) {                      \
      return std::move(snapkeep_try_result_).error(); \
    }                                                 \
  } while (false)
