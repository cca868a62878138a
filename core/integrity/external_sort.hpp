#pragma once
// Sorting more records than memory may hold (manifests and scrub at millions of files): records
// are byte strings ordered byte by byte (core/integrity/record_bytes.hpp builds them so that this
// is the order wanted). They gather in memory up to a budget; a full buffer is sorted and written
// as a run to an unnamed work file (core/integrity/work_file.hpp), and the runs are merged when
// read. Memory: the budget while adding, 64 KiB per run while reading; nothing is written to the
// disk when everything fits.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.hpp"
#include "core/integrity/work_file.hpp"

namespace snapkeep {

// The default memory budget of one sorter.
inline constexpr std::size_t k_sort_memory = 8u << 20;

class SortedRecords;

// Collects records, then hands them out in ascending byte order, as often as asked.
class ExternalSorter {
 public:
  // Sorts with at most `memory` bytes of records in memory; runs go to a work file in `work_dir`.
  explicit ExternalSorter(std::filesystem::path work_dir, std::size_t memory = k_sort_memory);
  ExternalSorter(ExternalSorter&&) noexcept;
  ExternalSorter& operator=(ExternalSorter&&) noexcept;
  ~ExternalSorter();

  // Adds one record (before finish()). Fails when a run cannot be written (a full destination).
  Status add(std::string_view record);
  // Ends adding: sorts what is in memory, or writes it as the last run and merges runs down to a
  // number that can be read at once. Fails like add().
  Status finish();
  // Streams every record in ascending order (after finish(); any number of times). The sorter must
  // outlive the stream.
  Result<SortedRecords> stream() const;
  // Records added.
  std::uint64_t records() const { return m_records; }
  // Whether runs were written to the disk.
  bool spilled() const { return !m_runs.empty(); }

 private:
  friend class SortedRecords;
  struct Run {
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
  };
  void sort_in_memory();
  Status spill();
  Status merge_down();

  std::filesystem::path m_work_dir;
  std::size_t m_memory;
  // A record in memory: where it starts in m_arena, and its first 8 bytes as a number, which
  // decide most comparisons without touching the arena.
  struct Slot {
    std::uint64_t prefix = 0;
    std::uint32_t offset = 0;
  };
  std::string m_arena;               // records in memory, each a 4-byte length then its bytes
  std::vector<Slot> m_slots;         // one per record in m_arena
  std::unique_ptr<WorkFile> m_file;  // the runs
  std::vector<Run> m_runs;
  std::uint64_t m_records = 0;
  bool m_finished = false;
};

// One pass over a sorter's records in ascending order.
class SortedRecords {
 public:
  SortedRecords(SortedRecords&&) noexcept;
  SortedRecords& operator=(SortedRecords&&) noexcept;
  ~SortedRecords();

  // The next record, valid until the next call; false after the last. Fails on a read error of
  // the work file.
  Result<bool> next(std::string_view& record);

 private:
  friend class ExternalSorter;
  class RunReader;
  explicit SortedRecords(const ExternalSorter& sorter);
  // Reads runs [first_run, first_run + runs) of the sorter (none when it holds its records in memory).
  Status start(std::size_t first_run, std::size_t runs);
  static bool after(const RunReader* a, const RunReader* b);

  const ExternalSorter* m_sorter;
  bool m_in_memory = false;
  std::size_t m_next = 0;                             // in memory: the next offset
  std::vector<std::unique_ptr<RunReader>> m_readers;  // merging: one per run
  std::vector<RunReader*> m_heap;                     // readers holding a record, smallest first
  RunReader* m_last = nullptr;                        // the reader whose record was handed out
};

}  // namespace snapkeep
