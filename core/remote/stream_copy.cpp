#include "core/remote/stream_copy.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>
#include <vector>

#include "core/base/signals.hpp"

namespace snapkeep {
namespace {

constexpr std::size_t k_piece = 1 << 20;
// Under a rate limit, pieces are small so the pace is even.
constexpr std::size_t k_limited_piece = 64 * 1024;

}  // namespace

StreamCopy copy_stream(int from, int to, std::optional<std::uint64_t> bytes_per_second,
                       const std::function<void(std::string_view)>& on_data) {
  StreamCopy out;
  std::vector<char> buffer(bytes_per_second ? k_limited_piece : k_piece);
  const auto started = std::chrono::steady_clock::now();
  for (;;) {
    const ssize_t n = ::read(from, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR && stop_signal() == 0) {
      continue;
    }
    if (n == 0) {
      out.source_ended = true;
      return out;
    }
    if (n < 0) {
      out.error = errno;
      return out;
    }
    const std::string_view piece(buffer.data(), static_cast<std::size_t>(n));
    if (on_data) {
      on_data(piece);
    }
    for (std::size_t done = 0; done < piece.size();) {
      const ssize_t w = ::write(to, piece.data() + done, piece.size() - done);
      if (w < 0 && errno == EINTR && stop_signal() == 0) {
        continue;
      }
      if (w <= 0) {
        out.error = w < 0 ? errno : EIO;
        return out;
      }
      done += static_cast<std::size_t>(w);
    }
    out.bytes += piece.size();
    if (bytes_per_second && *bytes_per_second > 0) {
      const auto due =
          started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(
                        static_cast<double>(out.bytes) / static_cast<double>(*bytes_per_second)));
      std::this_thread::sleep_until(due);
    }
  }
}

}  // namespace snapkeep
