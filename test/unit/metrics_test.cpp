#include <doctest/doctest.h>

#include "server/metrics.hpp"

using namespace herald;

TEST_CASE("shard counters add up into the server's figures") {
  ShardStats a, b;
  ShardStats::add(a.events_delivered, 5);
  ShardStats::add(b.events_delivered, 7);
  a.reject(404);
  b.reject(400);
  b.reject(422);
  a.observe_latency(std::chrono::microseconds(30));
  b.observe_latency(std::chrono::seconds(2));
  ServerFigures f;
  f.add(a);
  f.add(b);
  CHECK(f.events_delivered == 12);
  CHECK(f.rejected[static_cast<std::size_t>(RejectReason::not_found)] == 1);
  CHECK(f.rejected[static_cast<std::size_t>(RejectReason::bad_request)] == 2);
  CHECK(f.latency_count == 2);
  CHECK(f.latency_buckets.front() == 1);
  CHECK(f.latency_buckets.back() == 1);  // beyond the largest bound
}

TEST_CASE("success statuses are not counted as rejections") {
  ShardStats s;
  s.reject(200);
  s.reject(204);
  ServerFigures f;
  f.add(s);
  for (auto n : f.rejected) CHECK(n == 0);
}

TEST_CASE("Prometheus text has HELP, TYPE, cumulative buckets and escaped labels") {
  ServerFigures f;
  f.events_published = 3;
  f.latency_buckets[0] = 2;
  f.latency_buckets[3] = 1;
  f.latency_count = 3;
  f.rejected[static_cast<std::size_t>(RejectReason::timeout)] = 4;
  f.labelled_topics.push_back(TopicInfo{"we\"ird\\", 2, 9, 0, 0});
  std::string text = render_prometheus(f);
  CHECK(text.find("# TYPE herald_events_published_total counter\nherald_events_published_total 3\n") !=
        std::string::npos);
  CHECK(text.find("herald_publish_to_enqueue_seconds_bucket{le=\"5e-05\"} 2\n") != std::string::npos);
  CHECK(text.find("herald_publish_to_enqueue_seconds_bucket{le=\"0.0005\"} 3\n") != std::string::npos);
  CHECK(text.find("herald_publish_to_enqueue_seconds_bucket{le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(text.find("herald_requests_rejected_total{reason=\"timeout\"} 4\n") != std::string::npos);
  CHECK(text.find("herald_topic_subscribers{topic=\"we\\\"ird\\\\\"} 2\n") != std::string::npos);
  CHECK(text.back() == '\n');
}

TEST_CASE("no per-topic series unless topics are named") {
  ServerFigures f;
  CHECK(render_prometheus(f).find("herald_topic_") == std::string::npos);
}
