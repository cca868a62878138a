// Unit tests for core/process: argv reaches the child byte-exact without a shell, exit statuses and
// signals are reported, stderr's tail is kept, stdout is split into progress pieces, env is passed.

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/process.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

fs::path fake(const std::string& name) {
  return fs::path(SNAPKEEP_SOURCE_DIR) / "tests" / "fakes" / name;
}

// Runs argv and fails the test when it cannot be started.
ProcessResult run_or_fail(const std::vector<std::string>& argv, const ProcessOptions& options = {}) {
  auto result = run_process(argv, options);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().describe());
  return result.ok() ? *result : ProcessResult{};
}

// Splits NUL-terminated records.
std::vector<std::string> split_nul(const std::string& text) {
  std::vector<std::string> out;
  std::string current;
  for (char c : text) {
    if (c == '\0') {
      out.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  EXPECT_TRUE(current.empty()) << "output does not end with NUL: " << current;
  return out;
}

TEST(CoreProcess, ArgumentsArriveByteExactAndNoShellRuns) {
  TempDir tmp;
  fs::path pwned = tmp / "pwned";
  std::vector<std::string> args{
      "with space",
      "  leading and trailing  ",
      "it's \"quoted\"",
      "$(touch " + pwned.string() + ")",
      "`touch " + pwned.string() + "`",
      "; touch " + pwned.string(),
      "a|b&c>d<e",
      "-n",
      "--",
      "--exclude=*.tmp",
      "*",
      "~",
      "$HOME",
      "",
      "tab\there",
      "new\nline",
      "back\\slash",
      "caf\xc3\xa9",
  };
  std::vector<std::string> argv{fake("dump-args").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions options;
  options.capture_stdout = true;
  ProcessResult result = run_or_fail(argv, options);
  EXPECT_TRUE(result.succeeded()) << result.status_text() << result.stderr_tail;
  EXPECT_EQ(split_nul(result.stdout_text), args);
  EXPECT_FALSE(fs::exists(pwned)) << "a shell expanded an argument";
}

TEST(CoreProcess, ArgumentsReachRealProgramFoundInPath) {
  ProcessOptions options;
  options.capture_stdout = true;
  // coreutils printf: a leading '-' argument after the format is data, '%s' and '$(..)' are not expanded.
  ProcessResult result = run_or_fail({"printf", "%s|", "-v", "$(id)", "a b", "%d"}, options);
  EXPECT_EQ(result.exit_code, 0) << result.stderr_tail;
  EXPECT_EQ(result.stdout_text, "-v|$(id)|a b|%d|");
}

TEST(CoreProcess, ProgramNameIsNeverReadAsCommandLine) {
  auto result = run_process({"echo hello"});
  ASSERT_FALSE(result.ok()) << "a program named 'echo hello' does not exist; a shell must not split it";
  EXPECT_NE(result.error().message.find("not found"), std::string::npos) << result.error().message;
}

TEST(CoreProcess, ExitCodesAreReported) {
  for (int code : {0, 3, 23, 24, 255}) {
    ProcessResult result = run_or_fail({"sh", "-c", "exit " + std::to_string(code)});
    EXPECT_EQ(result.exit_code, code);
    EXPECT_EQ(result.term_signal, 0);
    EXPECT_EQ(result.succeeded(), code == 0);
    EXPECT_EQ(result.status_text(), "exited with status " + std::to_string(code));
  }
}

TEST(CoreProcess, SmallStderrIsKeptWhole) {
  ProcessResult result = run_or_fail({"sh", "-c", "echo first >&2; echo second >&2; exit 23"});
  EXPECT_EQ(result.exit_code, 23);
  EXPECT_EQ(result.stderr_tail, "first\nsecond\n");
}

TEST(CoreProcess, StderrTailKeepsTheLastBytesOfALargeOutput) {
  // 100 KiB of 'x' lines, then a last line that must survive.
  ProcessResult result = run_or_fail(
      {"sh", "-c", "head -c 102400 /dev/zero | tr '\\0' x | fold -w 100 >&2; echo; echo LAST-LINE >&2; exit 1"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_LE(result.stderr_tail.size(), 4096U);
  EXPECT_GE(result.stderr_tail.size(), 3000U);
  ASSERT_GE(result.stderr_tail.size(), 10U);
  EXPECT_EQ(result.stderr_tail.substr(result.stderr_tail.size() - 10), "LAST-LINE\n");
  EXPECT_NE(result.stderr_tail.find("xxxxxxxx"), std::string::npos);
}

TEST(CoreProcess, StderrTailOfOneHugeLineAndCustomLimit) {
  ProcessOptions options;
  options.stderr_tail_bytes = 100;
  ProcessResult result =
      run_or_fail({"sh", "-c", "head -c 102400 /dev/zero | tr '\\0' y >&2; printf END >&2"}, options);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_LE(result.stderr_tail.size(), 100U);
  EXPECT_NE(result.stderr_tail.find("yyyyEND"), std::string::npos) << result.stderr_tail;
}

TEST(CoreProcess, LargeStdoutAndStderrTogetherDoNotDeadlock) {
  ProcessOptions options;
  options.capture_stdout = true;
  ProcessResult result = run_or_fail(
      {"sh", "-c", "head -c 1048576 /dev/zero >&2; head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2"}, options);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.stdout_text.size(), 1048576U);
}

TEST(CoreProcess, ChildKilledBySignalIsReported) {
  ProcessResult result = run_or_fail({"sh", "-c", "echo dying >&2; kill -9 $$"});
  EXPECT_EQ(result.term_signal, 9);
  EXPECT_FALSE(result.succeeded());
  EXPECT_NE(result.status_text().find("signal 9"), std::string::npos) << result.status_text();
  EXPECT_NE(result.status_text().find("Killed"), std::string::npos) << result.status_text();
  EXPECT_EQ(result.stderr_tail, "dying\n");
  ProcessResult term = run_or_fail({"sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(term.term_signal, 15);
  EXPECT_NE(term.status_text().find("signal 15"), std::string::npos) << term.status_text();
}

TEST(CoreProcess, ExitStatusThatLooksLikeASignalIsAnExit) {
  // A shell reports a killed child as 128+N; for us that is an ordinary exit status.
  ProcessResult result = run_or_fail({"sh", "-c", "exit 137"});
  EXPECT_EQ(result.exit_code, 137);
  EXPECT_EQ(result.term_signal, 0);
}

TEST(CoreProcess, MissingProgramIsAnErrorSayingNotFound) {
  auto result = run_process({"snapkeep-no-such-program-4711", "--version"});
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("not found"), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find("snapkeep-no-such-program-4711"), std::string::npos);
}

TEST(CoreProcess, MissingProgramByPathIsAnError) {
  TempDir tmp;
  fs::path missing = tmp / "no-such-program";
  auto result = run_process({missing.string()});
  ASSERT_FALSE(result.ok()) << "a missing program must be an error, got " << result->status_text();
  EXPECT_NE(result.error().describe().find("no-such-program"), std::string::npos) << result.error().describe();
  EXPECT_EQ(result.error().err, ENOENT) << result.error().describe();
}

TEST(CoreProcess, EmptyArgvIsAnError) {
  EXPECT_FALSE(run_process({}).ok());
}

TEST(CoreProcess, StdoutPiecesSplitAtCarriageReturnAndNewline) {
  std::vector<std::string> pieces;
  ProcessOptions options;
  options.on_stdout_line = [&](std::string_view piece) { pieces.emplace_back(piece); };
  ProcessResult result =
      run_or_fail({"printf", "10%%\\r20%%\\r100%%\\nNumber of files: 3\\nno newline at end"}, options);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(pieces, (std::vector<std::string>{"10%", "20%", "100%", "Number of files: 3", "no newline at end"}));
  EXPECT_TRUE(result.stdout_text.empty()) << "stdout is only captured when asked";
}

TEST(CoreProcess, CarriageReturnNewlineGivesNoTextBetweenThem) {
  std::vector<std::string> pieces;
  ProcessOptions options;
  options.capture_stdout = true;
  options.on_stdout_line = [&](std::string_view piece) {
    if (!piece.empty()) {
      pieces.emplace_back(piece);
    }
  };
  ProcessResult result = run_or_fail({"printf", "a\\r\\nb\\n"}, options);
  EXPECT_EQ(pieces, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(result.stdout_text, "a\r\nb\n");
}

TEST(CoreProcess, EnvAdditionsReachTheChildAndOursStaysUnchanged) {
  ::setenv("SNAPKEEP_TEST_EXISTING", "old", 1);
  ::setenv("SNAPKEEP_TEST_INHERITED", "inherited", 1);
  ProcessOptions options;
  options.capture_stdout = true;
  options.env = {{"SNAPKEEP_TEST_NEW", "hello world $x 'q'"}, {"SNAPKEEP_TEST_EXISTING", "new"}};
  ProcessResult result = run_or_fail(
      {"sh", "-c", "printf '%s|%s|%s' \"$SNAPKEEP_TEST_NEW\" \"$SNAPKEEP_TEST_EXISTING\" \"$SNAPKEEP_TEST_INHERITED\""},
      options);
  EXPECT_EQ(result.stdout_text, "hello world $x 'q'|new|inherited");
  EXPECT_STREQ(std::getenv("SNAPKEEP_TEST_EXISTING"), "old");
  EXPECT_EQ(std::getenv("SNAPKEEP_TEST_NEW"), nullptr);
  ::unsetenv("SNAPKEEP_TEST_EXISTING");
  ::unsetenv("SNAPKEEP_TEST_INHERITED");
}

TEST(CoreProcess, ChildStdinIsEmpty) {
  ProcessOptions options;
  options.capture_stdout = true;
  ProcessResult result = run_or_fail({"cat"}, options);  // would hang if it read our stdin
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.stdout_text, "");
}

TEST(CoreProcess, QuoteArgvQuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(quote_argv({"rsync", "-aHAX", "--link-dest=/a/b", "--", "/src/", "/dst/"}),
            "rsync -aHAX --link-dest=/a/b -- /src/ /dst/");
  EXPECT_EQ(quote_argv({"echo", "a b", "it's", ""}), "echo 'a b' 'it'\\''s' ''");
}

TEST(CoreProcess, DescribeFailureNamesStatusMeaningAndStderrTail) {
  ProcessResult result;
  result.exit_code = 23;
  result.stderr_tail = "rsync: send_files failed\n\n";
  std::string text = describe_failure("rsync", result, "partial transfer due to error");
  EXPECT_NE(text.find("rsync exited with status 23"), std::string::npos) << text;
  EXPECT_NE(text.find("partial transfer due to error"), std::string::npos) << text;
  EXPECT_NE(text.find("rsync: send_files failed"), std::string::npos) << text;
  EXPECT_NE(text.back(), '\n');
}

}  // namespace
}  // namespace snapkeep
