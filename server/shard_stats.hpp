#pragma once
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace herald {

/// Why a request was refused, for the rejected-requests counter.
enum class RejectReason : std::size_t {
  bad_request,
  not_found,
  method_not_allowed,
  timeout,
  body_too_large,
  unsupported_media_type,
  headers_too_large,
  unavailable,
  http_version,
  too_many_requests,
  unauthorized,
  forbidden,
  count
};
inline constexpr std::array<std::string_view, static_cast<std::size_t>(RejectReason::count)> reject_reason_names = {
    "bad_request",       "not_found",   "method_not_allowed", "timeout",     "body_too_large", "unsupported_media_type",
    "headers_too_large", "unavailable", "http_version",        "too_many_requests", "unauthorized", "forbidden"};

/// The reason for an error status; nothing for a status below 400.
inline bool reject_reason_for(int status, RejectReason& reason) {
  switch (status) {
    case 404: reason = RejectReason::not_found; return true;
    case 405: reason = RejectReason::method_not_allowed; return true;
    case 408: reason = RejectReason::timeout; return true;
    case 413: reason = RejectReason::body_too_large; return true;
    case 415: reason = RejectReason::unsupported_media_type; return true;
    case 431: reason = RejectReason::headers_too_large; return true;
    case 503: reason = RejectReason::unavailable; return true;
    case 505: reason = RejectReason::http_version; return true;
    case 429: reason = RejectReason::too_many_requests; return true;
    case 401: reason = RejectReason::unauthorized; return true;
    case 403: reason = RejectReason::forbidden; return true;
    default:
      if (status < 400) return false;
      reason = RejectReason::bad_request;
      return true;
  }
}

/// Upper bounds of the publish-to-enqueue latency histogram, in microseconds.
inline constexpr std::array<std::uint64_t, 12> latency_bucket_us = {50,    100,    250,    500,    1000,    2500,
                                                                      5000, 10'000, 25'000, 100'000, 250'000, 1'000'000};

/// One shard's counters. Each is written only by its shard's thread (so a relaxed
/// load-and-store is enough and no cache line is shared between cores on the hot path) and
/// read by whichever thread renders /metrics or /stats.
struct ShardStats {
  using Counter = std::atomic<std::uint64_t>;
  Counter events_delivered{0};
  Counter bytes_sent{0};
  Counter streams_opened{0};
  Counter replays{0};
  Counter events_replayed{0};
  Counter truncated_notices{0};
  Counter slow_consumer_disconnects{0};
  Counter write_timeouts{0};            ///< streams closed for a write stuck past --write-timeout
  Counter stream_input_disconnects{0};  ///< streams closed for a client that kept sending
  Counter tls_handshake_failures{0};
  Counter streams_open{0};
  Counter subscriptions{0};
  std::array<Counter, static_cast<std::size_t>(RejectReason::count)> rejected{};
  std::array<Counter, latency_bucket_us.size() + 1> latency_buckets{};  ///< last: above the largest bound
  Counter latency_sum_ns{0};
  Counter latency_count{0};

  static void add(Counter& c, std::uint64_t n = 1) { c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  static void sub(Counter& c, std::uint64_t n = 1) { c.store(c.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }

  void reject(int status) {
    RejectReason reason;
    if (reject_reason_for(status, reason)) add(rejected[static_cast<std::size_t>(reason)]);
  }

  void observe_latency(std::chrono::nanoseconds latency) {
    auto ns = static_cast<std::uint64_t>(latency.count() < 0 ? 0 : latency.count());
    std::size_t i = 0;
    while (i < latency_bucket_us.size() && ns > latency_bucket_us[i] * 1000) ++i;
    add(latency_buckets[i]);
    add(latency_sum_ns, ns);
    add(latency_count);
  }
};

}  // namespace herald
