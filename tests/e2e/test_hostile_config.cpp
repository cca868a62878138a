// The standing table of hostile configurations (issue 6), run through the real CLI. Each rejected
// config must make `check`, `backup` and `--json backup` exit 2 with exactly one stderr line
// `snapkeep: error: FILE:LINE: message` (the message pinned here, read from core/ini.cpp,
// core/config.cpp and core/units.cpp), the same message as {"error": ...} on stdout, and change
// nothing on disk. A second table holds odd but valid configs (unicode, relative paths, BOM + CRLF,
// a 100 KiB value) that must be accepted and back up.
//
// Placeholders in the texts: {S} the source folder, {D} the destination folder, {T} the test's
// temporary folder (the config's folder), {C} the config path as given to -c.

#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/file_probes.hpp"
#include "tests/support/testutil.hpp"
#include "tests/support/tree_compare.hpp"

namespace snapkeep::test {
namespace {

// How many hostile configs this binary tried (printed at the end for docs/reliability.md).
int g_configs_tried = 0;

// Prints the tally once all tests ran.
class HostileTally : public ::testing::Environment {
 public:
  void TearDown() override {
    if (g_configs_tried > 0) {
      std::printf("HOSTILE: configs=%d paths=0\n", g_configs_tried);
    }
  }
};
const auto* const k_tally = ::testing::AddGlobalTestEnvironment(new HostileTally);

// Where the config comes from.
enum class ConfigKind { text, absent, directory };

// One rejected configuration.
struct Rejected {
  std::string name;     // gtest-safe case name
  std::string text;     // config text with placeholders
  std::string message;  // the exact error message (without "snapkeep: error: ")
  ConfigKind kind = ConfigKind::text;
};

// One accepted configuration; `dirs` are created under {T} first, `preset` is the preset backed up.
struct Accepted {
  std::string name;
  std::string text;
  std::string preset;
  std::string source;       // source folder, relative to {T}
  std::string destination;  // destination folder, relative to {T}
};

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

// A temporary folder with src/ (one file), an empty dest/, and the config path.
struct ConfigWorld {
  ConfigWorld() {
    src = tmp / "src";
    dest = tmp / "dest";
    config = tmp / "hostile.conf";
    write_file(src / "a.txt", "alpha\n");
    fs::create_directories(dest);
  }
  std::string expand(const std::string& text) const {
    std::string out = replace_all(text, "{S}", src.string());
    out = replace_all(out, "{D}", dest.string());
    out = replace_all(out, "{T}", tmp.path().string());
    return replace_all(out, "{C}", config.string());
  }

  TempDir tmp;
  fs::path src;
  fs::path dest;
  fs::path config;
};

// Every entry below root with its type, size, mode and mtime: "nothing changed" means equal lists.
std::vector<std::string> tree_state(const fs::path& root) {
  std::vector<std::string> out;
  for (const fs::path& rel : tree_entries(root)) {
    struct stat st {};
    ::lstat((root / rel).c_str(), &st);
    out.push_back(rel.string() + " " + std::to_string(st.st_mode) + " " + std::to_string(st.st_size) + " " +
                  std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec));
  }
  struct stat st {};
  ::lstat(root.c_str(), &st);
  out.push_back(". " + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec));
  return out;
}

const std::string k_p = "[a]\nsource = {S}\ndestination = {D}\n";  // a valid preset 'a', lines 1-3
const std::string k_bool_usage = " (use yes/no, true/false, on/off or 1/0)";
const std::string k_keep_usage = "use N, Nh, Nd, Nw, Nm, Ny or *h, *d, *w, *m, *y";
const std::string k_100k(100 * 1024, 'x');

std::string nul_text(const std::string& before, const std::string& after) {
  return before + std::string(1, '\0') + after;
}

std::string repeated(const std::string& piece, std::size_t times) {
  std::string out;
  for (std::size_t i = 0; i < times; ++i) {
    out += piece;
  }
  return out;
}

