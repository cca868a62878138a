// Unit tests for core/ops/metrics: the node_exporter textfile, checked with a strict exposition
// format reader (tests/support/prom_text) and Debian's python3-prometheus-client parser; presets
// sharing one file, concurrent writers.

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "core/ops/metrics.hpp"
#include "tests/support/prom_text.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

Preset preset_named(const std::string& name, const fs::path& destination) {
  Preset p;
  p.name = name;
  p.source = "/src";
  p.destination = destination;
  return p;
}

PresetRecord full_record(std::time_t when) {
  PresetRecord r;
  BackupRecord b;
  b.result = RunResult::ok;
  b.time = when;
  b.seconds = 12.5;
  b.snapshot = "2026-11-26_02-18-39";
  b.bytes_transferred = 123456789;
  r.last_backup = b;
  r.last_success = b;
  r.destination = DestinationRecord{when, 14, 1ULL << 40, 2ULL << 40};
  ScrubRecord s;
  s.result = RunResult::damaged;
  s.time = when - 100;
  s.damaged_contents = 2;
  s.bytes_read = 5000;
  r.last_scrub = s;
  return r;
}

std::vector<test::PromFamily> parse_ok(const std::string& text) {
  std::string error;
  auto families = test::parse_prom_text(text, error);
  EXPECT_EQ(error, "") << text;
  return families;
}

TEST(OpsMetrics, EveryIssueMetricIsThereLabelledByPresetAndDestination) {
  const Preset home = preset_named("home", "/mnt/backup");
  const auto families = parse_ok(render_metrics(preset_metrics(home, full_record(1764123519))));
  const std::map<std::string, std::string> labels{{"preset", "home"}, {"destination", "/mnt/backup/home"}};
  EXPECT_EQ(test::prom_value(families, "snapkeep_last_success_timestamp_seconds", labels), 1764123519.0);
  EXPECT_EQ(test::prom_value(families, "snapkeep_last_backup_duration_seconds", labels), 12.5);
  EXPECT_EQ(test::prom_value(families, "snapkeep_last_backup_bytes_transferred", labels), 123456789.0);
  EXPECT_EQ(test::prom_value(families, "snapkeep_snapshots", labels), 14.0);
  EXPECT_EQ(test::prom_value(families, "snapkeep_destination_free_bytes", labels), static_cast<double>(1ULL << 40));
  EXPECT_EQ(test::prom_value(families, "snapkeep_scrub_last_timestamp_seconds", labels), 1764123419.0);
  EXPECT_EQ(test::prom_value(families, "snapkeep_scrub_damaged_contents", labels), 2.0);
  EXPECT_EQ(test::prom_value(families, "snapkeep_last_backup_failed", labels), 0.0);
  for (const auto& f : families) {
    EXPECT_EQ(f.type, "gauge") << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
  }
  // Never measured: left out, not 0.
  const auto empty = parse_ok(render_metrics(preset_metrics(home, PresetRecord{})));
  EXPECT_TRUE(empty.empty());
}

TEST(OpsMetrics, TheStrictReaderRejectsWhatNodeExporterRejects) {
  std::string error;
  const std::string type = "# TYPE a gauge\n";
  for (const std::string& bad : std::vector<std::string>{
           type + type + "a 1\n",                              // second TYPE
           type + "a 1\n# TYPE b gauge\nb 1\na{x=\"1\"} 2\n",  // a's samples apart
           type + "a{x=\"\\q\"} 1\n",                          // bad escape
           type + "a 1",                                       // no final newline
           type + "a 1\na 2\n",                                // one series twice
           type + "a{__x=\"1\"} 1\n",                          // reserved label name
           type + "a one\n",                                   // not a number
           type + "a{x=\"\xff\"} 1\n",                         // not UTF-8
       }) {
    test::parse_prom_text(bad, error);
    EXPECT_NE(error, "") << bad;
    error.clear();
  }
}

