#include "server/metrics.hpp"

#include <sstream>

namespace herald {

namespace {
std::uint64_t get(const ShardStats::Counter& c) { return c.load(std::memory_order_relaxed); }

// Label values escape backslash, quote and newline (exposition format rules).
std::string label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}
}  // namespace

void ServerFigures::add(const ShardStats& s) {
  streams_open += get(s.streams_open);
  streams_opened += get(s.streams_opened);
  subscriptions += get(s.subscriptions);
  events_delivered += get(s.events_delivered);
  bytes_sent += get(s.bytes_sent);
  replays += get(s.replays);
  events_replayed += get(s.events_replayed);
  truncated_notices += get(s.truncated_notices);
  slow_consumer_disconnects += get(s.slow_consumer_disconnects);
  write_timeouts += get(s.write_timeouts);
  stream_input_disconnects += get(s.stream_input_disconnects);
  tls_handshake_failures += get(s.tls_handshake_failures);
  for (std::size_t i = 0; i < rejected.size(); ++i) rejected[i] += get(s.rejected[i]);
  for (std::size_t i = 0; i < latency_buckets.size(); ++i) latency_buckets[i] += get(s.latency_buckets[i]);
  latency_sum_ns += get(s.latency_sum_ns);
  latency_count += get(s.latency_count);
}

std::string render_prometheus(const ServerFigures& f) {
  std::ostringstream out;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n' << name << ' ' << value << '\n';
  };
  metric("herald_uptime_seconds", "gauge", "Seconds since the server started.", f.uptime_seconds);
  metric("herald_connections_open", "gauge", "Open client connections, streams included.", f.connections_open);
  metric("herald_connections_accepted_total", "counter", "Connections accepted.", f.connections_accepted);
  metric("herald_streams_open", "gauge", "Open event streams.", f.streams_open);
  metric("herald_streams_opened_total", "counter", "Event streams opened.", f.streams_opened);
  metric("herald_subscriptions_active", "gauge", "Topic subscriptions of the open streams.", f.subscriptions);
  metric("herald_topics", "gauge", "Topics with subscribers or history.", f.topics);
  metric("herald_topics_limit_refusals_total", "counter",
         "Publishes and subscriptions refused (503) because they would create topics beyond --max-topics.",
         f.topic_limit_refusals);
  metric("herald_events_published_total", "counter", "Events published.", f.events_published);
  metric("herald_events_delivered_total", "counter", "Events queued to streams (live and replayed).",
         f.events_delivered);
  metric("herald_bytes_sent_total", "counter", "Bytes written to clients.", f.bytes_sent);
  metric("herald_replays_total", "counter", "Streams that resumed from a Last-Event-ID.", f.replays);
  metric("herald_events_replayed_total", "counter", "Events sent from history to resuming streams.",
         f.events_replayed);
  metric("herald_history_truncated_total", "counter", "History-truncated notices sent.", f.truncated_notices);
  metric("herald_slow_consumer_disconnects_total", "counter", "Streams closed for falling too far behind.",
         f.slow_consumer_disconnects);
  metric("herald_write_timeouts_total", "counter", "Streams closed because their write made no progress for "
         "--write-timeout.", f.write_timeouts);
  metric("herald_stream_input_disconnects_total", "counter",
         "Streams closed because their client sent more than 4 KiB after its request.", f.stream_input_disconnects);
  metric("herald_tls_handshake_failures_total", "counter",
         "TLS handshakes that failed or timed out (HTTPS listener only).", f.tls_handshake_failures);

  out << "# HELP herald_requests_rejected_total Requests answered with an error, by reason.\n"
         "# TYPE herald_requests_rejected_total counter\n";
  for (std::size_t i = 0; i < f.rejected.size(); ++i)
    out << "herald_requests_rejected_total{reason=\"" << reject_reason_names[i] << "\"} " << f.rejected[i] << '\n';

  out << "# HELP herald_publish_to_enqueue_seconds Time from publish to the event being queued on a shard's "
         "streams.\n# TYPE herald_publish_to_enqueue_seconds histogram\n";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < latency_bucket_us.size(); ++i) {
    cumulative += f.latency_buckets[i];
    out << "herald_publish_to_enqueue_seconds_bucket{le=\"" << static_cast<double>(latency_bucket_us[i]) / 1e6
        << "\"} " << cumulative << '\n';
  }
  cumulative += f.latency_buckets.back();
  out << "herald_publish_to_enqueue_seconds_bucket{le=\"+Inf\"} " << cumulative << '\n'
      << "herald_publish_to_enqueue_seconds_sum " << static_cast<double>(f.latency_sum_ns) / 1e9 << '\n'
      << "herald_publish_to_enqueue_seconds_count " << f.latency_count << '\n';

  if (!f.labelled_topics.empty()) {
    out << "# HELP herald_topic_subscribers Subscribers of a topic named in --metrics-topics.\n"
           "# TYPE herald_topic_subscribers gauge\n";
    for (const auto& t : f.labelled_topics)
      out << "herald_topic_subscribers{topic=\"" << label_value(t.name) << "\"} " << t.subscribers << '\n';
    out << "# HELP herald_topic_events_published_total Events published to a topic named in --metrics-topics.\n"
           "# TYPE herald_topic_events_published_total counter\n";
    for (const auto& t : f.labelled_topics)
      out << "herald_topic_events_published_total{topic=\"" << label_value(t.name) << "\"} " << t.published << '\n';
  }
  return out.str();
}

nlohmann::json figures_to_json(const ServerFigures& f) {
  nlohmann::json rejected = nlohmann::json::object();
  for (std::size_t i = 0; i < f.rejected.size(); ++i) rejected[std::string(reject_reason_names[i])] = f.rejected[i];
  return {{"uptime_seconds", f.uptime_seconds},
          {"connections", f.connections_open},
          {"connections_accepted", f.connections_accepted},
          {"streams", f.streams_open},
          {"subscriptions", f.subscriptions},
          {"topics", f.topics},
          {"topics_limit_refusals", f.topic_limit_refusals},
          {"events_published", f.events_published},
          {"events_delivered", f.events_delivered},
          {"last_event_id", f.last_event_id},
          {"bytes_sent", f.bytes_sent},
          {"replays", f.replays},
          {"events_replayed", f.events_replayed},
          {"history_truncated", f.truncated_notices},
          {"slow_consumer_disconnects", f.slow_consumer_disconnects},
          {"write_timeouts", f.write_timeouts},
          {"stream_input_disconnects", f.stream_input_disconnects},
          {"tls_handshake_failures", f.tls_handshake_failures},
          {"requests_rejected", rejected}};
}

nlohmann::json topics_to_json(const std::vector<TopicInfo>& topics) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& t : topics)
    list.push_back({{"name", t.name},
                    {"subscribers", t.subscribers},
                    {"published", t.published},
                    {"last_id", t.last_id},
                    {"retained", t.retained}});
  return list;
}

}  // namespace herald
