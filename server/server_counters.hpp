#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace herald {

/// Process-wide figures shared by all shards. Relaxed atomics: they are counts, not locks.
struct ServerCounters {
  std::atomic<std::uint64_t> accepted_connections{0};
};

}  // namespace herald
