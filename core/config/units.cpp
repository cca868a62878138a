#include "core/config/units.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

// Decisions users see (document in the config reference):
// - Sizes are binary: K = 1024, M = 1024^2 ... P = 1024^5; the unit is case-insensitive and may be
//   followed by "B" or "iB" ("50G", "50GB", "50GiB", "50 g" are equal). A decimal needs a unit
//   ("1.5G"; "1.5" bytes is an error) and is rounded down to whole bytes.
// - Percentages: 0 < p <= 100, decimals allowed ("2.5%").
// - Durations: plain seconds ("90") or components d, h, m, s each at most once, largest first,
//   optionally separated by blanks ("1h30m", "1d 12h"). Zero ("0", "0s") is allowed and means
//   "no time" (e.g. do not wait).
// - keep: lower-case units only; "m" is months (there is no minute rule).

namespace snapkeep {
namespace {

constexpr std::string_view k_blanks = " \t\r\n\v\f";
constexpr std::uint64_t k_max = std::numeric_limits<std::uint64_t>::max();

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(k_blanks);
  if (first == std::string_view::npos) {
    return {};
  }
  return text.substr(first, text.find_last_not_of(k_blanks) - first + 1);
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Length of the run of digits at the start of text.
std::size_t digit_run(std::string_view text) {
  std::size_t n = 0;
  while (n < text.size() && is_digit(text[n])) {
    ++n;
  }
  return n;
}

// Decimal digits to an integer; false when empty or on overflow.
bool to_uint(std::string_view digits, std::uint64_t& out) {
  if (digits.empty()) {
    return false;
  }
  std::uint64_t value = 0;
  for (char c : digits) {
    if (__builtin_mul_overflow(value, 10U, &value) ||
        __builtin_add_overflow(value, static_cast<std::uint64_t>(c - '0'), &value)) {
      return false;
    }
  }
  out = value;
  return true;
}

// "12" or "12.5" (nothing else) as a double; false otherwise.
bool to_decimal(std::string_view text, double& out) {
  const std::size_t whole = digit_run(text);
  if (whole == 0) {
    return false;
  }
  if (whole < text.size()) {
    if (text[whole] != '.' || whole + 1 == text.size() ||
        digit_run(text.substr(whole + 1)) != text.size() - whole - 1) {
      return false;
    }
  }
  out = std::strtod(std::string(text).c_str(), nullptr);
  return true;
}

// Binary shift of a size unit letter, or -1.
int unit_shift(char c) {
  switch (lower(c)) {
    case 'k': return 10;
    case 'm': return 20;
    case 'g': return 30;
    case 't': return 40;
    case 'p': return 50;
    default: return -1;
  }
}

Error size_error(std::string_view text, const std::string& why) {
  return config_error("bad size '" + std::string(text) + "': " + why);
}

}  // namespace

Result<std::uint64_t> parse_bytes(std::string_view text) {
  const std::string_view t = trim(text);
  if (t.empty()) {
    return size_error(t, "empty");
  }
  if (t.front() == '-') {
    return size_error(t, "a size cannot be negative");
  }
  const std::size_t whole_len = digit_run(t);
  if (whole_len == 0) {
    return size_error(t, "expected a number with an optional unit K, M, G, T or P (e.g. 50G)");
  }
  std::size_t pos = whole_len;
  std::string_view fraction;
  if (pos < t.size() && t[pos] == '.') {
    fraction = t.substr(pos + 1, digit_run(t.substr(pos + 1)));
    if (fraction.empty()) {
      return size_error(t, "expected digits after '.'");
    }
    pos += 1 + fraction.size();
  }
  std::string_view suffix = trim(t.substr(pos));
  int shift = 0;
  if (!suffix.empty() && unit_shift(suffix.front()) >= 0) {
    shift = unit_shift(suffix.front());
    suffix.remove_prefix(1);
    if (suffix.size() == 2 && lower(suffix[0]) == 'i' && lower(suffix[1]) == 'b') {
      suffix = {};
    }
  }
  if (suffix.size() == 1 && lower(suffix[0]) == 'b') {
    suffix = {};
  }
  if (!suffix.empty()) {
    return size_error(t, "unknown unit (use K, M, G, T or P, optionally followed by B or iB)");
  }
  if (!fraction.empty() && shift == 0) {
    return size_error(t, "a fractional size needs a unit (e.g. 1.5G)");
  }
  std::uint64_t whole = 0;
  if (!to_uint(t.substr(0, whole_len), whole) || whole > (k_max >> shift)) {
    return size_error(t, "too large");
  }
  std::uint64_t bytes = whole << shift;
  if (!fraction.empty()) {
    const long double part = std::strtold(("0." + std::string(fraction)).c_str(), nullptr);
    const auto extra = static_cast<std::uint64_t>(std::floor(part * std::ldexp(1.0L, shift)));
    if (__builtin_add_overflow(bytes, extra, &bytes)) {
      return size_error(t, "too large");
    }
  }
  return bytes;
}

Result<SizeSpec> parse_size_spec(std::string_view text) {
  const std::string_view t = trim(text);
  if (!t.empty() && t.back() == '%') {
    double percent = 0;
    if (!to_decimal(trim(t.substr(0, t.size() - 1)), percent)) {
      return size_error(t, "expected a percentage like 10%");
    }
    if (percent <= 0 || percent > 100) {
      return size_error(t, "a percentage must be more than 0% and at most 100%");
    }
    SizeSpec spec;
    spec.is_percent = true;
    spec.percent = percent;
    return spec;
  }
  SNAPKEEP_TRY_ASSIGN(auto bytes, parse_bytes(t));
  SizeSpec spec;
  spec.bytes = bytes;
  return spec;
}

Result<std::uint64_t> parse_duration(std::string_view text) {
  const std::string_view t = trim(text);
  const auto bad = [&]() {
    return config_error("bad duration '" + std::string(t) +
                        "' (use seconds, or d, h, m, s largest first, e.g. 90, 45s, 1h30m, 2d)");
  };
  std::uint64_t total = 0;
  if (!t.empty() && digit_run(t) == t.size()) {
    if (!to_uint(t, total)) {
      return config_error("duration '" + std::string(t) + "' is too large");
    }
    return total;
  }
  constexpr std::string_view k_units = "dhms";  // largest first
  constexpr std::array<std::uint64_t, 4> k_seconds = {86400, 3600, 60, 1};
  std::size_t next_unit = 0;  // units before this index were used or skipped
  std::string_view rest = t;
  if (rest.empty()) {
    return bad();
  }
  while (!rest.empty()) {
    const std::size_t n = digit_run(rest);
    std::uint64_t count = 0;
    if (n == 0 || n == rest.size() || !to_uint(rest.substr(0, n), count)) {
      return n > 0 && n < rest.size() ? config_error("duration '" + std::string(t) + "' is too large") : bad();
    }
    const auto unit = k_units.find(lower(rest[n]));
    if (unit == std::string_view::npos || unit < next_unit) {
      return bad();
    }
    next_unit = unit + 1;
    if (__builtin_mul_overflow(count, k_seconds[unit], &count) || __builtin_add_overflow(total, count, &total)) {
      return config_error("duration '" + std::string(t) + "' is too large");
    }
    rest = trim(rest.substr(n + 1));
  }
  return total;
}

Result<KeepPolicy> parse_keep(std::string_view text) {
  KeepPolicy policy;
  policy.text = std::string(trim(text));
  const auto bad_token = [](std::string_view token, std::string_view why) {
    return config_error("bad retention rule '" + std::string(token) + "': " + std::string(why));
  };
  constexpr std::string_view k_usage = "use N, Nh, Nd, Nw, Nm, Ny or *h, *d, *w, *m, *y";
  std::array<std::string, 6> seen;  // token that set each unit, by Unit value
  std::string_view rest = policy.text;
  while (!(rest = trim(rest)).empty()) {
    const auto end = std::min(rest.find_first_of(k_blanks), rest.size());
    const std::string_view token = rest.substr(0, end);
    rest.remove_prefix(end);

    KeepRule rule;
    std::size_t n = 0;
    if (token.front() == '*') {
      n = 1;
    } else {
      n = digit_run(token);
      std::uint64_t count = 0;
      if (n == 0) {
        return bad_token(token, k_usage);
      }
      if (!to_uint(token.substr(0, n), count)) {
        return bad_token(token, "number too large");
      }
      if (count == 0) {
        return bad_token(token, "the count must be at least 1");
      }
      rule.count = count;
    }
    if (token.size() > n + 1 || (token.size() == n && !rule.count)) {
      return bad_token(token, k_usage);
    }
    if (token.size() == n + 1) {
      switch (token[n]) {
        case 'h': rule.unit = KeepRule::Unit::hour; break;
        case 'd': rule.unit = KeepRule::Unit::day; break;
        case 'w': rule.unit = KeepRule::Unit::week; break;
        case 'm': rule.unit = KeepRule::Unit::month; break;
        case 'y': rule.unit = KeepRule::Unit::year; break;
        case 'H':
        case 'D':
        case 'W':
        case 'M':
        case 'Y':
          return bad_token(token, std::string(k_usage) +
                                      "; units are lower case (h hours, d days, w weeks, m months, y years: "
                                      "there is no minute rule)");
        case 's': return bad_token(token, std::string(k_usage) + "; there is no seconds or minutes rule (m is months)");
        default: return bad_token(token, k_usage);
      }
    }
    std::string& previous = seen[static_cast<std::size_t>(rule.unit)];
    if (!previous.empty()) {
      return bad_token(token, "repeats the rule '" + previous + "' (give each unit once)");
    }
    previous = std::string(token);
    policy.rules.push_back(rule);
  }
  return policy;
}

Result<bool> parse_bool(std::string_view text) {
  std::string t(trim(text));
  for (char& c : t) {
    c = lower(c);
  }
  if (t == "1" || t == "yes" || t == "true" || t == "on") {
    return true;
  }
  if (t == "0" || t == "no" || t == "false" || t == "off") {
    return false;
  }
  return config_error("not a boolean: '" + std::string(trim(text)) + "' (use yes/no, true/false, on/off or 1/0)");
}

}  // namespace snapkeep