std::vector<Rejected> rejected_cases() {
  const std::string name201(201, 'n');
  const std::string long_key(100 * 1024, 'k');
  return {
      // Unknown and duplicate keys, duplicate presets.
      {"UnknownKey", k_p + "colour = blue\n", "{C}:4: unknown key 'colour' in preset 'a'"},
      {"UnknownKeyNearMiss", k_p + "kepe = 3\n", "{C}:4: unknown key 'kepe' in preset 'a' (did you mean 'keep'?)"},
      {"UnknownKeyNearMissInDefault", "[DEFAULT]\ndestinaton = {D}\n" + k_p,
       "{C}:2: unknown key 'destinaton' in [DEFAULT] (did you mean 'destination'?)"},
      {"UnknownKeyDashForUnderscore", k_p + "min-free = 5G\n",
       "{C}:4: unknown key 'min-free' in preset 'a' (did you mean 'min_free'?)"},
      {"DuplicateKey", k_p + "source = /elsewhere\n", "{C}:4: key 'source' in preset 'a' already set at line 2"},
      {"DuplicateKeyOtherCase", k_p + "DESTINATION: /elsewhere\n",
       "{C}:4: key 'destination' in preset 'a' already set at line 3"},
      {"DuplicateKeyInRepeatedDefault", "[DEFAULT]\nkeep = 3\n[DEFAULT]\nkeep = 4\n" + k_p,
       "{C}:4: key 'keep' in [DEFAULT] already set at line 2"},
      {"DuplicatePreset", k_p + "\n[a]\nkeep = 3\n", "{C}:5: preset 'a' already defined at line 1"},
      {"DuplicatePresetWithBlanks", k_p + "[  a\t]\n", "{C}:4: preset 'a' already defined at line 1"},
      {"MissingDestination", "[a]\nsource = {S}\n", "{C}:1: preset 'a' has no 'destination'"},
      {"MissingSource", "[DEFAULT]\ndestination = {D}\n\n[a]\nkeep = 1\n", "{C}:4: preset 'a' has no 'source'"},
      // Empty values.
      {"EmptySource", "[a]\nsource =\ndestination = {D}\n", "{C}:2: 'source' is empty in preset 'a'"},
      {"EmptyDestination", "[a]\nsource = {S}\ndestination:\n", "{C}:3: 'destination' is empty in preset 'a'"},
      {"EmptySourceFromInterpolation", "[a]\nsource = %(nothing)s\ndestination = {D}\nnothing =\n",
       "{C}:2: 'source' is empty in preset 'a'"},
      {"EmptyBackend", k_p + "backend =\n", "{C}:4: unknown backend '' in preset 'a' (use auto, rsync or btrfs)"},
      {"EmptyChecksum", k_p + "checksum =\n", "{C}:4: unknown checksum '' in preset 'a' (use xxh128, sha256 or none)"},
      {"EmptyBoolean", k_p + "one_file_system =\n",
       "{C}:4: 'one_file_system' in preset 'a': not a boolean: ''" + k_bool_usage},
      {"EmptyBooleanAllowEmptySource", k_p + "allow_empty_source =\n",
       "{C}:4: 'allow_empty_source' in preset 'a': not a boolean: ''" + k_bool_usage},
      // Overlapping source and destination.
      {"DestinationInsideSource", "[a]\nsource = {S}\ndestination = {S}/backups\n",
       "{C}:3: destination {S}/backups is inside source {S}: each backup would contain the previous ones"},
      {"RelativeDestinationInsideSource", "[a]\nsource = src\ndestination = ./src/./bk/\n",
       "{C}:3: destination {S}/bk is inside source {S}: each backup would contain the previous ones"},
      {"DestinationInsideSourceByInterpolation",
       "[DEFAULT]\nroot = {S}\n[a]\nsource = %(root)s\ndestination = %(root)s/bk\n",
       "{C}:5: destination {S}/bk is inside source {S}: each backup would contain the previous ones"},
      {"SourceIsRoot", "[a]\nsource = /\ndestination = {D}\n",
       "{C}:3: destination {D} is inside source /: each backup would contain the previous ones"},
      {"SourceEqualsDestination", "[a]\nsource = {S}/\ndestination = {S}/x/..\n",
       "{C}:3: destination {S} is the same as source in preset 'a'"},
      {"RelativeSourceEqualsAbsoluteDestination", "[a]\nsource = src\ndestination = {S}\n",
       "{C}:3: destination {S} is the same as source in preset 'a'"},
      {"SourceInsidePresetFolder", "[a]\nsource = {D}/a/x\ndestination = {D}\n",
       "{C}:3: source {D}/a/x is inside {D}/a, where preset 'a' keeps its snapshots"},
      {"SourceIsPresetFolder", "[a]\nsource = {D}/a\ndestination = {D}/\n",
       "{C}:3: source {D}/a is inside {D}/a, where preset 'a' keeps its snapshots"},
      // Very long values (a 100 KiB line).
      {"LongBackendValue", k_p + "backend = " + k_100k + "\n",
       "{C}:4: unknown backend '" + k_100k + "' in preset 'a' (use auto, rsync or btrfs)"},
      {"LongKeyName", k_p + long_key + " = 1\n", "{C}:4: unknown key '" + long_key + "' in preset 'a'"},
      {"LongKeepValue", k_p + "keep = " + repeated("1d ", 34 * 1024) + "\n",
       "{C}:4: 'keep' in preset 'a': bad retention rule '1d': repeats the rule '1d' (give each unit once)"},
      {"LongPresetName", "[" + k_100k + "]\nsource = {S}\ndestination = {D}\n",
       "{C}:1: preset name '" + k_100k + "' is longer than 200 bytes"},
      // Broken syntax.
      {"UnterminatedSection", "[a\nsource = {S}\ndestination = {D}\n",
       "{C}:1: unterminated section header '[a' (missing ']')"},
      {"TextAfterSection", "[a] # home\nsource = {S}\ndestination = {D}\n",
       "{C}:1: unexpected text after section header '[a] # home'"},
      {"EmptySectionName", "[ ]\nsource = {S}\ndestination = {D}\n", "{C}:1: empty section name '[ ]'"},
      {"KeyOutsideSection", "source = {S}\n[a]\ndestination = {D}\n",
       "{C}:1: key outside of a section (add a [preset] header above it)"},
      {"LineWithoutSeparator", k_p + "rm -rf /\n",
       "{C}:4: cannot parse line 'rm -rf /' (expected [section], key = value or a comment)"},
      {"MissingKeyName", k_p + "  \n= 5\n", "{C}:5: missing key name before '='"},
      {"NulByteInValue", nul_text("[a]\nsource = {S}", "/evil\ndestination = {D}\n"),
       "{C}:2: NUL byte in config file (is it a text file?)"},
      {"NulByteAfterPreset", nul_text(k_p + "\n", "\n"), "{C}:5: NUL byte in config file (is it a text file?)"},
      // Preset names.
      {"PresetNameWithSlash", "[a/b]\nsource = {S}\ndestination = {D}\n",
       "{C}:1: preset name 'a/b' must not contain '/'"},
      {"PresetNameDotDot", "[..]\nsource = {S}\ndestination = {D}\n",
       "{C}:1: preset name '..' must not start with '.'"},
      {"PresetNameParentPath", "[../x]\nsource = {S}\ndestination = {D}\n",
       "{C}:1: preset name '../x' must not contain '/'"},
      {"PresetNameHidden", k_p + "[.hidden]\nsource = {S}\ndestination = {D}\n",
       "{C}:4: preset name '.hidden' must not start with '.'"},
      {"PresetNameLatest", "[latest]\nsource = {S}\ndestination = {D}\n",
       "{C}:1: preset name 'latest' is reserved (snapkeep keeps a 'latest' symlink next to the snapshots)"},
      {"PresetNameControlCharacter", "[a\x1b[2Jb]\nsource = {S}\ndestination = {D}\n",
       "{C}:1: preset name 'a\x1b[2Jb' must not contain control characters"},
      {"PresetNameDelete", "[a\x7f]\nsource = {S}\ndestination = {D}\n",
       "{C}:1: preset name 'a\x7f' must not contain control characters"},
      {"PresetName201Bytes", "[" + name201 + "]\nsource = {S}\ndestination = {D}\n",
       "{C}:1: preset name '" + name201 + "' is longer than 200 bytes"},
      // keep.
      {"KeepZeroCount", k_p + "keep = 0d\n",
       "{C}:4: 'keep' in preset 'a': bad retention rule '0d': the count must be at least 1"},
      {"KeepUnknownUnit", k_p + "keep = 3x\n", "{C}:4: 'keep' in preset 'a': bad retention rule '3x': " + k_keep_usage},
      {"KeepRepeatedUnit", k_p + "keep = 2d 2d\n",
       "{C}:4: 'keep' in preset 'a': bad retention rule '2d': repeats the rule '2d' (give each unit once)"},
      {"KeepNegative", k_p + "keep = -1\n", "{C}:4: 'keep' in preset 'a': bad retention rule '-1': " + k_keep_usage},
      {"KeepDoubleStar", k_p + "keep = **\n", "{C}:4: 'keep' in preset 'a': bad retention rule '**': " + k_keep_usage},
      {"KeepUpperCaseUnit", k_p + "keep = 3 14D\n",
       "{C}:4: 'keep' in preset 'a': bad retention rule '14D': " + k_keep_usage +
           "; units are lower case (h hours, d days, w weeks, m months, y years: there is no minute rule)"},
      // min_free.
      {"MinFreeZeroPercent", k_p + "min_free = 0%\n",
       "{C}:4: 'min_free' in preset 'a': bad size '0%': a percentage must be more than 0% and at most 100%"},
      {"MinFree101Percent", k_p + "min_free = 101%\n",
       "{C}:4: 'min_free' in preset 'a': bad size '101%': a percentage must be more than 0% and at most 100%"},
      {"MinFreeFractionWithoutUnit", k_p + "min_free = 1.5\n",
       "{C}:4: 'min_free' in preset 'a': bad size '1.5': a fractional size needs a unit (e.g. 1.5G)"},
      {"MinFreeNegative", k_p + "min_free = -5G\n",
       "{C}:4: 'min_free' in preset 'a': bad size '-5G': a size cannot be negative"},
      {"MinFreeUnknownUnit", k_p + "min_free = 10XB\n",
       "{C}:4: 'min_free' in preset 'a': bad size '10XB': unknown unit (use K, M, G, T or P, optionally followed by B "
       "or iB)"},
      {"MinFreeTooLarge", k_p + "min_free = 99999999999999999999\n",
       "{C}:4: 'min_free' in preset 'a': bad size '99999999999999999999': too large"},
      // backend, checksum, booleans.
      {"BackendUpperCase", k_p + "backend = RSYNC\n",
       "{C}:4: unknown backend 'RSYNC' in preset 'a' (use auto, rsync or btrfs)"},
      {"BackendFromDefault", "[DEFAULT]\nbackend = zfs\n" + k_p,
       "{C}:2: unknown backend 'zfs' in preset 'a' (use auto, rsync or btrfs)"},
      {"ChecksumMd5", k_p + "checksum = md5\n",
       "{C}:4: unknown checksum 'md5' in preset 'a' (use xxh128, sha256 or none)"},
      {"BooleanMaybe", k_p + "one_file_system = maybe\n",
       "{C}:4: 'one_file_system' in preset 'a': not a boolean: 'maybe'" + k_bool_usage},
      {"BooleanTwo", k_p + "allow_partial = 2\n",
       "{C}:4: 'allow_partial' in preset 'a': not a boolean: '2'" + k_bool_usage},
      // Interpolation.
      {"BarePercent", k_p + "keep = 3%d\n", "{C}:4: '%' must be written '%%'"},
      {"BarePercentInContinuation", k_p + "exclude =\n    *.tmp\n    100%done\n", "{C}:6: '%' must be written '%%'"},
      {"UnclosedReference", k_p + "exclude = %(x\n",
       "{C}:4: bad interpolation reference '%(x' (write %(name)s, or '%%' for a literal '%')"},
      {"MissingReference", "[a]\nsource = {S}\ndestination = %(missing)s/x\n",
       "{C}:3: 'destination' refers to %(missing)s but preset 'a' has no key 'missing' (nor [DEFAULT])"},
      {"SelfReference", "[a]\nsource = {S}\ndestination = %(x)s\nx = %(x)s\n",
       "{C}:3: interpolation of 'destination' in preset 'a' nests more than 10 levels (does a value refer to itself?)"},
      {"MutualReference", "[a]\nsource = /%(p)s\ndestination = {D}\np = %(q)s\nq = %(p)s\n",
       "{C}:2: interpolation of 'source' in preset 'a' nests more than 10 levels (does a value refer to itself?)"},
      // Paths snapkeep does not expand or cannot take.
      {"TildeDestination", "[a]\nsource = {S}\ndestination = ~/backup\n",
       "{C}:3: 'destination' starts with '~', which is not expanded: write the full path"},
      {"TildeSource", "[a]\nsource = ~\ndestination = {D}\n",
       "{C}:2: 'source' starts with '~', which is not expanded: write the full path"},
      {"TildeExcludeFrom", k_p + "exclude_from = ~/ex.txt\n",
       "{C}:4: 'exclude_from' starts with '~', which is not expanded: write the full path"},
      {"NewlineInDestinationViaContinuation", k_p + "   /evil\n",
       "{C}:3: 'destination' must be a single path on one line"},
      {"NewlineInSourceViaContinuation", "[a]\nsource = {S}\n\t-rf\ndestination = {D}\n",
       "{C}:2: 'source' must be a single path on one line"},
      {"NewlineInSnapshotDir", k_p + "snapshot_dir = /snaps\n  more\n",
       "{C}:4: 'snapshot_dir' must be a single path on one line"},
      // Files that are no config.
      {"ConfigDoesNotExist", "", "cannot read config file {C}: No such file or directory", ConfigKind::absent},
      {"ConfigIsDirectory", "", "cannot read config file {C}: Is a directory", ConfigKind::directory},
      {"EmptyConfig", "", "no presets defined in {C} (add a [name] section with source and destination)"},
      {"CommentsOnly", "# [a]\n; source = {S}\n\n",
       "no presets defined in {C} (add a [name] section with source and destination)"},
      {"DefaultOnly", "[DEFAULT]\nsource = {S}\ndestination = {D}\n",
       "no presets defined in {C} (add a [name] section with source and destination)"},
  };
}

