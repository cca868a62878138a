#include "core/ops/run_record.hpp"

#include "core/store/local_state.hpp"

namespace snapkeep {
namespace {

constexpr std::size_t k_error_tail_bytes = 2000;

// The field `key` of `j` as T, when it is there and of that type.
template <class T>
std::optional<T> field(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    return std::nullopt;
  }
  if constexpr (std::is_same_v<T, std::string>) {
    return it->is_string() ? std::optional<T>(it->template get<std::string>()) : std::nullopt;
  } else if constexpr (std::is_same_v<T, bool>) {
    return it->is_boolean() ? std::optional<T>(it->template get<bool>()) : std::nullopt;
  } else {
    return it->is_number() ? std::optional<T>(it->template get<T>()) : std::nullopt;
  }
}

std::optional<RunResult> result_from(const nlohmann::json& j) {
  const auto name = field<std::string>(j, "result");
  for (RunResult r : {RunResult::ok, RunResult::failed, RunResult::skipped, RunResult::damaged}) {
    if (name && *name == run_result_name(r)) {
      return r;
    }
  }
  return std::nullopt;
}

std::optional<BackupRecord> backup_from(const nlohmann::json& entry, const char* key) {
  const auto it = entry.find(key);
  if (it == entry.end() || !it->is_object()) {
    return std::nullopt;
  }
  const nlohmann::json& j = *it;
  BackupRecord r;
  r.result = result_from(j).value_or(RunResult::failed);
  r.time = field<std::time_t>(j, "time").value_or(0);
  r.seconds = field<double>(j, "seconds").value_or(0);
  r.snapshot = field<std::string>(j, "snapshot").value_or("");
  r.files = field<std::uint64_t>(j, "files").value_or(0);
  r.bytes_transferred = field<std::uint64_t>(j, "bytes_transferred").value_or(0);
  r.warnings = field<std::size_t>(j, "warnings").value_or(0);
  r.error = field<std::string>(j, "error").value_or("");
  return r;
}

std::optional<ScrubRecord> scrub_from(const nlohmann::json& entry) {
  const auto it = entry.find("last_scrub");
  if (it == entry.end() || !it->is_object()) {
    return std::nullopt;
  }
  const nlohmann::json& j = *it;
  ScrubRecord r;
  r.result = result_from(j).value_or(RunResult::failed);
  r.time = field<std::time_t>(j, "time").value_or(0);
  r.seconds = field<double>(j, "seconds").value_or(0);
  r.files_checked = field<std::uint64_t>(j, "files_checked").value_or(0);
  r.bytes_read = field<std::uint64_t>(j, "bytes_read").value_or(0);
  r.damaged_contents = field<std::uint64_t>(j, "damaged_contents").value_or(0);
  r.repaired = field<std::uint64_t>(j, "repaired").value_or(0);
  r.contents_unverified = field<std::uint64_t>(j, "contents_unverified").value_or(0);
  r.budget_reached = field<bool>(j, "budget_reached").value_or(false);
  r.error = field<std::string>(j, "error").value_or("");
  if (const auto f = j.find("findings"); f != j.end() && f->is_object()) {
    for (const auto& [status, count] : f->items()) {
      if (count.is_number_unsigned()) {
        r.findings[status] = count.get<std::uint64_t>();
      }
    }
  }
  return r;
}

std::optional<DestinationRecord> destination_from(const nlohmann::json& entry) {
  const auto it = entry.find("destination");
  if (it == entry.end() || !it->is_object()) {
    return std::nullopt;
  }
  DestinationRecord r;
  r.time = field<std::time_t>(*it, "time").value_or(0);
  r.snapshots = field<std::uint64_t>(*it, "snapshots").value_or(0);
  r.free_bytes = field<std::uint64_t>(*it, "free_bytes");
  r.size_bytes = field<std::uint64_t>(*it, "size_bytes");
  return r;
}

}  // namespace

std::string_view run_result_name(RunResult result) {
  switch (result) {
    case RunResult::ok: return "ok";
    case RunResult::failed: return "failed";
    case RunResult::skipped: return "skipped";
    case RunResult::damaged: return "damaged";
  }
  return "failed";
}

std::string text_tail(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) {
    return text;
  }
  std::size_t start = text.size() - max_bytes;
  if (const auto line = text.find('\n', start); line != std::string::npos && line - start < max_bytes / 4) {
    start = line + 1;
  }
  // Never start inside a UTF-8 sequence.
  while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xc0) == 0x80) {
    ++start;
  }
  return "..." + text.substr(start);
}

nlohmann::json to_json(const BackupRecord& r) {
  nlohmann::json j{
      {"result", run_result_name(r.result)},      {"time", r.time},        {"seconds", r.seconds}, {"files", r.files},
      {"bytes_transferred", r.bytes_transferred}, {"warnings", r.warnings}};
  if (!r.snapshot.empty()) {
    j["snapshot"] = r.snapshot;
  }
  if (!r.error.empty()) {
    j["error"] = text_tail(r.error, k_error_tail_bytes);
  }
  return j;
}

nlohmann::json to_json(const ScrubRecord& r) {
  nlohmann::json j{{"result", run_result_name(r.result)},
                   {"time", r.time},
                   {"seconds", r.seconds},
                   {"files_checked", r.files_checked},
                   {"bytes_read", r.bytes_read},
                   {"damaged_contents", r.damaged_contents},
                   {"repaired", r.repaired},
                   {"findings", r.findings},
                   {"contents_unverified", r.contents_unverified},
                   {"budget_reached", r.budget_reached}};
  if (!r.error.empty()) {
    j["error"] = text_tail(r.error, k_error_tail_bytes);
  }
  return j;
}

nlohmann::json to_json(const DestinationRecord& r) {
  nlohmann::json j{{"time", r.time}, {"snapshots", r.snapshots}};
  if (r.free_bytes) {
    j["free_bytes"] = *r.free_bytes;
  }
  if (r.size_bytes) {
    j["size_bytes"] = *r.size_bytes;
  }
  return j;
}

PresetRecord preset_record_from_json(const nlohmann::json& entry) {
  PresetRecord record;
  if (!entry.is_object()) {
    return record;
  }
  record.last_backup = backup_from(entry, "last_backup");
  record.last_success = backup_from(entry, "last_success");
  record.last_scrub = scrub_from(entry);
  record.destination = destination_from(entry);
  return record;
}

Status record_backup(const Preset& preset, const BackupRecord& run, bool made_snapshot,
                     const std::optional<DestinationRecord>& destination) {
  return update_local_state(preset.preset_dir(), [&](nlohmann::json& entry) {
    entry["name"] = preset.name;
    entry["last_backup"] = to_json(run);
    if (made_snapshot) {
      entry["last_success"] = to_json(run);
    }
    if (destination) {
      entry["destination"] = to_json(*destination);
    }
  });
}

Status record_scrub(const Preset& preset, const ScrubRecord& run, const std::optional<DestinationRecord>& destination) {
  return update_local_state(preset.preset_dir(), [&](nlohmann::json& entry) {
    entry["name"] = preset.name;
    entry["last_scrub"] = to_json(run);
    if (destination) {
      entry["destination"] = to_json(*destination);
    }
  });
}

Result<PresetRecord> read_preset_record(const Preset& preset) {
  SNAPKEEP_TRY_ASSIGN(nlohmann::json entry, read_local_state_entry(preset.preset_dir()));
  return preset_record_from_json(entry);
}

}  // namespace snapkeep
