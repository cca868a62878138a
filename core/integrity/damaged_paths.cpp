#include "core/integrity/damaged_paths.hpp"

#include <unordered_map>

namespace snapkeep {

Status find_damaged_paths(const ContentIndex& index, std::vector<DamagedContent>& damaged) {
  if (damaged.empty()) {
    return {};
  }
  std::unordered_map<ContentKey, std::size_t, ContentKeyHash> by_key;
  for (std::size_t i = 0; i < damaged.size(); ++i) {
    by_key.emplace(damaged[i].content.key, i);
  }
  SNAPKEEP_TRY_ASSIGN(GroupStream groups, index.groups());
  PathGroup group;
  for (;;) {
    SNAPKEEP_TRY_ASSIGN(bool more, groups.next(group));
    if (!more) {
      return {};
    }
    if (auto it = by_key.find(group.key); it != by_key.end()) {
      damaged[it->second].groups.push_back(group);
    }
  }
}

}  // namespace snapkeep
