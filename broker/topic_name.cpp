#include "broker/topic_name.hpp"

#include "broker/utf8.hpp"

namespace herald {

bool valid_topic_name(std::string_view name) {
  if (name.empty() || name.size() > max_topic_length) return false;
  for (std::size_t i = 0; i < name.size();) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (c <= 0x20 || c == 0x7f) return false;
    std::size_t len = utf8_sequence_length(name, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

}  // namespace herald
