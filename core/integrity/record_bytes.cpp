#include "core/integrity/record_bytes.hpp"

namespace snapkeep {
namespace {

constexpr std::uint8_t k_hex_packed = 0;
constexpr std::uint8_t k_hex_text = 1;

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

}  // namespace

void RecordBuilder::hex(std::string_view digits) {
  char packed[256];
  bool packable = digits.size() % 2 == 0 && digits.size() / 2 < sizeof packed;
  for (std::size_t i = 0; packable && i < digits.size(); i += 2) {
    int high = hex_value(digits[i]);
    int low = hex_value(digits[i + 1]);
    packable = high >= 0 && low >= 0;
    packed[i / 2] = static_cast<char>(high << 4 | low);
  }
  if (!packable) {
    u8(k_hex_text);
    bytes(digits);
    return;
  }
  u8(k_hex_packed);
  u8(static_cast<std::uint8_t>(digits.size() / 2));
  m_bytes.append(packed, digits.size() / 2);
}

std::string RecordParser::hex() {
  static constexpr char k_digits[] = "0123456789abcdef";
  if (u8() == k_hex_text) {
    return std::string(bytes());
  }
  std::size_t size = u8();
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    std::uint8_t byte = u8();
    out += k_digits[byte >> 4];
    out += k_digits[byte & 0xf];
  }
  return out;
}

}  // namespace snapkeep
