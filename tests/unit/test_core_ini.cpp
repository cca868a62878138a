// Unit tests for core/ini: the configparser dialect, merging of files, and exact error texts.

#include <string>

#include <gtest/gtest.h>

#include "core/config/ini.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

const std::filesystem::path k_file = "/etc/snapkeep/a.conf";

// Parses one text into a fresh document; fails the test on error.
IniDocument parse_ok(std::string_view text) {
  IniDocument doc;
  auto status = parse_ini(text, k_file, doc);
  EXPECT_TRUE(status.ok()) << status.error().message;
  return doc;
}

// The message of the error parse_ini gives for `text`, "" on success.
std::string parse_error(std::string_view text) {
  IniDocument doc;
  auto status = parse_ini(text, k_file, doc);
  if (status.ok()) {
    return "";
  }
  EXPECT_EQ(status.error().kind, ErrorKind::config);
  return status.error().message;
}

TEST(CoreIni, SectionsWithBothSeparatorsAndLowerCasedKeys) {
  const auto doc = parse_ok("[home]\nSource = /home/user\nDestination: /mnt/backup\n[work]\nkeep=3\n");
  ASSERT_EQ(doc.sections.size(), 2U);
  EXPECT_EQ(doc.sections[0].name, "home");
  EXPECT_EQ(doc.sections[0].values.at("source").value, "/home/user");
  EXPECT_EQ(doc.sections[0].values.at("destination").value, "/mnt/backup");
  EXPECT_EQ(doc.sections[1].name, "work");
  EXPECT_EQ(doc.sections[1].values.at("keep").value, "3");
  EXPECT_TRUE(doc.defaults.values.empty());
}

TEST(CoreIni, SplitsAtTheFirstSeparator) {
  const auto doc = parse_ok("[s]\na = x=y:z\nb: p = q\nc  =   spaced value  \n");
  EXPECT_EQ(doc.sections[0].values.at("a").value, "x=y:z");
  EXPECT_EQ(doc.sections[0].values.at("b").value, "p = q");
  EXPECT_EQ(doc.sections[0].values.at("c").value, "spaced value");
}

TEST(CoreIni, CommentsAndBlankLinesAreSkipped) {
  const auto doc = parse_ok("# top\n; also\n\n[s]\n  # indented comment\nkey = v # not a comment\n\n; end\n");
  ASSERT_EQ(doc.sections.size(), 1U);
  ASSERT_EQ(doc.sections[0].values.size(), 1U);
  EXPECT_EQ(doc.sections[0].values.at("key").value, "v # not a comment");
}

TEST(CoreIni, ContinuationLinesKeepInnerBlankLinesAndDropTrailingOnes) {
  const auto doc = parse_ok("[s]\nexclude = *.tmp\n    .cache/\n\n    /proc\n\n\nnext = 1\n");
  EXPECT_EQ(doc.sections[0].values.at("exclude").value, "*.tmp\n.cache/\n\n/proc");
  EXPECT_EQ(doc.sections[0].values.at("next").value, "1");
  EXPECT_EQ(doc.sections[0].values.at("next").line, 8);
}

TEST(CoreIni, ValueMayStartOnTheNextLineAndCommentsInsideAreSkipped) {
  const auto doc = parse_ok("[s]\nexclude =\n  a\n  # skipped\n  b\n");
  EXPECT_EQ(doc.sections[0].values.at("exclude").value, "\na\nb");
}

TEST(CoreIni, SameIndentIsANewKeyNotAContinuation) {
  const auto doc = parse_ok("[s]\n  a = 1\n  b = 2\n    more\n");
  EXPECT_EQ(doc.sections[0].values.at("a").value, "1");
  EXPECT_EQ(doc.sections[0].values.at("b").value, "2\nmore");
}

TEST(CoreIni, DefaultSectionIsKeptApart) {
  const auto doc = parse_ok("[DEFAULT]\nkeep = 7d\n[home]\nsource = /h\n");
  EXPECT_EQ(doc.defaults.values.at("keep").value, "7d");
  EXPECT_EQ(doc.defaults.line, 1);
  ASSERT_EQ(doc.sections.size(), 1U);
  EXPECT_EQ(doc.sections[0].values.count("keep"), 0U);
}

TEST(CoreIni, RecordsFileAndLines) {
  const auto doc = parse_ok("\n# c\n[home]\n\nsource = /h\n");
  EXPECT_EQ(doc.sections[0].file, k_file);
  EXPECT_EQ(doc.sections[0].line, 3);
  EXPECT_EQ(doc.sections[0].values.at("source").line, 5);
  EXPECT_EQ(doc.sections[0].values.at("source").file, k_file);
}

TEST(CoreIni, LaterTextOverridesPerKeyAndKeepsFirstHeader) {
  IniDocument doc;
  ASSERT_TRUE(parse_ini("[home]\nsource = /a\nkeep = 3\n[DEFAULT]\nchecksum = none\n", "/one.conf", doc).ok());
  ASSERT_TRUE(
      parse_ini("[other]\nsource = /o\n\n[home]\nkeep = 5\n[DEFAULT]\nchecksum = sha256\n", "/two.conf", doc).ok());
  ASSERT_EQ(doc.sections.size(), 2U);
  const IniSection& home = doc.sections[0];
  EXPECT_EQ(home.name, "home");
  EXPECT_EQ(home.file, "/one.conf");
  EXPECT_EQ(home.line, 1);
  EXPECT_EQ(home.values.at("source").value, "/a");
  EXPECT_EQ(home.values.at("source").file, "/one.conf");
  EXPECT_EQ(home.values.at("keep").value, "5");
  EXPECT_EQ(home.values.at("keep").file, "/two.conf");
  EXPECT_EQ(home.values.at("keep").line, 5);
  EXPECT_EQ(doc.sections[1].name, "other");
  EXPECT_EQ(doc.defaults.values.at("checksum").value, "sha256");
}

