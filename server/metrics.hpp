#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "broker/broker.hpp"
#include "server/shard_stats.hpp"

namespace herald {

/// The server's figures at one moment: the shards' counters summed, plus the broker's.
/// Rendered as Prometheus text (/metrics) or JSON (/stats and the stats stream).
struct ServerFigures {
  double uptime_seconds = 0;
  std::uint64_t connections_open = 0;
  std::uint64_t connections_accepted = 0;
  std::uint64_t streams_open = 0;
  std::uint64_t streams_opened = 0;
  std::uint64_t subscriptions = 0;
  std::uint64_t topics = 0;
  std::uint64_t topic_limit_refusals = 0;  ///< publishes and subscriptions refused by --max-topics
  std::uint64_t events_published = 0;
  std::uint64_t last_event_id = 0;
  std::uint64_t events_delivered = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t replays = 0;
  std::uint64_t events_replayed = 0;
  std::uint64_t truncated_notices = 0;
  std::uint64_t slow_consumer_disconnects = 0;
  std::uint64_t write_timeouts = 0;
  std::uint64_t stream_input_disconnects = 0;
  std::uint64_t tls_handshake_failures = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(RejectReason::count)> rejected{};
  std::array<std::uint64_t, latency_bucket_us.size() + 1> latency_buckets{};
  std::uint64_t latency_sum_ns = 0;
  std::uint64_t latency_count = 0;
  std::vector<TopicInfo> labelled_topics;  ///< the topics named by --metrics-topics

  void add(const ShardStats& shard);
};

/// Prometheus text exposition format 0.0.4.
std::string render_prometheus(const ServerFigures& f);

/// The figures as a JSON object (without the topic list, which the caller adds).
nlohmann::json figures_to_json(const ServerFigures& f);
nlohmann::json topics_to_json(const std::vector<TopicInfo>& topics);

}  // namespace herald
