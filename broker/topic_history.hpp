#pragma once
#include <cstdint>
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
  std::uint64_t last_id() const { return count_ == 0 ? floor_ : at(count_ - 1)->id; }
  std::size_t size() const { return count_; }

 private:
  // A ring over `slots_`, grown on demand up to the capacity: a topic that never holds many
  // events never pays for the full ring, and an empty one allocates nothing.
  const EventPtr& at(std::size_t i) const { return slots_[(head_ + i) % slots_.size()]; }
  void drop_oldest();
  void grow();

  std::size_t capacity_;
  Clock::duration max_age_;
  std::uint64_t floor_;
  std::vector<EventPtr> slots_;
  std::size_t head_ = 0;   ///< slot of the oldest event
  std::size_t count_ = 0;  ///< events held
};

}  // namespace herald
