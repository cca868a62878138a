#include "core/integrity/external_sort.hpp"

#include <algorithm>
#include <cstring>

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr std::size_t k_length_bytes = 4;
constexpr std::size_t k_read_buffer = 64u << 10;
constexpr std::size_t k_write_buffer = 1u << 20;
constexpr std::size_t k_max_fan_in = 64;  // runs read at once

std::uint32_t load_length(const char* at) {
  std::uint32_t length = 0;
  std::memcpy(&length, at, k_length_bytes);
  return length;
}

std::string_view record_at(const std::string& arena, std::uint32_t offset) {
  return std::string_view(arena.data() + offset + k_length_bytes, load_length(arena.data() + offset));
}

// The first 8 bytes of a record as a big-endian number (zeros past a shorter record's end).
std::uint64_t prefix_of(std::string_view record) {
  std::uint64_t prefix = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    prefix = prefix << 8 | (i < record.size() ? static_cast<unsigned char>(record[i]) : 0u);
  }
  return prefix;
}

// Writes length-prefixed records to a work file through a buffer.
class RunWriter {
 public:
  explicit RunWriter(WorkFile& file) : m_file(file) { m_buffer.reserve(k_write_buffer); }
  Status add(std::string_view record) {
    auto length = static_cast<std::uint32_t>(record.size());
    char prefix[k_length_bytes];
    std::memcpy(prefix, &length, k_length_bytes);
    if (m_buffer.size() + k_length_bytes + record.size() > k_write_buffer) {
      SNAPKEEP_TRY(flush());
    }
    m_buffer.append(prefix, k_length_bytes);
    m_buffer.append(record);
    return {};
  }
  Status flush() {
    SNAPKEEP_TRY(m_file.append(m_buffer.data(), m_buffer.size()));
    m_buffer.clear();
    return {};
  }

 private:
  WorkFile& m_file;
  std::string m_buffer;
};

}  // namespace

// Reads the records of one run, buffered.
class SortedRecords::RunReader {
 public:
  RunReader(const WorkFile& file, std::uint64_t begin, std::uint64_t end) : m_file(file), m_pos(begin), m_end(end) {
    m_buffer.resize(k_read_buffer);
  }
  // Moves to the next record of the run; false at its end.
  Result<bool> advance() {
    SNAPKEEP_TRY_ASSIGN(bool more, ensure(k_length_bytes));
    if (!more) {
      return false;
    }
    std::uint32_t length = load_length(m_buffer.data() + m_head);
    SNAPKEEP_TRY_ASSIGN(bool whole, ensure(k_length_bytes + length));
    if (!whole) {
      return runtime_error("a sort run ended inside a record");
    }
    current = std::string_view(m_buffer.data() + m_head + k_length_bytes, length);
    m_head += k_length_bytes + length;
    return true;
  }
  std::string_view current;

 private:
  // Makes `size` bytes available at m_head; false when the run ends first (cleanly, with none).
  Result<bool> ensure(std::size_t size) {
    if (m_tail - m_head >= size) {
      return true;
    }
    std::memmove(m_buffer.data(), m_buffer.data() + m_head, m_tail - m_head);
    m_tail -= m_head;
    m_head = 0;
    if (m_buffer.size() < size) {
      m_buffer.resize(size);
    }
    while (m_tail < size && m_pos < m_end) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(m_buffer.size() - m_tail, m_end - m_pos));
      SNAPKEEP_TRY_ASSIGN(std::size_t got, m_file.read_at(m_pos, m_buffer.data() + m_tail, want));
      if (got == 0) {
        return runtime_error("a sort run is shorter than written");
      }
      m_pos += got;
      m_tail += got;
    }
    if (m_tail >= size) {
      return true;
    }
    if (m_tail == 0) {
      return false;
    }
    return runtime_error("a sort run ended inside a record");
  }

  const WorkFile& m_file;
  std::uint64_t m_pos;
  std::uint64_t m_end;
  std::string m_buffer;
  std::size_t m_head = 0;
  std::size_t m_tail = 0;
};

ExternalSorter::ExternalSorter(fs::path work_dir, std::size_t memory)
    : m_work_dir(std::move(work_dir)), m_memory(std::max<std::size_t>(memory, 4096)) {}
ExternalSorter::ExternalSorter(ExternalSorter&&) noexcept = default;
ExternalSorter& ExternalSorter::operator=(ExternalSorter&&) noexcept = default;
ExternalSorter::~ExternalSorter() = default;

Status ExternalSorter::add(std::string_view record) {
  std::size_t need = k_length_bytes + record.size() + sizeof(Slot);
  if (!m_slots.empty() && m_arena.size() + m_slots.size() * sizeof(Slot) + need > m_memory) {
    SNAPKEEP_TRY(spill());
  }
  if (m_arena.capacity() == 0) {
    m_arena.reserve(m_memory);  // untouched pages cost no memory
  }
  auto length = static_cast<std::uint32_t>(record.size());
  m_slots.push_back(Slot{prefix_of(record), static_cast<std::uint32_t>(m_arena.size())});
  m_arena.append(reinterpret_cast<const char*>(&length), k_length_bytes);
  m_arena.append(record);
  ++m_records;
  return {};
}

