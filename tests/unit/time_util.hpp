#pragma once
// Time helpers for the unit tests: a scoped TZ, Europe/Berlin with or without tzdata, and moments
// from wall-clock fields.

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>

namespace snapkeep::test {

// Sets TZ for the lifetime of the object and restores the previous value afterwards.
class ScopedTz {
 public:
  explicit ScopedTz(const std::string& tz) {
    if (const char* old = std::getenv("TZ")) {
      m_old = old;
    }
    set(tz);
  }
  ~ScopedTz() {
    if (m_old) {
      ::setenv("TZ", m_old->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  ScopedTz(const ScopedTz&) = delete;
  ScopedTz& operator=(const ScopedTz&) = delete;

  // Switches to another zone; the one before the object came back at its end all the same.
  static void set(const std::string& tz) {
    ::setenv("TZ", tz.c_str(), 1);
    ::tzset();
  }

 private:
  std::optional<std::string> m_old;
};

// Europe/Berlin from tzdata, or the equivalent POSIX rule when tzdata is not installed.
inline std::string berlin_tz() {
  return std::filesystem::exists("/usr/share/zoneinfo/Europe/Berlin") ? "Europe/Berlin" : "CET-1CEST,M3.5.0,M10.5.0/3";
}

// Wall-clock fields (month 1-12), DST left for mktime to decide.
inline std::tm wall_clock(int year, int month, int day, int hour, int minute = 0, int second = 0) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  tm.tm_isdst = -1;
  return tm;
}

// The moment of a UTC wall-clock time.
inline std::time_t utc(int year, int month, int day, int hour, int minute = 0, int second = 0) {
  std::tm tm = wall_clock(year, month, day, hour, minute, second);
  return ::timegm(&tm);
}

// The moment of a local wall-clock time (not in a DST fall-back hour, where it is ambiguous).
inline std::time_t local(int year, int month, int day, int hour, int minute = 0, int second = 0) {
  std::tm tm = wall_clock(year, month, day, hour, minute, second);
  return std::mktime(&tm);
}

}  // namespace snapkeep::test
