#include "broker/topic_name.hpp"

namespace herald {

bool valid_topic_name(std::string_view name) {
  if (name.empty() || name.size() > max_topic_length) return false;
  for (unsigned char c : name)
    if (c <= 0x20 || c == 0x7f) return false;
  return true;
}

}  // namespace herald
