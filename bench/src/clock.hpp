// Monotonic time in nanoseconds: the clock publishers stamp into events and subscribers
// read on arrival (one process, so both ends share it).
#pragma once
#include <cstdint>
#include <ctime>

namespace bench {

inline std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

constexpr std::int64_t ms_to_ns(double ms) { return static_cast<std::int64_t>(ms * 1e6); }
constexpr std::int64_t s_to_ns(double s) { return static_cast<std::int64_t>(s * 1e9); }
constexpr double ns_to_s(std::int64_t ns) { return static_cast<double>(ns) / 1e9; }
constexpr double ns_to_ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace bench
