#pragma once
#include <cstddef>
#include <string_view>

namespace herald {

inline constexpr std::size_t max_topic_length = 256;

/// A topic name is 1 to 256 bytes of well-formed UTF-8 with no ASCII control character
/// and no space.
bool valid_topic_name(std::string_view name);

}  // namespace herald
