// Fuzzes server/url.cpp: percent_decode, parse_query, find_param, split_target.
//
// The whole input is used three ways: as a request target, as a query string, and as bytes to
// encode and decode back.
//
// Invariants:
//   - percent_decode succeeds exactly when every '%' starts a %XX escape; the result has the
//     bytes of a reference decoder; it is never longer than its input
//   - percent_decode(encode(x)) == x for any bytes x (encode escapes all but unreserved)
//   - parse_query succeeds exactly when every non-empty '&'-part decodes (key before the
//     first '=', value after it); the params are those parts, in order, empties skipped
//   - re-encoding the params and parsing again gives the same params
//   - find_param returns the first value of a key, or null when absent
//   - split_target: path + "?" + query gives back the target, and the path has no '?'
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "server/url.hpp"

using herald::fuzz::escaped;

namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A second, independent decoder to compare with.
std::optional<std::string> reference_decode(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '%') {
      if (s.size() - i < 3 || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0) return std::nullopt;
      out.push_back(static_cast<char>(hex(s[i + 1]) << 4 | hex(s[i + 2])));
      i += 3;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
      ++i;
    }
  }
  return out;
}

std::string encode(std::string_view s) {
  static const char digits[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '-' || u == '_' ||
        u == '.' || u == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(digits[u >> 4]);
      out.push_back(digits[u & 15]);
    }
  }
  return out;
}

std::optional<herald::QueryParams> reference_query(std::string_view q) {
  herald::QueryParams out;
  std::size_t start = 0;
  while (start <= q.size()) {
    std::size_t amp = q.find('&', start);
    std::string_view part = q.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    if (!part.empty()) {
      std::size_t eq = part.find('=');
      auto k = reference_decode(part.substr(0, eq));
      auto v = reference_decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
      if (!k || !v) return std::nullopt;
      out.emplace_back(*k, *v);
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return out;
}

std::string show(const herald::QueryParams& params) {
  std::string out;
  for (const auto& [k, v] : params) out += "[" + escaped(k) + "]=[" + escaped(v) + "] ";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  // percent_decode against the reference.
  auto decoded = herald::percent_decode(input);
  auto expected = reference_decode(input);
  FUZZ_CHECK(decoded.has_value() == expected.has_value(), "percent_decode('" + escaped(input) + "') success differs");
  if (decoded) {
    FUZZ_CHECK(*decoded == *expected, "percent_decode('" + escaped(input) + "') = '" + escaped(*decoded) + "'");
    FUZZ_CHECK(decoded->size() <= input.size());
  }
  if (input.find('%') == std::string_view::npos) FUZZ_CHECK(decoded.has_value());

  // Any bytes survive an encode/decode round trip.
  auto round = herald::percent_decode(encode(input));
  FUZZ_CHECK(round && *round == input, "round trip of '" + escaped(input) + "'");

  // parse_query against the reference, then a round trip of its params.
  auto params = herald::parse_query(input);
  auto ref = reference_query(input);
  FUZZ_CHECK(params.has_value() == ref.has_value(), "parse_query('" + escaped(input) + "') success differs");
  if (params) {
    FUZZ_CHECK(*params == *ref, "parse_query('" + escaped(input) + "') = " + show(*params) + " expected " + show(*ref));
    std::string rebuilt;
    for (const auto& [k, v] : *params) rebuilt += (rebuilt.empty() ? "" : "&") + encode(k) + "=" + encode(v);
    auto again = herald::parse_query(rebuilt);
    // "=v" with an empty key rebuilds as "=v", which parses back the same; nothing is lost.
    FUZZ_CHECK(again && *again == *params, "re-parsed params differ for '" + escaped(rebuilt) + "'");

    // find_param: the first value of each key; absent keys give null.
    for (const auto& [k, v] : *params) {
      const std::string* found = herald::find_param(*params, k);
      FUZZ_CHECK(found != nullptr);
      for (const auto& [k2, v2] : *params)
        if (k2 == k) {
          FUZZ_CHECK(found == &v2, "find_param('" + escaped(k) + "') is not the first");
          break;
        }
    }
    std::string absent = "\x01" "absent";
    bool present = false;
    for (const auto& [k, v] : *params) present |= k == absent;
    if (!present) FUZZ_CHECK(herald::find_param(*params, absent) == nullptr);
  }

  // split_target puts the target back together.
  auto [path, query] = herald::split_target(input);
  FUZZ_CHECK(path.find('?') == std::string_view::npos);
  FUZZ_CHECK(path.data() == input.data());
  if (path.size() == input.size()) {
    FUZZ_CHECK(query.empty());
  } else {
    FUZZ_CHECK(std::string(path) + "?" + std::string(query) == input, "split_target('" + escaped(input) + "')");
  }
  return 0;
}
