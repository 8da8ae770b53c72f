#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

/// Decodes %XX escapes and '+' as space (the application/x-www-form-urlencoded rules, which
/// query strings follow too). Returns nothing for a malformed escape.
std::optional<std::string> percent_decode(std::string_view text);

/// Parses "a=1&b=2&a=3" in order, keeping repeats. Returns nothing if any part is malformed.
std::optional<QueryParams> parse_query(std::string_view query);

/// The first value of `key`, if present.
const std::string* find_param(const QueryParams& params, std::string_view key);

/// Splits a request target into its path and query (without the '?').
std::pair<std::string_view, std::string_view> split_target(std::string_view target);

}  // namespace herald
