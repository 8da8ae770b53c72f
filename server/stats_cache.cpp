#include "server/stats_cache.hpp"

#include "broker/sse_encoder.hpp"

namespace herald {

StatsCache::StatsCache(std::function<std::string()> compute) : compute_(std::move(compute)) {}

std::shared_ptr<const StatsCache::Entry> StatsCache::get(Clock::duration max_age, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (entry_ && started_at_ >= now - max_age) return entry_;
  auto started = std::max(now, Clock::now());
  auto entry = std::make_shared<Entry>();
  entry->json = compute_();
  auto frame = std::make_shared<Event>();
  frame->frame = sse::encode_control("stats", entry->json);
  entry->frame = std::move(frame);
  entry_ = std::move(entry);
  started_at_ = started;
  return entry_;
}

}  // namespace herald
