#include "core/base/log.hpp"

#include <deque>
#include <mutex>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace snapkeep {
namespace {

int g_verbosity = 0;
constexpr std::size_t k_kept_problems = 256;

// Keeps the newest warnings and errors in memory, numbered, for log_problems_since.
class ProblemSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::uint64_t mark() {
    std::lock_guard<std::mutex> guard(mutex_);
    return m_count;
  }
  std::vector<std::string> since(std::uint64_t mark) {
    std::lock_guard<std::mutex> guard(mutex_);
    std::vector<std::string> out;
    const std::uint64_t first = m_count - m_kept.size();
    for (std::size_t i = 0; i < m_kept.size(); ++i) {
      if (first + i >= mark) {
        out.push_back(m_kept[i]);
      }
    }
    return out;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (msg.level < spdlog::level::warn) {
      return;
    }
    std::string line = msg.level == spdlog::level::warn ? "warning: " : "error: ";
    line.append(msg.payload.data(), msg.payload.size());
    m_kept.push_back(std::move(line));
    if (m_kept.size() > k_kept_problems) {
      m_kept.pop_front();
    }
    ++m_count;
  }
  void flush_() override {}

 private:
  std::deque<std::string> m_kept;
  std::uint64_t m_count = 0;
};

std::shared_ptr<ProblemSink>& problems() {
  static std::shared_ptr<ProblemSink> sink;
  return sink;
}

}  // namespace

void setup_logging(int verbosity) {
  g_verbosity = verbosity;
  auto logger = spdlog::stderr_color_mt("snapkeep");
  problems() = std::make_shared<ProblemSink>();
  logger->sinks().push_back(problems());
  logger->set_pattern("snapkeep: %^%l%$: %v");
  spdlog::set_default_logger(logger);
  if (verbosity < 0) {
    spdlog::set_level(spdlog::level::warn);
  } else if (verbosity == 0) {
    spdlog::set_level(spdlog::level::info);
  } else {
    spdlog::set_level(spdlog::level::debug);
  }
}

int log_verbosity() {
  return g_verbosity;
}

std::uint64_t log_mark() {
  return problems() ? problems()->mark() : 0;
}

std::vector<std::string> log_problems_since(std::uint64_t mark) {
  return problems() ? problems()->since(mark) : std::vector<std::string>{};
}

}  // namespace snapkeep
