// Unit tests for core/store/damage: the record of unrepaired damage that backups consult.

#include <string>

#include <gtest/gtest.h>

#include "core/store/damage.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep {
namespace {

using test::TempDir;

TEST(CoreDamage, RoundTripWithOddNames) {
  TempDir tmp;
  DamageRecord record;
  record.entries.insert({"2026-01-01_00-00-00", std::string("a\nb\tc\xff", 6)});
  record.entries.insert({"2026-01-01_00-00-00", "dir/x.bin"});
  record.entries.insert({"2026-01-02_00-00-00", ""});
  ASSERT_TRUE(write_damage_record(tmp.path(), record).ok());
  auto back = read_damage_record(tmp.path());
  ASSERT_TRUE(back.ok()) << back.error().describe();
  EXPECT_EQ(back->entries, record.entries);
  EXPECT_TRUE(back->snapshot_damaged("2026-01-01_00-00-00"));
  EXPECT_FALSE(back->snapshot_damaged("2026-01-03_00-00-00"));
  EXPECT_TRUE(back->path_damaged("2026-01-01_00-00-00", "dir/x.bin"));
  EXPECT_FALSE(back->path_damaged("2026-01-01_00-00-00", "dir/y.bin"));
  EXPECT_TRUE(back->path_damaged("2026-01-02_00-00-00", "anything")) << "a whole-snapshot entry covers every path";
}

TEST(CoreDamage, NoneIsEmptyAndEmptyRemovesTheFile) {
  TempDir tmp;
  auto none = read_damage_record(tmp.path());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  DamageRecord record;
  record.entries.insert({"2026-01-01_00-00-00", "a"});
  ASSERT_TRUE(write_damage_record(tmp.path(), record).ok());
  EXPECT_TRUE(std::filesystem::exists(tmp / "damaged"));
  ASSERT_TRUE(write_damage_record(tmp.path(), DamageRecord{}).ok());
  EXPECT_FALSE(std::filesystem::exists(tmp / "damaged"));
}

TEST(CoreDamage, ACutOrForeignFileIsAnErrorNamingIt) {
  TempDir tmp;
  test::write_file(tmp / "damaged", std::string("snapkeep-damage 1\nid\0pa", 23));
  auto cut = read_damage_record(tmp.path());
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.error().describe().find((tmp / "damaged").string()), std::string::npos);
  test::write_file(tmp / "damaged", "hello");
  EXPECT_FALSE(read_damage_record(tmp.path()).ok());
}

}  // namespace
}  // namespace snapkeep
