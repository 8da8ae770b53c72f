#include "broker/topic_history.hpp"

#include <algorithm>

namespace herald {

TopicHistory::TopicHistory(std::size_t capacity, Clock::duration max_age, std::uint64_t floor)
    : capacity_(std::max<std::size_t>(capacity, 1)), max_age_(max_age), floor_(floor) {}

void TopicHistory::grow() {
  std::vector<EventPtr> bigger(std::min(capacity_, std::max<std::size_t>(8, slots_.size() * 2)));
  for (std::size_t i = 0; i < count_; ++i) bigger[i] = std::move(slots_[(head_ + i) % slots_.size()]);
  slots_ = std::move(bigger);
  head_ = 0;
}

void TopicHistory::append(EventPtr event) {
  if (count_ == capacity_) drop_oldest();
  if (count_ == slots_.size()) grow();
  slots_[(head_ + count_) % slots_.size()] = std::move(event);
  ++count_;
}

void TopicHistory::expire(Clock::time_point now) {
  if (max_age_ == Clock::duration::zero()) return;
  while (count_ > 0 && now - at(0)->published > max_age_) drop_oldest();
}

bool TopicHistory::collect_after(std::uint64_t after, std::vector<EventPtr>& out) const {
  // Ids increase along the ring: binary search for the first id > after.
  std::size_t lo = 0, hi = count_;
  while (lo < hi) {
    std::size_t mid = (lo + hi) / 2;
    if (at(mid)->id <= after) lo = mid + 1;
    else hi = mid;
  }
  for (std::size_t i = lo; i < count_; ++i) out.push_back(at(i));
  return after >= floor_;
}

void TopicHistory::drop_oldest() {
  EventPtr& oldest = slots_[head_];
  floor_ = oldest->id;
  oldest.reset();
  head_ = (head_ + 1) % slots_.size();
  --count_;
}

}  // namespace herald