TEST(OpsMetrics, LabelValuesAreEscaped) {
  TempDir tmp;
  const Preset odd = preset_named("we\"ird", tmp / "back\\slash\nline");
  const auto families = parse_ok(render_metrics(preset_metrics(odd, full_record(100))));
  EXPECT_EQ(
      test::prom_value(families, "snapkeep_snapshots",
                       {{"preset", "we\"ird"}, {"destination", (tmp / "back\\slash\nline" / "we\"ird").string()}}),
      14.0);
  auto back = parse_metric_samples(render_metrics(preset_metrics(odd, full_record(100))));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->front().labels[0].second, "we\"ird");
}

TEST(OpsMetrics, PresetsSharingAFileKeepEachOthersSamples) {
  TempDir tmp;
  const fs::path file = tmp / "snapkeep.prom";
  const Preset a = preset_named("a", "/mnt/one");
  const Preset b = preset_named("b", "/mnt/two");
  ASSERT_TRUE(update_metrics_file(file, a, preset_metrics(a, full_record(1000))).ok());
  ASSERT_TRUE(update_metrics_file(file, b, preset_metrics(b, full_record(2000))).ok());
  ASSERT_TRUE(update_metrics_file(file, a, preset_metrics(a, full_record(3000))).ok());
  const auto families = parse_ok(test::read_file(file));
  EXPECT_EQ(test::prom_value(families, "snapkeep_last_success_timestamp_seconds", {{"preset", "a"}}), 3000.0);
  EXPECT_EQ(test::prom_value(families, "snapkeep_last_success_timestamp_seconds", {{"preset", "b"}}), 2000.0);
  for (const auto& f : families) {
    EXPECT_EQ(f.samples.size(), 2U) << f.name;
  }
  // Atomic replacement leaves no temporary file a collector would read.
  for (const auto& entry : fs::directory_iterator(tmp.path())) {
    const std::string name = entry.path().filename().string();
    EXPECT_TRUE(name == "snapkeep.prom" || name.starts_with(".")) << name;
  }
}

TEST(OpsMetrics, ConcurrentWritersNeverLoseAPreset) {
  TempDir tmp;
  const fs::path file = tmp / "shared.prom";
  constexpr int k_writers = 6;
  std::vector<pid_t> children;
  for (int w = 0; w < k_writers; ++w) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      const Preset p = preset_named("p" + std::to_string(w), "/mnt/d");
      for (int round = 1; round <= 15; ++round) {
        if (!update_metrics_file(file, p, preset_metrics(p, full_record(round))).ok()) {
          ::_exit(1);
        }
      }
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  const auto families = parse_ok(test::read_file(file));
  for (int w = 0; w < k_writers; ++w) {
    EXPECT_EQ(
        test::prom_value(families, "snapkeep_last_backup_timestamp_seconds", {{"preset", "p" + std::to_string(w)}}),
        15.0)
        << w;
  }
}

TEST(OpsMetrics, DebiansPrometheusClientParserReadsTheFile) {
  // python3-prometheus-client (scripts/setup): the client library's own text-format parser.
  TempDir tmp;
  const fs::path file = tmp / "snapkeep.prom";
  const Preset a = preset_named("a", "/mnt/one");
  const Preset b = preset_named("b \"q\"", "/mnt/two");
  ASSERT_TRUE(update_metrics_file(file, a, preset_metrics(a, full_record(1000))).ok());
  ASSERT_TRUE(update_metrics_file(file, b, preset_metrics(b, full_record(2000))).ok());
  const std::string script =
      "import sys\n"
      "from prometheus_client.parser import text_string_to_metric_families\n"
      "n = 0\n"
      "for family in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
      "    assert family.type == 'gauge', family\n"
      "    for s in family.samples:\n"
      "        n += 1\n"
      "        assert set(s.labels) == {'preset', 'destination'}, s\n"
      "        if s.name == 'snapkeep_last_success_timestamp_seconds' and s.labels['preset'] == 'b \"q\"':\n"
      "            assert s.value == 2000.0, s\n"
      "print(n)\n";
  auto r = test::run({"/usr/bin/python3", "-c", script, file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::to_string(2 * preset_metrics(a, full_record(1000)).size()) + "\n");
}

}  // namespace
}  // namespace snapkeep
