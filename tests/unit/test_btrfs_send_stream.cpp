// Reading the changed paths out of a btrfs send stream (backends/btrfs/send_stream): streams built
// here byte by byte in the kernel's format, fed in pieces of every size, and damaged ones.

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "backends/btrfs/send_stream.hpp"

namespace snapkeep::btrfs {
namespace {

// Command and attribute numbers of the kernel's send stream format.
enum : std::uint16_t { snapshot = 2, mkfile = 3, mkdir = 4, symlink = 8, rename = 9, link = 10, unlink = 11 };
enum : std::uint16_t { rmdir = 12, write = 15, chmod = 18, utimes = 20, end = 21 };
enum : std::uint16_t { a_uuid = 1, a_path = 15, a_path_to = 16, a_path_link = 17, a_offset = 18, a_data = 19 };
enum : std::uint16_t { clone = 16, a_clone_uuid = 20 };

void put16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v & 0xff);
  out += static_cast<char>(v >> 8);
}
void put32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
}

struct Stream {
  explicit Stream(std::uint32_t version = 1) {
    bytes.append("btrfs-stream", 12);
    bytes += '\0';
    put32(bytes, version);
  }
  // A command of (attribute, value) pairs; `v2_data` ends it with v2's length-less DATA.
  Stream& cmd(std::uint16_t type, const std::vector<std::pair<std::uint16_t, std::string>>& attrs,
              const std::string& v2_data = {}) {
    std::string payload;
    for (const auto& [attr, value] : attrs) {
      put16(payload, attr);
      put16(payload, static_cast<std::uint16_t>(value.size()));
      payload += value;
    }
    if (!v2_data.empty()) {
      put16(payload, a_data);
      payload += v2_data;
    }
    put32(bytes, static_cast<std::uint32_t>(payload.size()));
    put16(bytes, type);
    put32(bytes, 0);  // crc: receive checks it, snapkeep does not need to
    bytes += payload;
    return *this;
  }
  std::string bytes;
};

// A stream of an incremental send that touches every kind of path.
std::string typical_stream() {
  Stream s;
  s.cmd(snapshot, {{a_path, "dest-name"}, {a_uuid, std::string(16, 'u')}, {a_clone_uuid, std::string(16, 'p')}})
      .cmd(mkfile, {{a_path, "o257-9-0"}})
      .cmd(rename, {{a_path, "o257-9-0"}, {a_path_to, "docs/new.txt"}})
      .cmd(write, {{a_path, "docs/new.txt"}, {a_offset, std::string(8, '\0')}, {a_data, std::string(3000, 'x')}})
      .cmd(rename, {{a_path, "photos"}, {a_path_to, "pictures"}})
      .cmd(link, {{a_path, "a/second-name"}, {a_path_link, "b/first-name"}})
      .cmd(unlink, {{a_path, "old/gone"}})
      .cmd(rmdir, {{a_path, "old"}})
      .cmd(symlink, {{a_path, "s/link"}, {a_path_link, "/etc/passwd"}})
      .cmd(chmod, {{a_path, "top"}})
      .cmd(utimes, {{a_path, ""}})
      .cmd(end, {});
  return s.bytes;
}

const std::vector<std::string> k_typical_entries{
    "a",   "a/second-name", "b", "b/first-name", "docs", "docs/new.txt", "o257-9-0",
    "old", "old/gone",      "s", "s/link",       "top"};
const std::vector<std::string> k_typical_subtrees{"docs/new.txt", "o257-9-0", "old", "photos", "pictures"};

// A receiver serving several clients checks where a stream takes data from: the snapshot's parent
// and every clone source are listed, with the subvolume's own name and uuid; listing stops at the
// path limit, these do not.
TEST(SendStream, NamesTheSubvolumeItMakesAndEverySubvolumeItTakesDataFrom) {
  Stream s;
  s.cmd(snapshot, {{a_path, ".incoming-x"}, {a_uuid, std::string(16, '\x01')}, {a_clone_uuid, std::string(16, '\x02')}})
      .cmd(mkfile, {{a_path, "a"}})
      .cmd(mkfile, {{a_path, "b"}})
      .cmd(clone, {{a_path, "b"}, {a_clone_uuid, std::string(16, '\xab')}})
      .cmd(end, {});
  for (std::size_t limit : {std::size_t{100}, std::size_t{1}}) {
    SendStreamChanges changes(limit);
    changes.feed(s.bytes);
    EXPECT_TRUE(changes.well_formed()) << changes.failure();
    EXPECT_EQ(changes.usable(), limit == 100) << changes.failure();
    EXPECT_EQ(changes.subvolume_name(), ".incoming-x");
    EXPECT_EQ(changes.subvolume_uuid(), "01010101-0101-0101-0101-010101010101");
    EXPECT_EQ(changes.referenced_uuids(),
              (std::set<std::string>{"02020202-0202-0202-0202-020202020202", "abababab-abab-abab-abab-abababababab"}))
        << "limit " << limit;
  }
  Stream two;
  two.cmd(snapshot, {{a_path, "one"}, {a_uuid, std::string(16, '\x01')}, {a_clone_uuid, std::string(16, '\x02')}})
      .cmd(snapshot, {{a_path, "two"}, {a_uuid, std::string(16, '\x03')}, {a_clone_uuid, std::string(16, '\x02')}})
      .cmd(end, {});
  SendStreamChanges second;
  second.feed(two.bytes);
  EXPECT_FALSE(second.well_formed()) << "a second subvolume in one stream";
}

