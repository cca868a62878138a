#include "core/store/snapshot_id.hpp"

#include <cctype>
#include <cstdio>

namespace snapkeep {
namespace {

bool digits_at(std::string_view s, std::size_t pos, std::size_t count, int& out) {
  out = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

bool is_leap(int year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int days_in_month(int year, int month) {
  static constexpr int k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : k_days[month - 1];
}

}  // namespace

std::optional<SnapshotId> parse_snapshot_id(std::string_view name) {
  if (name.size() != 10 && name.size() != 19) {
    return std::nullopt;
  }
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits_at(name, 0, 4, year) || name[4] != '-' || !digits_at(name, 5, 2, month) || name[7] != '-' ||
      !digits_at(name, 8, 2, day)) {
    return std::nullopt;
  }
  bool legacy = name.size() == 10;
  if (!legacy) {
    if (name[10] != '_' || !digits_at(name, 11, 2, hour) || name[13] != '-' || !digits_at(name, 14, 2, minute) ||
        name[16] != '-' || !digits_at(name, 17, 2, second)) {
      return std::nullopt;
    }
  }
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return std::nullopt;
  }
  SnapshotId id;
  id.text = std::string(name);
  id.legacy = legacy;
  id.fields.tm_year = year - 1900;
  id.fields.tm_mon = month - 1;
  id.fields.tm_mday = day;
  id.fields.tm_hour = hour;
  id.fields.tm_min = minute;
  id.fields.tm_sec = second;
  id.fields.tm_isdst = -1;
  return id;
}

std::string format_snapshot_id(std::time_t when) {
  std::tm local{};
  localtime_r(&when, &local);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d_%02d-%02d-%02d", local.tm_year + 1900, local.tm_mon + 1, local.tm_mday,
                local.tm_hour, local.tm_min, local.tm_sec);
  return buf;
}

std::time_t snapshot_id_time(const SnapshotId& id) {
  // Try both DST readings and take the earlier moment that maps back to the same wall clock.
  std::time_t best = -1;
  for (int dst : {0, 1}) {
    std::tm fields = id.fields;
    fields.tm_isdst = dst;
    std::time_t t = std::mktime(&fields);
    std::tm back{};
    localtime_r(&t, &back);
    if (back.tm_hour == id.fields.tm_hour && back.tm_min == id.fields.tm_min && back.tm_mday == id.fields.tm_mday &&
        (best == -1 || t < best)) {
      best = t;
    }
  }
  if (best == -1) {
    // A wall-clock time skipped by a spring-forward: mktime normalises it.
    std::tm fields = id.fields;
    fields.tm_isdst = -1;
    best = std::mktime(&fields);
  }
  return best;
}

std::string format_iso_local(std::time_t when) {
  std::tm local{};
  localtime_r(&when, &local);
  long offset = local.tm_gmtoff;
  char sign = offset < 0 ? '-' : '+';
  if (offset < 0) {
    offset = -offset;
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d%c%02ld:%02ld", local.tm_year + 1900, local.tm_mon + 1,
                local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec, sign, offset / 3600, (offset % 3600) / 60);
  return buf;
}

}  // namespace snapkeep