std::vector<Accepted> accepted_cases() {
  return {
      {"UnicodePresetAndPaths", "[домашний ☃ 家]\nsource = {T}/srć ☃\ndestination = {T}/dëst 家\n", "домашний ☃ 家",
       "srć ☃", "dëst 家"},
      {"RelativePaths", "[rel]\nsource = src\ndestination = ./x/../dest/\n", "rel", "src", "dest"},
      {"BomAndCrlf", "\xEF\xBB\xBF# windows\r\n[crlf]\r\nsource = {S}\r\ndestination = {D}\r\nkeep = 3 7d\r\n", "crlf",
       "src", "dest"},
      {"LongExcludeValue", "[long]\nsource = {S}\ndestination = {D}\nexclude = " + k_100k + "\n  *.tmp\n", "long",
       "src", "dest"},
      {"BlanksAroundSectionAndHelperVariable",
       "[DEFAULT]\nroot = {T}\n[  spaced  ]\nsource = %(root)s/src\ndestination = %(root)s/dest\nexclude = 100%%\n",
       "spaced", "src", "dest"},
      {"PresetNameLikeOptions", "[--delete -rf $(x) `y`;z]\nsource = {S}\ndestination = {D}\n",
       "--delete -rf $(x) `y`;z", "src", "dest"},
      {"PresetName200Bytes", "[" + std::string(200, 'n') + "]\nsource = {S}\ndestination = {D}\n",
       std::string(200, 'n'), "src", "dest"},
  };
}