void ExternalSorter::sort_in_memory() {
  std::sort(m_slots.begin(), m_slots.end(), [&](const Slot& a, const Slot& b) {
    if (a.prefix != b.prefix) {
      return a.prefix < b.prefix;
    }
    return record_at(m_arena, a.offset) < record_at(m_arena, b.offset);
  });
}

Status ExternalSorter::spill() {
  sort_in_memory();
  if (!m_file) {
    SNAPKEEP_TRY_ASSIGN(WorkFile file, WorkFile::create(m_work_dir));
    m_file = std::make_unique<WorkFile>(std::move(file));
  }
  Run run;
  run.begin = m_file->size();
  RunWriter writer(*m_file);
  for (const Slot& slot : m_slots) {
    SNAPKEEP_TRY(writer.add(record_at(m_arena, slot.offset)));
  }
  SNAPKEEP_TRY(writer.flush());
  run.end = m_file->size();
  m_runs.push_back(run);
  m_arena.clear();
  m_slots.clear();
  return {};
}

Status ExternalSorter::finish() {
  if (m_finished) {
    return {};
  }
  m_finished = true;
  if (m_runs.empty()) {
    sort_in_memory();
    return {};
  }
  if (!m_slots.empty()) {
    SNAPKEEP_TRY(spill());
  }
  std::string().swap(m_arena);
  std::vector<Slot>().swap(m_slots);
  return merge_down();
}

Status ExternalSorter::merge_down() {
  while (m_runs.size() > k_max_fan_in) {
    SNAPKEEP_TRY_ASSIGN(WorkFile merged_file, WorkFile::create(m_work_dir));
    auto merged = std::make_unique<WorkFile>(std::move(merged_file));
    std::vector<Run> merged_runs;
    for (std::size_t first = 0; first < m_runs.size(); first += k_max_fan_in) {
      std::size_t count = std::min(k_max_fan_in, m_runs.size() - first);
      SortedRecords records(*this);
      SNAPKEEP_TRY(records.start(first, count));
      Run run;
      run.begin = merged->size();
      RunWriter writer(*merged);
      std::string_view record;
      for (;;) {
        SNAPKEEP_TRY_ASSIGN(bool more, records.next(record));
        if (!more) {
          break;
        }
        SNAPKEEP_TRY(writer.add(record));
      }
      SNAPKEEP_TRY(writer.flush());
      run.end = merged->size();
      merged_runs.push_back(run);
    }
    m_file = std::move(merged);
    m_runs = std::move(merged_runs);
  }
  return {};
}

Result<SortedRecords> ExternalSorter::stream() const {
  if (!m_finished) {
    return runtime_error("internal error: a sorter was read before it was finished");
  }
  SortedRecords records(*this);
  SNAPKEEP_TRY(records.start(0, m_runs.size()));
  return records;
}

SortedRecords::SortedRecords(const ExternalSorter& sorter) : m_sorter(&sorter), m_in_memory(sorter.m_runs.empty()) {}
SortedRecords::SortedRecords(SortedRecords&&) noexcept = default;
SortedRecords& SortedRecords::operator=(SortedRecords&&) noexcept = default;
SortedRecords::~SortedRecords() = default;

bool SortedRecords::after(const RunReader* a, const RunReader* b) {
  return a->current > b->current;
}

Status SortedRecords::start(std::size_t first_run, std::size_t runs) {
  for (std::size_t i = first_run; i < first_run + runs; ++i) {
    const ExternalSorter::Run& run = m_sorter->m_runs[i];
    auto reader = std::make_unique<RunReader>(*m_sorter->m_file, run.begin, run.end);
    SNAPKEEP_TRY_ASSIGN(bool any, reader->advance());
    if (any) {
      m_heap.push_back(reader.get());
    }
    m_readers.push_back(std::move(reader));
  }
  std::make_heap(m_heap.begin(), m_heap.end(), after);
  return {};
}

Result<bool> SortedRecords::next(std::string_view& record) {
  if (m_in_memory) {
    if (m_next == m_sorter->m_slots.size()) {
      return false;
    }
    record = record_at(m_sorter->m_arena, m_sorter->m_slots[m_next++].offset);
    return true;
  }
  if (m_last != nullptr) {
    // The record handed out last is done with: move its reader on.
    SNAPKEEP_TRY_ASSIGN(bool more, m_last->advance());
    if (more) {
      m_heap.push_back(m_last);
      std::push_heap(m_heap.begin(), m_heap.end(), after);
    }
    m_last = nullptr;
  }
  if (m_heap.empty()) {
    return false;
  }
  std::pop_heap(m_heap.begin(), m_heap.end(), after);
  m_last = m_heap.back();
  m_heap.pop_back();
  record = m_last->current;
  return true;
}

}  // namespace snapkeep
