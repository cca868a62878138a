// Unit tests for core/ops/healthcheck: Healthchecks.io-style pings over libcurl against a small
// HTTP server on 127.0.0.1 (retries, timeouts, bodies).

#include <string>

#include <gtest/gtest.h>

#include "core/ops/healthcheck.hpp"
#include "tests/support/http_server.hpp"

namespace snapkeep {
namespace {

using test::HttpServer;

PingOptions quick() {
  PingOptions options;
  options.attempts = 3;
  options.timeout = std::chrono::milliseconds(2000);
  options.pause = std::chrono::milliseconds(10);
  return options;
}

TEST(OpsHealthcheck, UrlsFollowTheHealthchecksConvention) {
  EXPECT_EQ(ping_url("https://hc-ping.com/abc", PingKind::start, ""), "https://hc-ping.com/abc/start");
  EXPECT_EQ(ping_url("https://hc-ping.com/abc/", PingKind::success, ""), "https://hc-ping.com/abc");
  EXPECT_EQ(ping_url("https://hc-ping.com/abc", PingKind::fail, "r1"), "https://hc-ping.com/abc/fail?rid=r1");
  EXPECT_EQ(ping_url("https://hc.example/ping/k/slug?create=1", PingKind::success, "r1"),
            "https://hc.example/ping/k/slug?create=1&rid=r1");
  const std::string id = new_run_id();
  EXPECT_EQ(id.size(), 36U);
  EXPECT_EQ(id[14], '4');
  EXPECT_NE(id, new_run_id());
}

TEST(OpsHealthcheck, PostsTheBodyToTheRightPath) {
  HttpServer server;
  ASSERT_TRUE(send_ping(server.url("/ping/abc"), PingKind::fail, "error: it broke\n", "rid-1", quick()).ok());
  ASSERT_TRUE(send_ping(server.url("/ping/abc"), PingKind::success, "fine", "rid-1", quick()).ok());
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/ping/abc/fail?rid=rid-1");
  EXPECT_EQ(requests[0].body, "error: it broke\n");
  EXPECT_EQ(requests[1].target, "/ping/abc?rid=rid-1");
  EXPECT_EQ(requests[1].body, "fine");
}

TEST(OpsHealthcheck, RetriesServerErrorsButNotClientErrors) {
  HttpServer flaky({503, 502, 200});
  EXPECT_TRUE(send_ping(flaky.url("/p"), PingKind::start, "", "", quick()).ok());
  EXPECT_EQ(flaky.requests().size(), 3U);

  HttpServer missing({404, 200});
  auto sent = send_ping(missing.url("/p"), PingKind::success, "", "", quick());
  ASSERT_FALSE(sent.ok());
  EXPECT_NE(sent.error().message.find("HTTP status 404"), std::string::npos) << sent.error().message;
  EXPECT_EQ(missing.requests().size(), 1U);

  HttpServer down({500, 500, 500, 200});
  auto failed = send_ping(down.url("/p"), PingKind::success, "", "", quick());
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(down.requests().size(), 3U);  // attempts, never more
}

TEST(OpsHealthcheck, AMonitorThatNeverAnswersTimesOut) {
  HttpServer silent({}, /*hang=*/true);
  PingOptions options = quick();
  options.attempts = 2;
  options.timeout = std::chrono::milliseconds(300);
  auto sent = send_ping(silent.url("/p"), PingKind::start, "", "", options);
  ASSERT_FALSE(sent.ok());
  EXPECT_NE(sent.error().message.find("could not be reached"), std::string::npos);
  EXPECT_EQ(silent.wait_for(2).size(), 2U);
}

TEST(OpsHealthcheck, NothingListeningIsAnErrorNamingTheUrl) {
  const std::string url = "http://127.0.0.1:" + std::to_string(test::closed_port()) + "/p";
  auto sent = send_ping(url, PingKind::fail, "x", "", quick());
  ASSERT_FALSE(sent.ok());
  EXPECT_NE(sent.error().message.find(url + "/fail"), std::string::npos) << sent.error().message;
}

TEST(OpsHealthcheck, ALongBodyIsCutToItsTail) {
  HttpServer server;
  std::string body(15000, 'a');
  body += "THE END";
  ASSERT_TRUE(send_ping(server.url("/p"), PingKind::fail, body, "", quick()).ok());
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_EQ(requests[0].body.size(), 10000U);
  EXPECT_TRUE(requests[0].body.ends_with("THE END"));
}

}  // namespace
}  // namespace snapkeep
