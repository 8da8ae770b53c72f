// Shared helpers for the libFuzzer targets in fuzz/.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace herald::fuzz {

/// The bytes of `s` with everything but printable ASCII escaped, for failure messages.
inline std::string escaped(std::string_view s, std::size_t max = 512) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\\') out += "\\\\";
    else if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n";
    else if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

/// True when `name` is listed in HERALD_FUZZ_KNOWN (comma separated): a known, still open
/// finding whose invariant the targets step over, so fuzzing can look for others meanwhile.
/// Unset (the default), every invariant is checked and the saved crash-* inputs reproduce.
inline bool known(std::string_view name) {
  static const std::string list = [] {
    const char* v = std::getenv("HERALD_FUZZ_KNOWN");
    return v ? "," + std::string(v) + "," : std::string();
  }();
  return list.find("," + std::string(name) + ",") != std::string::npos;
}

[[noreturn]] inline void broken(const char* what, const char* file, int line, const std::string& detail) {
  std::fprintf(stderr, "\n*** broken invariant: %s\n    at %s:%d\n", what, file, line);
  if (!detail.empty()) std::fprintf(stderr, "    %s\n", detail.c_str());
  std::fflush(stderr);
  __builtin_trap();
}

}  // namespace herald::fuzz

/// Traps (a crash libFuzzer saves) when `cond` is false; the optional detail is a std::string.
#define FUZZ_CHECK(cond, ...)                                                                    \
  do {                                                                                           \
    if (!(cond)) ::herald::fuzz::broken(#cond, __FILE__, __LINE__, std::string{__VA_ARGS__});   \
  } while (0)
