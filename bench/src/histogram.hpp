// A log-linear latency histogram: exact below 128 ns, then 64 buckets per power of two
// (under 1.6% error), so tens of millions of samples cost a fixed 30 KB.
#pragma once
#include <array>
#include <cstdint>

namespace bench {

class Histogram {
 public:
  void record(std::int64_t value_ns);
  std::uint64_t count() const { return count_; }
  std::int64_t min() const { return count_ ? min_ : 0; }
  std::int64_t max() const { return max_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }
  /// The value at quantile q (0..1): the midpoint of the bucket holding that rank, capped at max.
  std::int64_t quantile(double q) const;
  void clear();

 private:
  static constexpr int linear = 128;
  static constexpr int sub = 64;
  static constexpr int buckets = linear + (63 - 7) * sub;
  static int index(std::uint64_t v);
  static std::int64_t midpoint(int index);

  std::array<std::uint64_t, buckets> counts_{};
  std::uint64_t count_ = 0;
  std::int64_t min_ = INT64_MAX;
  std::int64_t max_ = 0;
  double sum_ = 0;
};

}  // namespace bench
