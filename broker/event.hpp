#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace herald {

using Clock = std::chrono::steady_clock;

/// One published event. Built once at publish, then shared read-only by the topic
/// histories and every subscriber queue; safe to read from any thread.
struct Event {
  std::uint64_t id = 0;
  std::vector<std::string> topics;
  std::string frame;  ///< the complete SSE bytes ("id: ...\ndata: ...\n\n")
  bool is_private = false;  ///< only for subscribers authorized for one of its topics
  Clock::time_point published;
};

using EventPtr = std::shared_ptr<const Event>;

}  // namespace herald
