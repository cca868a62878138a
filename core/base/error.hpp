#pragma once
// One error type for all of snapkeep: what went wrong, the errno and the path it concerns.

#include <cerrno>
#include <filesystem>
#include <string>
#include <utility>
#include <variant>

namespace snapkeep {

// The exit statuses of SPEC §2.
enum class ExitStatus {
  ok = 0,      // everything asked for succeeded
  failed = 1,  // an operation failed at run time
  usage = 2,   // usage or configuration error; nothing was changed
  locked = 3,  // another run holds the lock of a preset asked for
  damage = 4,  // scrub found damage that is not repaired
};

// The more serious of two statuses, for a run over several presets: ok < locked < failed < damage < usage.
ExitStatus worse(ExitStatus a, ExitStatus b);

// The process exit code of a status.
inline int exit_code(ExitStatus status) {
  return static_cast<int>(status);
}

// How an error maps to the exit status of SPEC §2.
enum class ErrorKind {
  runtime,  // exit 1: an operation failed at run time
  config,   // exit 2: usage or configuration error, nothing changed
  locked,   // exit 3: another run holds the preset's lock
  damage,   // exit 4: scrub found unrepaired damage
};

// An error that keeps its errno, its path and the preset it concerns, so the user sees what and where.
struct Error {
  ErrorKind kind = ErrorKind::runtime;
  std::string message;
  int err = 0;                 // errno, 0 when none
  std::filesystem::path path;  // path concerned, empty when none
  std::string preset;          // the preset it concerns, empty when none; rendered once, in front
  bool full = false;           // a filesystem was full: ENOSPC or EDQUOT seen (errno or a child's stderr)
  bool drive_absent = false;   // the destination drive is not there (not mounted, or another drive is)

  // "preset: message: path: strerror" with the parts that are set.
  std::string describe() const;
  int exit_code() const;
  ExitStatus exit_status() const;
  // Did it come from a full filesystem (the `full` flag)?
  bool full_filesystem() const { return full; }
  // This error, concerning `preset` (kept when it already names one).
  Error&& in(const std::string& preset_name) &&;
};

// Does this text (a child's stderr, read with LC_ALL=C) say strerror(ENOSPC) or strerror(EDQUOT)?
bool reports_full_filesystem(const std::string& text);

// An Error of any kind; ENOSPC and EDQUOT set `full`.
Error make_error(ErrorKind kind, std::string message, int err = 0, std::filesystem::path path = {});
// An Error for a failed system call on `path`, taking errno now; ENOSPC and EDQUOT set `full`.
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

#define SNAPKEEP_CONCAT_INNER(a, b) a##b
#define SNAPKEEP_CONCAT(a, b) SNAPKEEP_CONCAT_INNER(a, b)
#define SNAPKEEP_TRY_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp) {                                    \
    return std::move(tmp).error();               \
  }                                              \
  lhs = std::move(tmp).value()

// Declare-and-unwrap, propagating a failure: SNAPKEEP_TRY_ASSIGN(auto snapshots, list_snapshots(dir));
#define SNAPKEEP_TRY_ASSIGN(lhs, expr) SNAPKEEP_TRY_ASSIGN_IMPL(SNAPKEEP_CONCAT(snapkeep_try_, __LINE__), lhs, expr)