TEST(CoreIni, DuplicateSectionInOneText) {
  EXPECT_EQ(parse_error("[home]\nsource = /a\n\n[home]\n"),
            "/etc/snapkeep/a.conf:4: preset 'home' already defined at line 1");
}

TEST(CoreIni, DuplicateKeyInOneSection) {
  EXPECT_EQ(parse_error("[home]\nsource = /a\nkeep = 1\nSOURCE = /b\n"),
            "/etc/snapkeep/a.conf:4: key 'source' in preset 'home' already set at line 2");
  EXPECT_EQ(parse_error("[DEFAULT]\nkeep = 1\nkeep: 2\n"),
            "/etc/snapkeep/a.conf:3: key 'keep' in [DEFAULT] already set at line 2");
}

TEST(CoreIni, KeyOutsideOfASection) {
  EXPECT_EQ(parse_error("# comment\nsource = /a\n[home]\n"),
            "/etc/snapkeep/a.conf:2: key outside of a section (add a [preset] header above it)");
}

TEST(CoreIni, UnterminatedHeader) {
  EXPECT_EQ(parse_error("[home]\nsource = /a\n[work\n"),
            "/etc/snapkeep/a.conf:3: unterminated section header '[work' (missing ']')");
}

TEST(CoreIni, EmptySectionName) {
  EXPECT_EQ(parse_error("[home]\n[  ]\n"), "/etc/snapkeep/a.conf:2: empty section name '[  ]'");
  EXPECT_EQ(parse_error("[]\n"), "/etc/snapkeep/a.conf:1: empty section name '[]'");
}

TEST(CoreIni, LineThatIsNeitherIsQuoted) {
  EXPECT_EQ(parse_error("[home]\nsource /a\n"),
            "/etc/snapkeep/a.conf:2: cannot parse line 'source /a' (expected [section], key = value or a comment)");
  EXPECT_EQ(parse_error("[home]\n= /a\n"), "/etc/snapkeep/a.conf:2: missing key name before '='");
}

TEST(CoreIni, NulByteIsRejectedWithItsLine) {
  using namespace std::string_literals;
  EXPECT_EQ(parse_error("[home]\nsource = /a\nkeep = 1\0\n"s),
            "/etc/snapkeep/a.conf:3: NUL byte in config file (is it a text file?)");
}

TEST(CoreIni, PercentSyntaxIsChecked) {
  EXPECT_EQ(parse_error("[home]\nx = 10%off\n"), "/etc/snapkeep/a.conf:2: '%' must be written '%%'");
  EXPECT_EQ(parse_error("[home]\nx = 5% more\n"), "/etc/snapkeep/a.conf:2: '%' must be written '%%'");
  EXPECT_EQ(parse_error("[home]\nexclude = a\n  b%c\n"), "/etc/snapkeep/a.conf:3: '%' must be written '%%'");
  EXPECT_EQ(
      parse_error("[home]\nx = %(root)\n"),
      "/etc/snapkeep/a.conf:2: bad interpolation reference '%(root)' (write %(name)s, or '%%' for a literal '%')");
  const auto doc = parse_ok("[home]\nmin_free = 10%%\nsource = %(root)s/x\nkeep = 10%\n  20%\n");
  // Raw values are kept; build_config substitutes them.
  EXPECT_EQ(doc.sections[0].values.at("min_free").value, "10%%");
  EXPECT_EQ(doc.sections[0].values.at("source").value, "%(root)s/x");
  // A '%' that ends a line cannot start a reference: it is accepted as a literal (min_free = 10%).
  EXPECT_EQ(doc.sections[0].values.at("keep").value, "10%\n20%");
}

TEST(CoreIni, CrLfLineEndsAndByteOrderMark) {
  const auto doc = parse_ok("\xEF\xBB\xBF[home]\r\nsource = /a\r\nexclude = x\r\n  y\r\n");
  ASSERT_EQ(doc.sections.size(), 1U);
  EXPECT_EQ(doc.sections[0].name, "home");
  EXPECT_EQ(doc.sections[0].values.at("source").value, "/a");
  EXPECT_EQ(doc.sections[0].values.at("exclude").value, "x\ny");
}

TEST(CoreIni, ReadIniFileReadsAndNamesTheFile) {
  test::TempDir dir;
  test::write_file(dir / "a.conf", "[home]\nsource = /a\n");
  IniDocument doc;
  ASSERT_TRUE(read_ini_file(dir / "a.conf", doc).ok());
  EXPECT_EQ(doc.sections.at(0).values.at("source").file, dir / "a.conf");

  auto missing = read_ini_file(dir / "missing.conf", doc);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::config);
  EXPECT_EQ(missing.error().err, ENOENT);
  EXPECT_EQ(missing.error().describe(),
            "cannot read config file " + (dir / "missing.conf").string() + ": No such file or directory");

  test::write_file(dir / "bad.conf", "[home]\n[home]\n");
  auto bad = read_ini_file(dir / "bad.conf", doc);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, (dir / "bad.conf").string() + ":2: preset 'home' already defined at line 1");
}

}  // namespace
}  // namespace snapkeep
