#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/network_list.hpp"

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
  IpAddress peer{};  ///< the connection's remote address (all zeros: unknown)

  /// The first header called `name` (lower case), if any.
  const std::string* header(std::string_view name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return &v;
    return nullptr;
  }
  /// A proxy relayed it: the peer is the proxy, not the client.
  bool forwarded() const { return header("forwarded") || header("x-forwarded-for") || header("x-real-ip"); }
  bool http10() const { return version_major == 1 && version_minor == 0; }
};

}  // namespace herald
