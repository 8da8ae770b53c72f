#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "broker/event.hpp"

namespace herald {

/// The /stats JSON, shared: one computation serves every caller that accepts its age, as
/// one string for GET /stats and one encoded frame for every /stats/stream. Any thread may
/// call get(); a caller that finds a computation under way waits for it rather than starting
/// its own, so concurrent callers never compute side by side.
class StatsCache {
 public:
  /// One computation's results.
  struct Entry {
    std::string json;
    EventPtr frame;  ///< `event: stats` with the JSON, no id
  };

  explicit StatsCache(std::function<std::string()> compute);

  /// An entry whose computation started no earlier than `max_age` before `now` (the
  /// caller's arrival), computing one if need be. `max_age` zero: figures taken after the
  /// call began, shared with the callers that arrived with it.
  std::shared_ptr<const Entry> get(Clock::duration max_age, Clock::time_point now = Clock::now());

 private:
  std::function<std::string()> compute_;
  std::mutex mutex_;  ///< held while computing, so concurrent callers share one computation
  std::shared_ptr<const Entry> entry_;
  Clock::time_point started_at_;  ///< when entry_'s computation began
};

}  // namespace herald
