#pragma once
#include <mutex>
#include <vector>

#include "broker/event.hpp"

namespace herald {

/// Hands events from the publishing thread to one shard, in id order. The lock is held only
/// to append or to swap the vector out, never while delivering.
class Mailbox {
 public:
  /// Returns true when the mailbox was empty, i.e. the shard must be woken to drain it.
  bool push(EventPtr event) {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
    return events_.size() == 1;
  }

  /// Moves every waiting event into `out` (which should be empty), oldest first.
  void take(std::vector<EventPtr>& out) {
    std::lock_guard lock(mutex_);
    out.swap(events_);
  }

 private:
  std::mutex mutex_;
  std::vector<EventPtr> events_;
};

}  // namespace herald