TEST(SendStream, NamesEveryChangedPathAndItsFolder) {
  SendStreamChanges changes;
  changes.feed(typical_stream());
  ASSERT_TRUE(changes.usable()) << changes.failure();
  auto out = changes.changes("2026-12-05_10-00-00");
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->base, "2026-12-05_10-00-00");
  EXPECT_EQ(out->entries, k_typical_entries) << "the symlink's target /etc/passwd is not a path of the tree";
  EXPECT_EQ(out->subtrees, k_typical_subtrees);
}

TEST(SendStream, PiecesOfAnySizeGiveTheSameChanges) {
  const std::string stream = typical_stream();
  std::mt19937 rng(5);
  for (std::size_t piece : {std::size_t{1}, std::size_t{2}, std::size_t{9}, std::size_t{10}, std::size_t{17},
                            std::size_t{4096}, std::size_t{0}}) {
    SendStreamChanges changes;
    for (std::size_t at = 0; at < stream.size();) {
      std::size_t n = piece == 0 ? 1 + rng() % 64 : piece;  // 0: random sizes
      changes.feed(std::string_view(stream).substr(at, n));
      at += n;
    }
    ASSERT_TRUE(changes.usable()) << "pieces of " << piece << ": " << changes.failure();
    EXPECT_EQ(changes.changes("x")->entries, k_typical_entries) << "pieces of " << piece;
    EXPECT_EQ(changes.changes("x")->subtrees, k_typical_subtrees) << "pieces of " << piece;
  }
}

TEST(SendStream, VersionTwoDataRunsToTheEndOfItsCommand) {
  Stream s(2);
  // Without the v2 rule, the data's first bytes would read as an attribute naming another path.
  std::string data;
  put16(data, a_path);
  put16(data, 5);
  data += "wrong";
  s.cmd(write, {{a_path, "f"}, {a_offset, std::string(8, '\0')}}, data).cmd(end, {});
  SendStreamChanges changes;
  changes.feed(s.bytes);
  ASSERT_TRUE(changes.usable()) << changes.failure();
  EXPECT_EQ(changes.changes("x")->entries, std::vector<std::string>{"f"});
}

TEST(SendStream, AnythingButAWholeWellFormedStreamIsNotUsed) {
  const std::string good = typical_stream();
  {
    SendStreamChanges cut;  // killed send: no END
    cut.feed(std::string_view(good).substr(0, good.size() - 10));
    EXPECT_FALSE(cut.usable());
    EXPECT_FALSE(cut.changes("x").has_value());
    EXPECT_NE(cut.failure().find("END"), std::string::npos) << cut.failure();
  }
  {
    SendStreamChanges other;
    other.feed("not a stream at all, but long enough");
    EXPECT_FALSE(other.usable());
    EXPECT_NE(other.failure().find("not a btrfs send stream"), std::string::npos) << other.failure();
  }
  {
    Stream s;
    s.cmd(99, {{a_path, "x"}}).cmd(end, {});
    SendStreamChanges unknown;
    unknown.feed(s.bytes);
    EXPECT_FALSE(unknown.usable());
    EXPECT_NE(unknown.failure().find("unknown command 99"), std::string::npos) << unknown.failure();
  }
  {
    Stream s;
    s.cmd(mkfile, {{a_path, "/etc/shadow"}}).cmd(end, {});
    SendStreamChanges absolute;
    absolute.feed(s.bytes);
    EXPECT_FALSE(absolute.usable()) << "an absolute path never names a snapshot entry";
  }
  {
    Stream s;
    s.cmd(rename, {{a_path, "only-the-old-name"}}).cmd(end, {});
    SendStreamChanges half;
    half.feed(s.bytes);
    EXPECT_FALSE(half.usable());
  }
  {
    // An attribute longer than its command.
    Stream s;
    s.cmd(mkfile, {{a_path, "abc"}}).cmd(end, {});
    std::string bytes = s.bytes;
    bytes[17 + 10 + 2] = 100;  // the length of the first attribute
    SendStreamChanges torn;
    torn.feed(bytes);
    EXPECT_FALSE(torn.usable());
  }
}

TEST(SendStream, MorePathsThanTheLimitAreNotListed) {
  Stream s;
  for (int i = 0; i < 50; ++i) {
    s.cmd(mkfile, {{a_path, "f" + std::to_string(i)}});
  }
  s.cmd(end, {});
  SendStreamChanges few(20);
  few.feed(s.bytes);
  EXPECT_FALSE(few.usable());
  EXPECT_NE(few.failure().find("more than 20 paths"), std::string::npos) << few.failure();
  SendStreamChanges enough(100);
  enough.feed(s.bytes);
  EXPECT_TRUE(enough.usable()) << enough.failure();
  EXPECT_EQ(enough.changes("x")->entries.size(), 50U);
}

}  // namespace
}  // namespace snapkeep::btrfs
