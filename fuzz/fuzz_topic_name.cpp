// Fuzzes valid_topic_name (broker/topic_name.cpp).
//
// Invariants:
//   - it agrees with an independent reference: 1 to 256 bytes, no byte 0x00-0x20 or 0x7F,
//     well-formed UTF-8 per the Unicode table of well-formed byte sequences (no overlongs,
//     surrogates, values past U+10FFFF, stray continuation bytes or truncated sequences)
//   - a valid name dumps as JSON with the strict handler (Herald writes topics into
//     /stats, the truncated notice and logs) and parses back to the same bytes
//   - every prefix of a valid name cut at a character boundary is valid too
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "broker/topic_name.hpp"
#include "fuzz_common.hpp"

using herald::fuzz::escaped;

namespace {

// Unicode 15, table 3-7: the well-formed UTF-8 byte sequences.
bool reference_utf8(std::string_view s, std::vector<std::size_t>* boundaries) {
  auto in = [](unsigned char c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
  std::size_t i = 0;
  while (i < s.size()) {
    if (boundaries) boundaries->push_back(i);
    auto b = [&](std::size_t k) -> unsigned char { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
    unsigned char c = b(0);
    std::size_t n;
    if (c <= 0x7f) n = 1;
    else if (in(c, 0xc2, 0xdf)) n = in(b(1), 0x80, 0xbf) ? 2 : 0;
    else if (c == 0xe0) n = in(b(1), 0xa0, 0xbf) && in(b(2), 0x80, 0xbf) ? 3 : 0;
    else if (in(c, 0xe1, 0xec) || in(c, 0xee, 0xef)) n = in(b(1), 0x80, 0xbf) && in(b(2), 0x80, 0xbf) ? 3 : 0;
    else if (c == 0xed) n = in(b(1), 0x80, 0x9f) && in(b(2), 0x80, 0xbf) ? 3 : 0;
    else if (c == 0xf0) n = in(b(1), 0x90, 0xbf) && in(b(2), 0x80, 0xbf) && in(b(3), 0x80, 0xbf) ? 4 : 0;
    else if (in(c, 0xf1, 0xf3)) n = in(b(1), 0x80, 0xbf) && in(b(2), 0x80, 0xbf) && in(b(3), 0x80, 0xbf) ? 4 : 0;
    else if (c == 0xf4) n = in(b(1), 0x80, 0x8f) && in(b(2), 0x80, 0xbf) && in(b(3), 0x80, 0xbf) ? 4 : 0;
    else n = 0;
    if (n == 0 || i + n > s.size()) return false;
    i += n;
  }
  if (boundaries) boundaries->push_back(s.size());
  return true;
}

bool reference_valid(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return reference_utf8(s, nullptr);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view name(reinterpret_cast<const char*>(data), size);
  bool valid = herald::valid_topic_name(name);
  FUZZ_CHECK(valid == reference_valid(name),
             std::string("valid_topic_name('") + escaped(name) + "') = " + (valid ? "true" : "false"));
  if (!valid) return 0;

  std::string dumped;
  try {
    dumped = nlohmann::json(std::string(name)).dump();
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "valid topic '" + escaped(name) + "' does not dump as JSON: " + e.what());
  }
  FUZZ_CHECK(nlohmann::json::parse(dumped).get<std::string>() == name);

  std::vector<std::size_t> boundaries;
  FUZZ_CHECK(reference_utf8(name, &boundaries));
  for (std::size_t cut : boundaries)
    if (cut > 0) FUZZ_CHECK(herald::valid_topic_name(name.substr(0, cut)), "prefix of length " + std::to_string(cut));
  return 0;
}
