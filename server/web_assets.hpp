#pragma once
#include <string_view>

namespace herald {

/// web/index.html, compiled into the binary (see cmake/embed_web.cmake).
std::string_view web_index_html();

}  // namespace herald
