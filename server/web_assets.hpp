#pragma once
#include <string_view>

namespace herald {

/// A file of web/, compiled into the binary (see cmake/embed_web.cmake).
struct WebAsset {
  std::string_view path;  ///< "/index.html"
  std::string_view content_type;
  std::string_view body;
};

/// The asset served at `path` ("/" is "/index.html"), or null.
const WebAsset* find_web_asset(std::string_view path);

}  // namespace herald
