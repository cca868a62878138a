// Unit tests for core/config/command_words: hook command lines split like systemd's ExecStart=.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/command_words.hpp"

namespace snapkeep {
namespace {

using Words = std::vector<std::string>;

Words split(std::string_view line) {
  auto words = split_command_words(line);
  EXPECT_TRUE(words.ok()) << line << ": " << (words.ok() ? "" : words.error().message);
  return words.ok() ? *words : Words{};
}

std::string error_of(std::string_view line) {
  auto words = split_command_words(line);
  if (words.ok()) {
    ADD_FAILURE() << line << " was accepted";
    return "";
  }
  EXPECT_EQ(words.error().kind, ErrorKind::config);
  return words.error().message;
}

TEST(CommandWords, BlanksSeparateWords) {
  EXPECT_EQ(split("/usr/bin/pg_dump  -f\t/var/backups/db.sql mydb"),
            (Words{"/usr/bin/pg_dump", "-f", "/var/backups/db.sql", "mydb"}));
  EXPECT_EQ(split(""), Words{});
  EXPECT_EQ(split("   "), Words{});
  EXPECT_EQ(split("  one  "), Words{"one"});
}

TEST(CommandWords, QuotesWrapAWholeWordAndAreRemoved) {
  EXPECT_EQ(split("notify-send \"backup failed\" 'on $HOST'"), (Words{"notify-send", "backup failed", "on $HOST"}));
  EXPECT_EQ(split("a \"\" b"), (Words{"a", "", "b"}));
  EXPECT_EQ(split("echo \"it's\" 'say \"hi\"'"), (Words{"echo", "it's", "say \"hi\""}));
}

TEST(CommandWords, NoShellNoVariablesNoGlobs) {
  EXPECT_EQ(split("echo $HOME ${USER} *.txt ; rm -rf / | cat && true"),
            (Words{"echo", "$HOME", "${USER}", "*.txt", ";", "rm", "-rf", "/", "|", "cat", "&&", "true"}));
}

TEST(CommandWords, CEscapesInsideAndOutsideQuotes) {
  EXPECT_EQ(split(R"(printf a\sb "tab\there" 'nl\n' back\\slash \"q\" \x41\102\u00e9)"),
            (Words{"printf", "a b", "tab\there", "nl\n", "back\\slash", "\"q\"", "AB\xc3\xa9"}));
  EXPECT_EQ(split(R"(x \U0001F600)"), (Words{"x", "\xf0\x9f\x98\x80"}));
  EXPECT_EQ(split(R"("a\"b")"), (Words{"a\"b"}));
}

TEST(CommandWords, MistakesAreErrorsWithTheirColumn) {
  EXPECT_NE(error_of("echo \"unclosed").find("column 6: the \" opened here is never closed"), std::string::npos);
  EXPECT_NE(error_of("echo 'x'y").find("column 9"), std::string::npos);
  EXPECT_NE(error_of("echo ab\"c d\"").find("may only start a word"), std::string::npos);
  EXPECT_NE(error_of(R"(echo \q)").find("unknown escape '\\q'"), std::string::npos);
  EXPECT_NE(error_of(R"(echo \x4)").find("incomplete escape"), std::string::npos);
  EXPECT_NE(error_of(R"(echo \x00)").find("NUL"), std::string::npos);
  EXPECT_NE(error_of(R"(echo \ud800)").find("no Unicode character"), std::string::npos);
  EXPECT_NE(error_of("echo trailing\\").find("backslash ends the line"), std::string::npos);
}

TEST(CommandWords, OneCommandPerLineOfTheValue) {
  auto commands = split_command_lines("/bin/true\n\n  /usr/bin/logger -t snapkeep \"backup done\"\n");
  ASSERT_TRUE(commands.ok());
  ASSERT_EQ(commands->size(), 2U);
  EXPECT_EQ((*commands)[0], Words{"/bin/true"});
  EXPECT_EQ((*commands)[1], (Words{"/usr/bin/logger", "-t", "snapkeep", "backup done"}));
  auto bad = split_command_lines("/bin/true\necho \"x");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("line 2 of the value, column 6"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace snapkeep
