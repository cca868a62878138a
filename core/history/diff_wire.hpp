#pragma once
// A diff as a stream of JSON messages, for `snapkeep serve` (docs/remote.md): the server's sink
// batches the events run_diff hands out, the client replays them into its own sink (the text or
// JSON printer), so a diff of millions of paths crosses ssh without being held whole at either end.

#include <cstddef>
#include <functional>

#include <nlohmann/json.hpp>

#include "core/base/error.hpp"
#include "core/history/diff.hpp"

namespace snapkeep {

// Events sent in one message, at most.
inline constexpr std::size_t k_diff_events_per_message = 2000;

// A DiffSink that turns events into JSON and hands them to `flush` in batches (an array of events).
// The first failure of `flush` is kept, and later events are dropped; finish() flushes the rest.
class DiffEventBatcher final : public DiffSink {
 public:
  using Flush = std::function<Status(nlohmann::json events)>;
  explicit DiffEventBatcher(Flush flush) : m_flush(std::move(flush)) {}
  void begin(const DiffSide& from, const DiffSide& to, bool moves_detected) override;
  void group(DiffGroup group) override;
  void change(const DiffChange& change) override;
  Status finish();

 private:
  void add(nlohmann::json event);
  Flush m_flush;
  nlohmann::json m_events = nlohmann::json::array();
  Status m_status;  // of the flushes so far
};

// Hands the events of one batch to `sink`; an event that does not parse is an error naming it.
Status replay_diff_events(const nlohmann::json& events, DiffSink& sink);

nlohmann::json diff_summary_to_json(const DiffSummary& summary);
Result<DiffSummary> diff_summary_from_json(const nlohmann::json& json);

}  // namespace snapkeep
