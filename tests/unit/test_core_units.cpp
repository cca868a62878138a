// Unit tests for core/units: sizes, percentages, durations, retention rules, booleans.

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "core/config/units.hpp"

namespace snapkeep {
namespace {

constexpr std::uint64_t k_kib = 1024;
constexpr std::uint64_t k_gib = k_kib * k_kib * k_kib;

// The error message of a failed Result, "" when it succeeded.
template <class T>
std::string error_of(const Result<T>& result) {
  if (result.ok()) {
    return "";
  }
  EXPECT_EQ(result.error().kind, ErrorKind::config);
  return result.error().message;
}

TEST(CoreUnits, ParseBytesUnitsAreBinaryAndCaseInsensitive) {
  EXPECT_EQ(*parse_bytes("1234"), 1234U);
  EXPECT_EQ(*parse_bytes("0"), 0U);
  EXPECT_EQ(*parse_bytes("100B"), 100U);
  EXPECT_EQ(*parse_bytes("512K"), 512 * k_kib);
  EXPECT_EQ(*parse_bytes("512k"), 512 * k_kib);
  EXPECT_EQ(*parse_bytes("2M"), 2 * k_kib * k_kib);
  EXPECT_EQ(*parse_bytes("50G"), 50 * k_gib);
  EXPECT_EQ(*parse_bytes("50GB"), 50 * k_gib);
  EXPECT_EQ(*parse_bytes("50GiB"), 50 * k_gib);
  EXPECT_EQ(*parse_bytes(" 50 gib "), 50 * k_gib);
  EXPECT_EQ(*parse_bytes("3T"), 3 * k_gib * k_kib);
  EXPECT_EQ(*parse_bytes("1P"), k_gib * k_kib * k_kib);
}

TEST(CoreUnits, ParseBytesDecimals) {
  EXPECT_EQ(*parse_bytes("1.5G"), 1610612736U);
  EXPECT_EQ(*parse_bytes("0.5K"), 512U);
  EXPECT_EQ(*parse_bytes("1.5T"), 3 * k_gib * 512);
  EXPECT_EQ(*parse_bytes("0.001K"), 1U);  // rounded down
  EXPECT_EQ(error_of(parse_bytes("1.5")), "bad size '1.5': a fractional size needs a unit (e.g. 1.5G)");
  EXPECT_EQ(error_of(parse_bytes("1.G")), "bad size '1.G': expected digits after '.'");
  EXPECT_FALSE(parse_bytes(".5G").ok());
}

TEST(CoreUnits, ParseBytesRejectsBadInput) {
  EXPECT_EQ(error_of(parse_bytes("")), "bad size '': empty");
  EXPECT_EQ(error_of(parse_bytes("-5G")), "bad size '-5G': a size cannot be negative");
  EXPECT_EQ(error_of(parse_bytes("10X")),
            "bad size '10X': unknown unit (use K, M, G, T or P, optionally followed by B or iB)");
  EXPECT_EQ(error_of(parse_bytes("G")),
            "bad size 'G': expected a number with an optional unit K, M, G, T or P (e.g. 50G)");
  EXPECT_FALSE(parse_bytes("10iB").ok());
  EXPECT_FALSE(parse_bytes("10GBB").ok());
  EXPECT_FALSE(parse_bytes("1 0").ok());
}

TEST(CoreUnits, ParseBytesOverflow) {
  EXPECT_EQ(*parse_bytes("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(error_of(parse_bytes("18446744073709551616")), "bad size '18446744073709551616': too large");
  EXPECT_EQ(*parse_bytes("16383P"), 16383ULL << 50);
  EXPECT_EQ(error_of(parse_bytes("16384P")), "bad size '16384P': too large");
  EXPECT_EQ(*parse_bytes("16383.5P"), (16383ULL << 50) + (1ULL << 49));
}

TEST(CoreUnits, SizeSpecPercent) {
  auto ten = parse_size_spec("10%");
  ASSERT_TRUE(ten.ok());
  EXPECT_TRUE(ten->is_percent);
  EXPECT_DOUBLE_EQ(ten->percent, 10.0);
  EXPECT_DOUBLE_EQ(parse_size_spec("2.5%")->percent, 2.5);
  EXPECT_DOUBLE_EQ(parse_size_spec("100%")->percent, 100.0);
  EXPECT_EQ(error_of(parse_size_spec("0%")), "bad size '0%': a percentage must be more than 0% and at most 100%");
  EXPECT_EQ(error_of(parse_size_spec("101%")), "bad size '101%': a percentage must be more than 0% and at most 100%");
  EXPECT_EQ(error_of(parse_size_spec("100.1%")),
            "bad size '100.1%': a percentage must be more than 0% and at most 100%");
  EXPECT_EQ(error_of(parse_size_spec("%")), "bad size '%': expected a percentage like 10%");
  EXPECT_FALSE(parse_size_spec("-5%").ok());
  EXPECT_FALSE(parse_size_spec("5G%").ok());
}

TEST(CoreUnits, SizeSpecBytes) {
  auto spec = parse_size_spec("50G");
  ASSERT_TRUE(spec.ok());
  EXPECT_FALSE(spec->is_percent);
  EXPECT_EQ(spec->bytes, 50 * k_gib);
  EXPECT_EQ(error_of(parse_size_spec("lots")),
            "bad size 'lots': expected a number with an optional unit K, M, G, T or P (e.g. 50G)");
}

TEST(CoreUnits, ParseDuration) {
  EXPECT_EQ(*parse_duration("90"), 90U);
  EXPECT_EQ(*parse_duration("45s"), 45U);
  EXPECT_EQ(*parse_duration("30m"), 1800U);
  EXPECT_EQ(*parse_duration("2h"), 7200U);
  EXPECT_EQ(*parse_duration("1d"), 86400U);
  EXPECT_EQ(*parse_duration("1h30m"), 5400U);
  EXPECT_EQ(*parse_duration("1d 2h 3m 4s"), 93784U);
  EXPECT_EQ(*parse_duration("90m"), 5400U);
  EXPECT_EQ(*parse_duration("0"), 0U);
  EXPECT_EQ(*parse_duration("0s"), 0U);
}

TEST(CoreUnits, ParseDurationErrors) {
  const std::string usage = "' (use seconds, or d, h, m, s largest first, e.g. 90, 45s, 1h30m, 2d)";
  EXPECT_EQ(error_of(parse_duration("30m1h")), "bad duration '30m1h" + usage);
  EXPECT_EQ(error_of(parse_duration("1h1h")), "bad duration '1h1h" + usage);
  EXPECT_EQ(error_of(parse_duration("1x")), "bad duration '1x" + usage);
  EXPECT_EQ(error_of(parse_duration("")), "bad duration '" + usage);
  EXPECT_FALSE(parse_duration("h").ok());
  EXPECT_FALSE(parse_duration("1h30").ok());
  EXPECT_FALSE(parse_duration("-5").ok());
  EXPECT_EQ(error_of(parse_duration("99999999999999999999")), "duration '99999999999999999999' is too large");
  EXPECT_EQ(error_of(parse_duration("999999999999999999d")), "duration '999999999999999999d' is too large");
}

TEST(CoreUnits, ParseKeepFullExample) {
  auto keep = parse_keep("3 24h 14d 8w 12m *y");
  ASSERT_TRUE(keep.ok()) << keep.error().message;
  EXPECT_EQ(keep->text, "3 24h 14d 8w 12m *y");
  ASSERT_EQ(keep->rules.size(), 6U);
  using Unit = KeepRule::Unit;
  const std::pair<Unit, std::optional<std::uint64_t>> expected[] = {{Unit::newest, 3}, {Unit::hour, 24},
                                                                    {Unit::day, 14},   {Unit::week, 8},
                                                                    {Unit::month, 12}, {Unit::year, std::nullopt}};
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(keep->rules[i].unit, expected[i].first) << i;
    EXPECT_EQ(keep->rules[i].count, expected[i].second) << i;
  }
}

TEST(CoreUnits, ParseKeepEmptyAndSpacing) {
  auto empty = parse_keep("   ");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->rules.empty());
  auto spaced = parse_keep("  7d\t\t*w  ");
  ASSERT_TRUE(spaced.ok());
  ASSERT_EQ(spaced->rules.size(), 2U);
  EXPECT_EQ(spaced->rules[1].unit, KeepRule::Unit::week);
  EXPECT_FALSE(spaced->rules[1].count.has_value());
  EXPECT_EQ(spaced->text, "7d\t\t*w");
}

TEST(CoreUnits, ParseKeepErrorsNameTheToken) {
  const std::string usage = "use N, Nh, Nd, Nw, Nm, Ny or *h, *d, *w, *m, *y";
  EXPECT_EQ(error_of(parse_keep("3 5x")), "bad retention rule '5x': " + usage);
  EXPECT_EQ(error_of(parse_keep("0")), "bad retention rule '0': the count must be at least 1");
  EXPECT_EQ(error_of(parse_keep("7d 0w")), "bad retention rule '0w': the count must be at least 1");
  EXPECT_EQ(error_of(parse_keep("*")), "bad retention rule '*': " + usage);
  EXPECT_EQ(error_of(parse_keep("d")), "bad retention rule 'd': " + usage);
  EXPECT_EQ(error_of(parse_keep("14d 7d")), "bad retention rule '7d': repeats the rule '14d' (give each unit once)");
  EXPECT_EQ(error_of(parse_keep("3 4")), "bad retention rule '4': repeats the rule '3' (give each unit once)");
  EXPECT_EQ(error_of(parse_keep("*y 2y")), "bad retention rule '2y': repeats the rule '*y' (give each unit once)");
  EXPECT_FALSE(parse_keep("24H").ok());
  EXPECT_FALSE(parse_keep("-3").ok());
  EXPECT_FALSE(parse_keep("3dd").ok());
  EXPECT_FALSE(parse_keep("3,4d").ok());
  EXPECT_EQ(error_of(parse_keep("99999999999999999999d")),
            "bad retention rule '99999999999999999999d': number too large");
}

TEST(CoreUnits, ParseBoolLikeConfigparser) {
  for (const char* yes : {"1", "yes", "true", "on", "YES", "True", " On "}) {
    auto v = parse_bool(yes);
    ASSERT_TRUE(v.ok()) << yes;
    EXPECT_TRUE(*v) << yes;
  }
  for (const char* no : {"0", "no", "false", "off", "NO", "False"}) {
    auto v = parse_bool(no);
    ASSERT_TRUE(v.ok()) << no;
    EXPECT_FALSE(*v) << no;
  }
  EXPECT_EQ(error_of(parse_bool("maybe")), "not a boolean: 'maybe' (use yes/no, true/false, on/off or 1/0)");
  EXPECT_FALSE(parse_bool("").ok());
  EXPECT_FALSE(parse_bool("y").ok());
  EXPECT_FALSE(parse_bool("2").ok());
}

TEST(CoreUnits, FormatBytes) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1024), "1.0 KiB");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(1024 * 1024 - 1), "1.0 MiB");
  EXPECT_EQ(format_bytes(1610612736), "1.5 GiB");
  EXPECT_EQ(format_bytes(5ULL << 40), "5.0 TiB");
  EXPECT_EQ(format_bytes(2048ULL << 40), "2048.0 TiB");
}

}  // namespace
}  // namespace snapkeep
