// The report page in a real browser: headless Chromium (Debian's `chromium`) inside an empty
// network namespace (`unshare -n`: nothing could be fetched even if the page asked) lays it out at
// desktop width and at 390 px without horizontal overflow, draws its charts, and prints it to PDF;
// and the page names no external URL at all.

#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/file_probes.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {
namespace {

// Text as an HTML attribute value in double quotes.
std::string attribute(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '<': out += "&lt;"; break;
      default: out += c;
    }
  }
  return out;
}

// Runs headless Chromium with `args` in an empty network namespace, with a profile of its own.
RunResult chromium(const TempDir& tmp, const std::vector<std::string>& args) {
  fs::path profile = tmp / ("profile-" + std::to_string(std::rand()));
  fs::create_directories(profile);
  std::vector<std::string> argv{"timeout",
                                "60",
                                "unshare",
                                "-n",
                                "--",
                                "chromium",
                                "--headless",
                                "--no-sandbox",
                                "--disable-gpu",
                                "--no-first-run",
                                "--disable-background-networking",
                                "--disable-component-update",
                                "--disable-sync",
                                "--user-data-dir=" + profile.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, {{"HOME", tmp.path().string()}});
}

// An attribute the probe wrote on the <html> element of a dumped DOM ("" when missing).
std::string probed(const std::string& dom, const std::string& name) {
  std::smatch m;
  if (std::regex_search(dom, m, std::regex(name + "=\"([^\"]*)\""))) {
    return m[1];
  }
  return "";
}

class ReportRender : public ::testing::Test {
 protected:
  void SetUp() override {
    SNAPKEEP_REQUIRE_ROOT();  // unshare -n
    ASSERT_EQ(run({"chromium", "--version"}).exit_code, 0) << "chromium (scripts/setup) is needed";
  }
};

TEST_F(ReportRender, FitsAPhoneAndADesktopAndPrintsOffline) {
  TempDir tmp;
  fs::path src = tmp / "src";
  fs::path dest = tmp / "dest";
  fs::create_directories(dest);
  fs::path config = write_preset_config(tmp / "snapkeep.ini", "home", src, dest, "keep = 2\n");
  // Long names without spaces are what overflows a narrow page.
  const std::string long_name(180, 'x');
  write_file(src / "a-folder-with-a-long-name" / "and-another-one-inside-it" / (long_name + ".txt"), "rots\n");
  write_random_file(src / "photos" / "img.jpg", 30000, 3);
  for (int i = 0; i < 3; ++i) {
    write_file(src / ("round-" + std::to_string(i)), std::string(static_cast<std::size_t>(1000 * (i + 1)), 'r'));
    ASSERT_EQ(snapkeep({"-c", config.string(), "backup"}).exit_code, 0);
  }
  // A flipped byte, so the page lists a finding with its long paths.
  fs::path victim =
      dest / "home" / "latest" / "a-folder-with-a-long-name" / "and-another-one-inside-it" / (long_name + ".txt");
  const struct stat before = stat_of(victim);
  write_file(victim, "ROTS\n");
  set_mtime(victim, before.st_mtim.tv_sec, before.st_mtim.tv_nsec);
  EXPECT_EQ(snapkeep({"-c", config.string(), "scrub"}).exit_code, 4);
  fs::path page = tmp / "report.html";
  RunResult made = snapkeep({"-c", config.string(), "report", "--html", page.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string html = read_file(page);
  ASSERT_NE(html.find(long_name), std::string::npos) << "the finding's path is on the page";

  // Nothing on the page can reach out: no URL of any scheme, no resource attribute, no script.
  std::smatch m;
  EXPECT_FALSE(std::regex_search(html, m,
                                 std::regex(R"(([a-z][a-z0-9+.-]*://|\b(src|href|srcset|action)\s*=\s*"(?!#)|)"
                                            R"(url\(|@import|<script|<link|<iframe|<img|<object|<embed))",
                                            std::regex::icase)))
      << "found " << m.str(0);

  for (int width : {1280, 390}) {
    // The page in a frame of that width (headless windows are at least 500 px wide); a probe
    // records the frame's layout on the outer page's <html> element, and --dump-dom prints it.
    fs::path probe = tmp / ("probe-" + std::to_string(width) + ".html");
    write_file(probe, "<!DOCTYPE html><html><body style=\"margin:0\"><iframe id=\"f\" style=\"border:0;width:" +
                          std::to_string(width) + "px;height:900px\" srcdoc=\"" + attribute(html) +
                          "\"></iframe><script>"
                          "var f=document.getElementById('f');f.onload=function(){"
                          "var d=f.contentDocument.documentElement,h=document.documentElement;"
                          "h.setAttribute('data-scroll-width',d.scrollWidth);"
                          "h.setAttribute('data-client-width',d.clientWidth);"
                          "h.setAttribute('data-charts',f.contentDocument.querySelectorAll('svg').length);"
                          "h.setAttribute('data-marks',f.contentDocument.querySelectorAll('svg path,svg rect').length);"
                          "h.setAttribute('data-widest',Math.max.apply(null,Array.prototype.map.call("
                          "f.contentDocument.querySelectorAll('body *'),function(e){"
                          "return e.getBoundingClientRect().right;})));"
                          "};</script></body></html>");
    RunResult dom = chromium(tmp, {"--window-size=1400,1000", "--dump-dom", "file://" + probe.string()});
    ASSERT_EQ(dom.exit_code, 0) << dom.err;
    const std::string scroll = probed(dom.out, "data-scroll-width");
    const std::string client = probed(dom.out, "data-client-width");
    ASSERT_FALSE(scroll.empty()) << "the probe did not run:\n" << dom.out.substr(0, 2000) << dom.err;
    EXPECT_LE(std::stoi(scroll), std::stoi(client)) << "horizontal overflow at " << width << " px";
    EXPECT_LE(std::stod(probed(dom.out, "data-widest")), std::stod(client) + 0.5)
        << "an element reaches past the right edge at " << width << " px";
    EXPECT_LE(std::stoi(client), width);
    EXPECT_EQ(probed(dom.out, "data-charts"), "4") << "four charts";
    EXPECT_GE(std::stoi(probed(dom.out, "data-marks")), 6) << "bars and lines were drawn";
  }

  // Print: a PDF of at least one page.
  fs::path pdf = tmp / "report.pdf";
  RunResult printed =
      chromium(tmp, {"--no-pdf-header-footer", "--print-to-pdf=" + pdf.string(), "file://" + page.string()});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  const std::string bytes = read_file(pdf);
  EXPECT_EQ(bytes.rfind("%PDF-", 0), 0u);
  EXPECT_GT(bytes.size(), 5000u);
  EXPECT_NE(bytes.find("/Type /Page"), std::string::npos);
}

}  // namespace
}  // namespace snapkeep::test
