// Unit tests for core/base/fd.hpp: an owned descriptor is closed on every path, exactly once.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include <gtest/gtest.h>

#include "core/base/fd.hpp"

namespace snapkeep {
namespace {

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

TEST(CoreFd, ClosesAtScopeEnd) {
  int raw = -1;
  {
    Fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    raw = fd.get();
    EXPECT_TRUE(is_open(raw));
  }
  EXPECT_FALSE(is_open(raw));
}

TEST(CoreFd, MoveTransfersOwnershipOnce) {
  Fd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int raw = a.get();
  Fd b(std::move(a));
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(b.get(), raw);
  Fd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(is_open(raw));
  EXPECT_EQ(c.close(), 0);
  EXPECT_FALSE(is_open(raw));
  EXPECT_EQ(c.close(), 0) << "a second close must not close a descriptor reused by someone else";
}

TEST(CoreFd, ReleaseGivesUpWithoutClosing) {
  Fd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int raw = a.release();
  EXPECT_FALSE(a.valid());
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

TEST(CoreFd, ResetClosesTheOldDescriptor) {
  Fd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int old = a.get();
  a.reset(::open("/dev/zero", O_RDONLY | O_CLOEXEC));
  EXPECT_FALSE(is_open(old) && old != a.get());
  EXPECT_TRUE(a.valid());
}

}  // namespace
}  // namespace snapkeep
