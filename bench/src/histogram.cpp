#include "histogram.hpp"

#include <algorithm>
#include <cmath>

namespace bench {

int Histogram::index(std::uint64_t v) {
  if (v < static_cast<std::uint64_t>(linear)) return static_cast<int>(v);
  int e = 63 - __builtin_clzll(v);  // >= 7
  int mantissa = static_cast<int>(v >> (e - 6)) - sub;  // 0..63
  return std::min(linear + (e - 7) * sub + mantissa, buckets - 1);
}

std::int64_t Histogram::midpoint(int i) {
  if (i < linear) return i;
  int e = (i - linear) / sub + 7;
  int mantissa = (i - linear) % sub;
  std::int64_t low = static_cast<std::int64_t>(sub + mantissa) << (e - 6);
  std::int64_t width = std::int64_t{1} << (e - 6);
  return low + width / 2;
}

void Histogram::record(std::int64_t value_ns) {
  std::uint64_t v = value_ns < 0 ? 0 : static_cast<std::uint64_t>(value_ns);
  ++counts_[static_cast<std::size_t>(index(v))];
  ++count_;
  min_ = std::min<std::int64_t>(min_, static_cast<std::int64_t>(v));
  max_ = std::max<std::int64_t>(max_, static_cast<std::int64_t>(v));
  sum_ += static_cast<double>(v);
}

std::int64_t Histogram::quantile(double q) const {
  if (count_ == 0) return 0;
  auto rank = static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_)));
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (int i = 0; i < buckets; ++i) {
    seen += counts_[static_cast<std::size_t>(i)];
    if (seen >= rank) return std::clamp(midpoint(i), min(), max_);
  }
  return max_;
}

void Histogram::clear() { *this = Histogram{}; }

}  // namespace bench
