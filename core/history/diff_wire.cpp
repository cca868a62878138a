#include "core/history/diff_wire.hpp"

#include <string>
#include <utility>

namespace snapkeep {
namespace {

using nlohmann::json;

json side_to_json(const DiffSide& side) {
  return {{"id", side.id}, {"tree_reason", side.tree_reason}};
}

DiffSide side_from_json(const json& j) {
  return {j.at("id").get<std::string>(), j.at("tree_reason").get<std::string>()};
}

}  // namespace

void DiffEventBatcher::begin(const DiffSide& from, const DiffSide& to, bool moves_detected) {
  add({{"begin", {{"from", side_to_json(from)}, {"to", side_to_json(to)}, {"moves_detected", moves_detected}}}});
}

void DiffEventBatcher::group(DiffGroup group) {
  add({{"group", static_cast<int>(group)}});
}

void DiffEventBatcher::change(const DiffChange& c) {
  add({{"change",
        {{"kind", static_cast<int>(c.kind)},
         {"moved", c.moved},
         {"path", c.path},
         {"from", c.from},
         {"type", std::string(1, static_cast<char>(c.type))},
         {"size", c.size},
         {"size_before", c.size_before}}}});
}

void DiffEventBatcher::add(json event) {
  if (!m_status) {
    return;
  }
  m_events.push_back(std::move(event));
  if (m_events.size() >= k_diff_events_per_message) {
    m_status = m_flush(std::exchange(m_events, json::array()));
  }
}

Status DiffEventBatcher::finish() {
  if (m_status && !m_events.empty()) {
    m_status = m_flush(std::exchange(m_events, json::array()));
  }
  return m_status;
}

Status replay_diff_events(const json& events, DiffSink& sink) {
  try {
    for (const auto& event : events) {
      if (event.contains("change")) {
        const json& c = event.at("change");
        DiffChange change;
        const int kind = c.at("kind").get<int>();
        const std::string type = c.at("type").get<std::string>();
        if (kind < static_cast<int>(PathChange::unchanged) || kind > static_cast<int>(PathChange::metadata) ||
            type.size() != 1 || std::string("fdlo").find(type[0]) == std::string::npos) {
          return runtime_error("malformed diff event: " + c.dump());
        }
        change.kind = static_cast<PathChange>(kind);
        change.type = static_cast<EntryType>(type[0]);
        change.moved = c.at("moved").get<bool>();
        change.path = c.at("path").get<std::string>();
        change.from = c.at("from").get<std::string>();
        change.size = c.at("size").get<std::uint64_t>();
        change.size_before = c.at("size_before").get<std::uint64_t>();
        sink.change(change);
      } else if (event.contains("group")) {
        const int group = event.at("group").get<int>();
        if (group < static_cast<int>(DiffGroup::added) || group > static_cast<int>(DiffGroup::moved)) {
          return runtime_error("malformed diff event: " + event.dump());
        }
        sink.group(static_cast<DiffGroup>(group));
      } else if (event.contains("begin")) {
        const json& b = event.at("begin");
        sink.begin(side_from_json(b.at("from")), side_from_json(b.at("to")), b.at("moves_detected").get<bool>());
      } else {
        return runtime_error("malformed diff event: " + event.dump());
      }
    }
  } catch (const json::exception& e) {
    return runtime_error(std::string("malformed diff event: ") + e.what());
  }
  return {};
}

json diff_summary_to_json(const DiffSummary& s) {
  return {{"from", side_to_json(s.from)},
          {"to", side_to_json(s.to)},
          {"moves_detected", s.moves_detected},
          {"added", s.added},
          {"deleted", s.deleted},
          {"content", s.content},
          {"metadata", s.metadata},
          {"moved", s.moved},
          {"bytes_added", s.bytes_added},
          {"bytes_deleted", s.bytes_deleted}};
}

Result<DiffSummary> diff_summary_from_json(const json& j) {
  try {
    DiffSummary s;
    s.from = side_from_json(j.at("from"));
    s.to = side_from_json(j.at("to"));
    s.moves_detected = j.at("moves_detected").get<bool>();
    s.added = j.at("added").get<std::uint64_t>();
    s.deleted = j.at("deleted").get<std::uint64_t>();
    s.content = j.at("content").get<std::uint64_t>();
    s.metadata = j.at("metadata").get<std::uint64_t>();
    s.moved = j.at("moved").get<std::uint64_t>();
    s.bytes_added = j.at("bytes_added").get<std::uint64_t>();
    s.bytes_deleted = j.at("bytes_deleted").get<std::uint64_t>();
    return s;
  } catch (const json::exception& e) {
    return runtime_error(std::string("malformed diff summary: ") + e.what());
  }
}

}  // namespace snapkeep
