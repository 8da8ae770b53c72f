#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald {

/// One parsed HTTP/1.x request. Header names are lower-cased.
struct HttpRequest {
  std::string method;
  std::string target;
  int version_major = 1;
  int version_minor = 1;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool keep_alive = true;

  /// The first header called `name` (lower case), if any.
  const std::string* header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return &v;
    return nullptr;
  }
  bool http10() const { return version_major == 1 && version_minor == 0; }
};

}  // namespace herald
