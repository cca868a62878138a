#pragma once
// Compact binary records for external sorting: numbers are written big-endian (signed ones with the
// sign bit flipped), so comparing two records byte by byte orders them by their fields in the
// order written. Strings that sort are ended by a NUL byte (paths hold none); others are
// length-prefixed. Reading past the end of a record yields zeros and marks the reader bad.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace snapkeep {

// Builds one record.
class RecordBuilder {
 public:
  // Starts a new record, keeping the buffer's capacity.
  void clear() { m_bytes.clear(); }
  void u8(std::uint8_t value) { m_bytes.push_back(static_cast<char>(value)); }
  void u32(std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) {
      u8(static_cast<std::uint8_t>(value >> shift));
    }
  }
  void u64(std::uint64_t value) {
    for (int shift = 56; shift >= 0; shift -= 8) {
      u8(static_cast<std::uint8_t>(value >> shift));
    }
  }
  // A signed number, ordered correctly among negative and positive values.
  void i64(std::int64_t value) { u64(static_cast<std::uint64_t>(value) ^ (std::uint64_t{1} << 63)); }
  // An unsigned number in as few bytes as it needs (a byte count, then big-endian bytes): small
  // numbers take little room, and the order of unsigned values is kept.
  void var(std::uint64_t value) {
    std::uint8_t size = 0;
    for (std::uint64_t rest = value; rest != 0; rest >>= 8) {
      ++size;
    }
    u8(size);
    for (int shift = 8 * (size - 1); shift >= 0; shift -= 8) {
      u8(static_cast<std::uint8_t>(value >> shift));
    }
  }
  // A signed number as var() of its zigzag form: compact near zero; equal values give equal bytes,
  // but the order is not the numbers' order.
  void zigzag(std::int64_t value) {
    var((static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63));
  }
  // Text that takes part in the order: its bytes then NUL (it must hold no NUL).
  void ordered_text(std::string_view text) {
    m_bytes.append(text);
    m_bytes.push_back('\0');
  }
  // Any bytes, length-prefixed (up to 4 GiB).
  void bytes(std::string_view data) {
    u32(static_cast<std::uint32_t>(data.size()));
    m_bytes.append(data);
  }
  // Lower-case hex digits stored as bytes (half the size); an odd digit count or a non-hex digit
  // cannot come from a checked manifest and is stored as text instead, marked by the first byte.
  void hex(std::string_view digits);

  std::string_view view() const { return m_bytes; }

 private:
  std::string m_bytes;
};

// Reads a record field by field, in the order it was built.
class RecordParser {
 public:
  explicit RecordParser(std::string_view record) : m_rest(record) {}
  std::uint8_t u8() {
    if (m_rest.empty()) {
      m_bad = true;
      return 0;
    }
    auto value = static_cast<std::uint8_t>(m_rest.front());
    m_rest.remove_prefix(1);
    return value;
  }
  std::uint32_t u32() {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      value = (value << 8) | u8();
    }
    return value;
  }
  std::uint64_t u64() {
    std::uint64_t value = 0;
    for (int i = 0; i < 8; ++i) {
      value = (value << 8) | u8();
    }
    return value;
  }
  std::int64_t i64() { return static_cast<std::int64_t>(u64() ^ (std::uint64_t{1} << 63)); }
  std::uint64_t var() {
    std::uint8_t size = u8();
    if (size > 8) {
      m_bad = true;
      return 0;
    }
    std::uint64_t value = 0;
    for (std::uint8_t i = 0; i < size; ++i) {
      value = (value << 8) | u8();
    }
    return value;
  }
  std::int64_t zigzag() {
    std::uint64_t value = var();
    return static_cast<std::int64_t>((value >> 1) ^ (~(value & 1) + 1));
  }
  std::string_view ordered_text() {
    std::size_t end = m_rest.find('\0');
    if (end == std::string_view::npos) {
      m_bad = true;
      end = m_rest.size();
    }
    std::string_view text = m_rest.substr(0, end);
    m_rest.remove_prefix(end == m_rest.size() ? end : end + 1);
    return text;
  }
  std::string_view bytes() {
    std::uint32_t size = u32();
    if (size > m_rest.size()) {
      m_bad = true;
      size = static_cast<std::uint32_t>(m_rest.size());
    }
    std::string_view data = m_rest.substr(0, size);
    m_rest.remove_prefix(size);
    return data;
  }
  // What RecordBuilder::hex stored, as lower-case hex again.
  std::string hex();
  // Skips `size` bytes (a sort key that is not needed).
  void skip(std::size_t size) {
    if (size > m_rest.size()) {
      m_bad = true;
      size = m_rest.size();
    }
    m_rest.remove_prefix(size);
  }
  // What is left of the record.
  std::string_view rest() const { return m_rest; }
  // Whether a read ran past the record's end.
  bool bad() const { return m_bad; }

 private:
  std::string_view m_rest;
  bool m_bad = false;
};

}  // namespace snapkeep
