#include "broker/topic_history.hpp"

#include <algorithm>

namespace herald {

TopicHistory::TopicHistory(std::size_t capacity, Clock::duration max_age, std::uint64_t floor)
    : capacity_(capacity), max_age_(max_age), floor_(floor) {}

void TopicHistory::append(EventPtr event) {
  events_.push_back(std::move(event));
  while (events_.size() > capacity_) drop_oldest();
}

void TopicHistory::expire(Clock::time_point now) {
  if (max_age_ == Clock::duration::zero()) return;
  while (!events_.empty() && now - events_.front()->published > max_age_) drop_oldest();
}

bool TopicHistory::collect_after(std::uint64_t after, std::vector<EventPtr>& out) const {
  auto first = std::upper_bound(events_.begin(), events_.end(), after,
                                [](std::uint64_t id, const EventPtr& e) { return id < e->id; });
  out.insert(out.end(), first, events_.end());
  return after >= floor_;
}

void TopicHistory::drop_oldest() {
  floor_ = events_.front()->id;
  events_.pop_front();
}

}  // namespace herald
