// Unit tests for core/store/local_state: per-preset entries, atomic replacement, concurrent updates.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "core/store/local_state.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

using test::ScopedEnv;
using test::TempDir;

TEST(CoreLocalState, StartsEmptyAndKeepsEachPresetApart) {
  TempDir tmp;
  ScopedEnv scoped("SNAPKEEP_STATE_DIR", (tmp / "state").string());
  EXPECT_EQ(local_state_dir(), tmp / "state");
  auto empty = read_local_state();
  ASSERT_TRUE(empty.ok()) << empty.error().describe();
  EXPECT_TRUE(empty->empty());
  ASSERT_TRUE(update_local_state("/mnt/a/home", [](nlohmann::json& e) { e["n"] = 1; }).ok());
  ASSERT_TRUE(update_local_state("/mnt/b/home", [](nlohmann::json& e) { e["n"] = 2; }).ok());
  ASSERT_TRUE(update_local_state("/mnt/a/home", [](nlohmann::json& e) { e["m"] = e["n"].get<int>() + 10; }).ok());
  auto doc = read_local_state();
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["presets"]["/mnt/a/home"]["n"], 1);
  EXPECT_EQ((*doc)["presets"]["/mnt/a/home"]["m"], 11);
  EXPECT_EQ((*doc)["presets"]["/mnt/b/home"]["n"], 2);
  EXPECT_EQ((*doc)["format"], 1);
}

TEST(CoreLocalState, ADamagedFileIsAnErrorNamingIt) {
  TempDir tmp;
  ScopedEnv scoped("SNAPKEEP_STATE_DIR", tmp.path().string());
  test::write_file(tmp / "state.json", "{not json");
  auto doc = read_local_state();
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(doc.error().describe().find((tmp / "state.json").string()), std::string::npos);
  EXPECT_FALSE(update_local_state("/x", [](nlohmann::json&) {}).ok());
  EXPECT_EQ(test::read_file(tmp / "state.json"), "{not json") << "a damaged state was overwritten";
}

// Two processes updating at once lose nothing: every increment of both lands.
TEST(CoreLocalState, ConcurrentUpdatesLoseNothing) {
  TempDir tmp;
  ScopedEnv scoped("SNAPKEEP_STATE_DIR", tmp.path().string());
  constexpr int k_rounds = 50;
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  const std::string key = child == 0 ? "/child" : "/parent";
  bool ok = true;
  for (int i = 0; i < k_rounds; ++i) {
    ok = ok && update_local_state("/shared", [&](nlohmann::json& e) { e["count"] = e.value("count", 0) + 1; }).ok();
    ok = ok && update_local_state(key, [&](nlohmann::json& e) { e["count"] = e.value("count", 0) + 1; }).ok();
  }
  if (child == 0) {
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_TRUE(ok);
  auto doc = read_local_state();
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)["presets"]["/shared"]["count"], 2 * k_rounds);
  EXPECT_EQ((*doc)["presets"]["/child"]["count"], k_rounds);
  EXPECT_EQ((*doc)["presets"]["/parent"]["count"], k_rounds);
}

}  // namespace
}  // namespace snapkeep