// Short forms for gtest's messages (the default dumps the bytes of the struct).
void PrintTo(const Rejected& c, std::ostream* os) {
  *os << c.name;
}
void PrintTo(const Accepted& c, std::ostream* os) {
  *os << c.name;
}

// Case names for gtest output.
struct NameOf {
  template <class T>
  std::string operator()(const ::testing::TestParamInfo<T>& info) const {
    return info.param.name;
  }
};

class HostileConfigRejected : public ::testing::TestWithParam<Rejected> {};

TEST_P(HostileConfigRejected, Exit2WithExactMessageAndNothingChanged) {
  const Rejected& c = GetParam();
  ConfigWorld w;
  if (c.kind == ConfigKind::text) {
    write_file(w.config, w.expand(c.text));
  } else if (c.kind == ConfigKind::directory) {
    fs::create_directories(w.config);
  }
  const std::string message = w.expand(c.message);
  const std::vector<std::string> before = tree_state(w.tmp.path());
  ++g_configs_tried;

  for (const char* command : {"check", "backup"}) {
    RunResult r = snapkeep({"-c", w.config.string(), command});
    EXPECT_EQ(r.exit_code, 2) << command << ": stderr:\n" << printable(r.err);
    EXPECT_EQ(r.err, "snapkeep: error: " + message + "\n") << command;
    EXPECT_EQ(r.out, "") << command;
  }
  RunResult j = snapkeep({"-c", w.config.string(), "--json", "backup"});
  EXPECT_EQ(j.exit_code, 2) << printable(j.err);
  nlohmann::json doc = nlohmann::json::parse(j.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << "--json stdout is not JSON: " << printable(j.out);
  EXPECT_EQ(doc, nlohmann::json({{"error", message}}));

  EXPECT_EQ(tree_state(w.tmp.path()), before) << "a config error changed the disk";
  EXPECT_FALSE(exists_nofollow(w.dest / "a")) << "DEST/<preset>/ was created";
  EXPECT_TRUE(tree_entries(w.dest).empty());
}

INSTANTIATE_TEST_SUITE_P(Table, HostileConfigRejected, ::testing::ValuesIn(rejected_cases()), NameOf());

class HostileConfigAccepted : public ::testing::TestWithParam<Accepted> {};

TEST_P(HostileConfigAccepted, CheckAndBackupSucceed) {
  const Accepted& c = GetParam();
  ConfigWorld w;
  const fs::path src = w.tmp / c.source;
  const fs::path dest = w.tmp / c.destination;
  write_file(src / "a.txt", "alpha\n");
  fs::create_directories(dest);
  write_file(w.config, w.expand(c.text));
  ++g_configs_tried;

  // The destination is a folder on the system disk, which a user must allow (require_mount = no);
  // a second file says so without touching the text under test.
  const fs::path allow = w.config.parent_path() / "allow-system-disk.conf";
  write_file(allow, "[DEFAULT]\nrequire_mount = no\n");
  RunResult check = snapkeep({"-c", w.config.string(), "-c", allow.string(), "check"});
  ASSERT_EQ(check.exit_code, 0) << printable(check.err);
  EXPECT_NE(check.out.find(c.preset + ": ok"), std::string::npos) << printable(check.out);
  EXPECT_NE(check.out.find((dest / c.preset).string()), std::string::npos) << printable(check.out);
  EXPECT_EQ(tree_entries(dest), std::vector<fs::path>{}) << "check must change nothing";

  RunResult backup = snapkeep({"-c", w.config.string(), "-c", allow.string(), "backup"});
  ASSERT_EQ(backup.exit_code, 0) << printable(backup.err);
  auto ids = snapshot_ids(dest / c.preset);
  ASSERT_EQ(ids.size(), 1u) << "no snapshot in " << printable((dest / c.preset).string());
  EXPECT_EQ(read_file(dest / c.preset / ids[0] / "a.txt"), "alpha\n");
  EXPECT_EQ(link_target(dest / c.preset / "latest"), ids[0]);
  // Exactly one preset folder, named as the section.
  std::vector<fs::path> top;
  for (const auto& entry : fs::directory_iterator(dest)) {
    top.push_back(entry.path().filename());
  }
  EXPECT_EQ(top, std::vector<fs::path>{c.preset});
}

INSTANTIATE_TEST_SUITE_P(Table, HostileConfigAccepted, ::testing::ValuesIn(accepted_cases()), NameOf());

}  // namespace
}  // namespace snapkeep::test
