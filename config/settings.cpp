#include "config/settings.hpp"

#include <charconv>
#include <thread>

namespace herald {

unsigned Settings::effective_threads() const {
  if (threads != 0) return threads;
  unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : cores;
}

namespace {

// Splits "15s" into 15 and "s"; throws on no digits or overflow.
std::pair<std::uint64_t, std::string_view> split_number(std::string_view text) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data()) throw std::invalid_argument("not a number");
  return {n, text.substr(end - text.data())};
}

std::uint64_t checked_multiply(std::uint64_t n, std::uint64_t factor) {
  if (factor != 0 && n > UINT64_MAX / factor / 2) throw std::invalid_argument("too large");
  return n * factor;
}

}  // namespace

Millis parse_duration(std::string_view text) {
  auto [n, unit] = split_number(text);
  std::uint64_t factor;
  if (unit == "ms") factor = 1;
  else if (unit == "s" || unit.empty()) factor = 1000;
  else if (unit == "m") factor = 60'000;
  else if (unit == "h") factor = 3'600'000;
  else throw std::invalid_argument("unknown unit (use ms, s, m or h)");
  return Millis(checked_multiply(n, factor));
}

std::string format_duration(Millis value) {
  auto ms = value.count();
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  return std::to_string(ms / 1000) + "s";
}

std::size_t parse_size(std::string_view text) {
  auto [n, unit] = split_number(text);
  std::uint64_t factor;
  if (unit.empty() || unit == "b" || unit == "B") factor = 1;
  else if (unit == "k" || unit == "K" || unit == "KB" || unit == "KiB") factor = 1024;
  else if (unit == "m" || unit == "M" || unit == "MB" || unit == "MiB") factor = 1024 * 1024;
  else throw std::invalid_argument("unknown unit (use k or m)");
  return checked_multiply(n, factor);
}

}  // namespace herald
