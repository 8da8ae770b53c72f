// Just enough JSON output for results: objects of numbers, strings, booleans and nested
// objects or arrays, keys in insertion order.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bench {

class JsonObject {
 public:
  JsonObject& set(std::string_view key, double v) {
    char buf[64];
    if (!std::isfinite(v)) return raw(key, "null");
    if (v == std::floor(v) && std::fabs(v) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", v);
    else std::snprintf(buf, sizeof buf, "%.6g", v);
    return raw(key, buf);
  }
  JsonObject& set(std::string_view key, std::uint64_t v) { return raw(key, std::to_string(v)); }
  JsonObject& set(std::string_view key, std::int64_t v) { return raw(key, std::to_string(v)); }
  JsonObject& set(std::string_view key, int v) { return raw(key, std::to_string(v)); }
  JsonObject& set(std::string_view key, bool v) { return raw(key, v ? "true" : "false"); }
  JsonObject& set(std::string_view key, const char* v) { return set(key, std::string_view(v)); }
  JsonObject& set(std::string_view key, std::string_view v) { return raw(key, quote(v)); }
  JsonObject& set(std::string_view key, const std::string& v) { return raw(key, quote(v)); }
  JsonObject& set(std::string_view key, const JsonObject& v) { return raw(key, v.dump()); }
  JsonObject& set(std::string_view key, const std::vector<JsonObject>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i) out += ',';
      out += items[i].dump();
    }
    out += ']';
    return raw(key, out);
  }
  JsonObject& raw(std::string_view key, std::string value) {
    fields_.emplace_back(std::string(key), std::move(value));
    return *this;
  }

  std::string dump() const {
    std::string out = "{";
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      if (i) out += ',';
      out += quote(fields_[i].first);
      out += ':';
      out += fields_[i].second;
    }
    out += '}';
    return out;
  }

  static std::string quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += c;
      }
    }
    out += '"';
    return out;
  }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

}  // namespace bench
