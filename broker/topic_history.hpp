#pragma once
#include <cstdint>
#include <deque>
#include <vector>

#include "broker/event.hpp"

namespace herald {

/// The recent events of one topic, oldest first: a ring bounded by count and, optionally,
/// by age. It remembers the newest id it ever dropped (its "floor"), so it can tell whether
/// it still holds everything after a client's Last-Event-ID. Not thread-safe: the Broker
/// guards it.
class TopicHistory {
 public:
  /// `floor`: ids up to this one are unknown to this history (for example, from before the
  /// server started). `max_age` of zero means no age limit.
  TopicHistory(std::size_t capacity, Clock::duration max_age, std::uint64_t floor);

  void append(EventPtr event);

  /// Drops events published before `now - max_age`.
  void expire(Clock::time_point now);

  /// Appends the retained events with id > `after` to `out`, oldest first. Returns false
  /// when history no longer reaches back to `after` (some later event was dropped).
  bool collect_after(std::uint64_t after, std::vector<EventPtr>& out) const;

  std::uint64_t floor() const { return floor_; }
  std::uint64_t last_id() const { return events_.empty() ? floor_ : events_.back()->id; }
  std::size_t size() const { return events_.size(); }

 private:
  void drop_oldest();

  std::size_t capacity_;
  Clock::duration max_age_;
  std::uint64_t floor_;
  std::deque<EventPtr> events_;
};

}  // namespace herald
