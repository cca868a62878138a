#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/base/signals.hpp"
#include "core/config/units.hpp"
#include "core/history/diff.hpp"
#include "core/serve/client.hpp"

namespace snapkeep::cli {
namespace {

// Writes text to stdout as it comes.
void out(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Human lines: one per change, under a heading per group.
class HumanSink : public DiffSink {
 public:
  explicit HumanSink(std::string preset) : m_preset(std::move(preset)) {}
  void begin(const DiffSide& from, const DiffSide& to, bool moves_detected) override {
    out(fmt::format("{}: changes from {} to {}\n", m_preset, from.id, to.id));
    for (const DiffSide* side : {&from, &to}) {
      if (!side->tree_reason.empty()) {
        out(fmt::format("  ({}: {}; read from the snapshot itself, so sizes and mtimes are compared)\n", side->id,
                        side->tree_reason));
      }
    }
    if (!moves_detected) {
      out("  (without content hashes on both sides, moved files show as deleted and added)\n");
    }
  }
  void group(DiffGroup) override {}
  void change(const DiffChange& c) override {
    if (c.moved) {
      out(fmt::format("  R {} -> {}  {}\n", c.from, c.path, format_bytes(c.size)));
      return;
    }
    const std::string size =
        c.type == EntryType::directory ? std::string(entry_type_name(c.type)) : format_bytes(c.size);
    switch (c.kind) {
      case PathChange::added: out(fmt::format("  + {}  {}\n", c.path, size)); break;
      case PathChange::deleted: out(fmt::format("  - {}  {}\n", c.path, size)); break;
      case PathChange::content:
        out(fmt::format("  M {}  {} -> {}\n", c.path, format_bytes(c.size_before), format_bytes(c.size)));
        break;
      case PathChange::metadata: out(fmt::format("  m {}  (metadata only)\n", c.path)); break;
      case PathChange::unchanged: break;
    }
  }

 private:
  std::string m_preset;
};

// The JSON document, streamed: a diff may list millions of paths, so nothing is held until the end.
class JsonSink : public DiffSink {
 public:
  explicit JsonSink(const std::string& preset) { out("{\"presets\": [{\"name\": " + dump(preset)); }
  void begin(const DiffSide& from, const DiffSide& to, bool moves_detected) override {
    out(", \"from\": " + dump(from.id) + ", \"to\": " + dump(to.id));
    out(", \"read_from_tree\": " + dump(tree(from, to)) + ", \"moves_detected\": " + dump(moves_detected));
  }
  void group(DiffGroup group) override {
    static const char* const k_names[] = {"added", "deleted", "modified", "moved"};
    close_array();
    out(fmt::format(",\n  \"{}\": [", k_names[static_cast<int>(group)]));
    m_in_array = true;
    m_first = true;
  }
  void change(const DiffChange& c) override {
    nlohmann::json item;
    if (c.moved) {
      item = {{"from", c.from}, {"to", c.path}, {"size", c.size}};
    } else if (c.kind == PathChange::content || c.kind == PathChange::metadata) {
      item = {{"path", c.path},
              {"type", entry_type_name(c.type)},
              {"content", c.kind == PathChange::content},
              {"size_before", c.size_before},
              {"size", c.size}};
    } else {
      item = {{"path", c.path}, {"type", entry_type_name(c.type)}, {"size", c.size}};
    }
    out((m_first ? "\n    " : ",\n    ") + dump(item));
    m_first = false;
  }
  // Ends the document with the counts, or with the error that stopped the diff.
  void finish(const DiffSummary* summary, const Error* error) {
    close_array();
    if (summary != nullptr) {
      out(",\n  \"counts\": " + dump(nlohmann::json{{"added", summary->added},
                                                    {"deleted", summary->deleted},
                                                    {"modified", summary->content + summary->metadata},
                                                    {"content", summary->content},
                                                    {"metadata", summary->metadata},
                                                    {"moved", summary->moved},
                                                    {"bytes_added", summary->bytes_added},
                                                    {"bytes_deleted", summary->bytes_deleted}}));
      out(", \"status\": \"ok\"");
    } else {
      out(", \"status\": \"failed\", \"error\": " + dump(error != nullptr ? error->describe() : ""));
    }
    out("}]}\n");
    std::fflush(stdout);
  }

 private:
  static nlohmann::json tree(const DiffSide& from, const DiffSide& to) {
    nlohmann::json list = nlohmann::json::array();
    for (const DiffSide* side : {&from, &to}) {
      if (!side->tree_reason.empty()) {
        list.push_back({{"id", side->id}, {"reason", side->tree_reason}});
      }
    }
    return list;
  }
  void close_array() {
    if (m_in_array) {
      out(m_first ? "]" : "\n  ]");
      m_in_array = false;
    }
  }
  bool m_in_array = false;
  bool m_first = true;
};

// A sink that prints nothing (-q).
class QuietSink : public DiffSink {
 public:
  void begin(const DiffSide&, const DiffSide&, bool) override {}
  void group(DiffGroup) override {}
  void change(const DiffChange&) override {}
};

}  // namespace

// diff streams its output (a diff may list millions of paths), so it runs its one preset here
// rather than through run_presets, which holds every preset's JSON entry until the end.
int cmd_diff(const GlobalOptions& global, const Config& config, const DiffArgs& args) {
  auto presets = select_presets(config, {args.preset});
  if (!presets) {
    return exit_code(report(presets.error()));
  }
  const Preset& preset = presets->front();
  DiffRequest request;
  request.from = args.from;
  request.to = args.to;
  auto run = [&](DiffSink& sink) -> Result<DiffSummary> {
    if (preset.remote_destination) {
      return remote_diff(preset, request, sink);  // serve reads the manifests there and streams the changes
    }
    SNAPKEEP_TRY_ASSIGN(auto backend, backend_for(preset));
    request.sharing = backend->capabilities().content_sharing;
    return run_diff(preset, request, sink);
  };
  if (global.json) {
    JsonSink sink(preset.name);
    auto summary = run(sink);
    if (!summary) {
      const Error error = std::move(summary).error().in(preset.name);
      sink.finish(nullptr, &error);
      return exit_code(report(error));
    }
    sink.finish(&*summary, nullptr);
    return 0;
  }
  HumanSink human(preset.name);
  QuietSink quiet;
  auto summary = run(global.show() ? static_cast<DiffSink&>(human) : static_cast<DiffSink&>(quiet));
  if (!summary) {
    return exit_code(report(std::move(summary).error().in(preset.name)));
  }
  if (global.show()) {
    const DiffSummary& s = *summary;
    out(fmt::format("{}: {} added ({}), {} deleted ({}), {} modified ({} metadata only), {} moved\n", preset.name,
                    s.added, format_bytes(s.bytes_added), s.deleted, format_bytes(s.bytes_deleted),
                    s.content + s.metadata, s.metadata, s.moved));
  }
  return stop_signal() != 0 ? 1 : 0;
}

}  // namespace snapkeep::cli
