#include "tests/support/preset_world.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "tests/support/tree_compare.hpp"

namespace snapkeep::test {

PresetWorld::PresetWorld(unsigned dest_mib) : dest("ext4", dest_mib) {
  src = tmp / "src";
  fs::create_directories(src);
  config = tmp / "snapkeep.ini";
  preset_dir = dest.mount_point() / "home";
}

void PresetWorld::write_config(const std::string& extra) const {
  write_preset_config(config, "home", src, dest.mount_point(), extra);
}

RunResult PresetWorld::cli(std::vector<std::string> args) const {
  args.insert(args.begin(), {"-c", config.string()});
  return snapkeep(args);
}

nlohmann::json PresetWorld::cli_json(std::vector<std::string> args, int expected_exit, std::string* err) const {
  args.insert(args.begin(), "--json");
  RunResult r = cli(args);
  EXPECT_EQ(r.exit_code, expected_exit) << "snapkeep " << ::testing::PrintToString(args) << "\nstdout:\n"
                                        << r.out << "\nstderr:\n"
                                        << r.err;
  if (err != nullptr) {
    *err = r.err;
  }
  nlohmann::json doc = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << "not JSON:\n" << r.out << "\nstderr:\n" << r.err;
  return doc.is_discarded() ? nlohmann::json() : doc;
}

nlohmann::json PresetWorld::backup_entry() const {
  nlohmann::json doc = cli_json({"backup"});
  if (!doc.contains("presets") || doc["presets"].size() != 1) {
    ADD_FAILURE() << "unexpected backup JSON: " << doc.dump();
    return nlohmann::json::object();
  }
  nlohmann::json entry = doc["presets"][0];
  EXPECT_EQ(entry.value("status", ""), "ok") << entry.dump();
  return entry;
}

std::string PresetWorld::backup_id() const {
  return backup_entry().value("snapshot", "");
}

std::string id_for(std::time_t t) {
  struct tm tm {};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d_%H-%M-%S", &tm);
  return buf;
}

std::vector<std::string> backdate(const PresetWorld& w, const std::vector<std::string>& ids, std::time_t base,
                                  std::time_t step) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    std::time_t t = base + static_cast<std::time_t>(i) * step;
    std::string id = id_for(t);
    fs::rename(w.snap(ids[i]), w.snap(id));
    fs::remove(w.record(ids[i]));
    write_file(w.record(id), "time=" + std::to_string(static_cast<long long>(t)) + "\n");
    out.push_back(id);
  }
  fs::remove(w.preset_dir / "latest");
  fs::create_symlink(out.back(), w.preset_dir / "latest");
  return out;
}

std::map<std::string, nlohmann::json> prune_entries(const nlohmann::json& doc) {
  std::map<std::string, nlohmann::json> out;
  if (!doc.contains("presets") || doc["presets"].size() != 1) {
    ADD_FAILURE() << "unexpected prune JSON: " << doc.dump();
    return out;
  }
  const nlohmann::json& preset = doc["presets"][0];
  EXPECT_EQ(preset.value("status", ""), "ok") << preset.dump();
  if (!preset.contains("snapshots")) {
    ADD_FAILURE() << "no snapshots in " << preset.dump();
    return out;
  }
  for (const auto& s : preset["snapshots"]) {
    out[s.value("id", "")] = s;
  }
  return out;
}

std::string expect_latest_valid(const fs::path& preset_dir) {
  struct stat st {};
  if (::lstat((preset_dir / "latest").c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) {
    ADD_FAILURE() << preset_dir / "latest"
                  << " is not a symlink";
    return {};
  }
  std::string target = link_target(preset_dir / "latest");
  EXPECT_TRUE(fs::is_directory(preset_dir / target)) << "latest -> " << target << " dangles";
  return target;
}

}  // namespace snapkeep::test
