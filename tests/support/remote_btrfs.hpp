#pragma once
// What a remote backup onto btrfs must leave (tests/integration/test_remote_*.cpp): two snapshots
// made from a source holding docs/big.bin (unchanged, larger than btrfs's inline limit) and b.txt
// (changed from "bravo\n" to "bravo, changed\n" between them). Header-only: it uses backends/btrfs,
// which the test executables link and tests/support does not.

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "backends/btrfs/extents.hpp"
#include "backends/btrfs/subvolume.hpp"
#include "tests/support/testutil.hpp"

namespace snapkeep::test {

// Both snapshots are read-only subvolumes with the right contents, and the unchanged file is one
// set of extents in both (an incremental copy on btrfs, not a second full one).
inline void expect_btrfs_snapshots_share_unchanged_data(const std::filesystem::path& preset_dir, const std::string& id1,
                                                        const std::string& id2, const std::string& big) {
  for (const auto& id : {id1, id2}) {
    auto info = btrfs::subvolume_info(preset_dir / id);
    ASSERT_TRUE(info) << id;
    EXPECT_TRUE(info->read_only) << id;
  }
  EXPECT_EQ(read_file(preset_dir / id1 / "b.txt"), "bravo\n");
  EXPECT_EQ(read_file(preset_dir / id2 / "b.txt"), "bravo, changed\n");
  EXPECT_EQ(read_file(preset_dir / id2 / "docs/big.bin"), big);
  EXPECT_TRUE(btrfs::shares_blocks(preset_dir / id1 / "docs/big.bin", preset_dir / id2 / "docs/big.bin"))
      << "the unchanged file is one set of extents in both snapshots";
}

}  // namespace snapkeep::test
