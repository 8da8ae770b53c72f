// Owns everything one scenario run uses: the event loop, the topics, the subscriber and
// publisher connections, and the tallies they feed. Scenarios drive it phase by phase
// (connect, publish, wait for delivery) from straight-line code.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <netinet/in.h>

#include "clock.hpp"
#include "event_loop.hpp"
#include "histogram.hpp"
#include "publisher.hpp"
#include "subscriber.hpp"
#include "target.hpp"

namespace bench {

struct LoaderOptions {
  Target target;
  int source_first = 2;   ///< subscribers bind to 127.0.0.first .. 127.0.0.last
  int source_last = 50;
  bool reconnect = true;  ///< reconnect dropped streams with Last-Event-ID
  std::int64_t reconnect_delay_ns = ms_to_ns(250);
  std::uint32_t max_reconnects = 20;  ///< per subscriber
  std::size_t payload = 0;            ///< filler bytes added to each event's data
  bool lazy_ack = false;              ///< subscribers ask for delayed ACKs (TCP_QUICKACK 0)
  bool verbose = false;
};

struct PublishPlan {
  enum class Mode { closed_loop, rate } mode = Mode::closed_loop;
  double rate = 0;                            ///< events per second (rate mode)
  std::uint64_t count = UINT64_MAX;           ///< events in all
  std::int64_t duration_ns = INT64_MAX;       ///< stop issuing after this long
  std::uint64_t max_outstanding = 0;          ///< deliveries not yet received (0: no limit)
  std::vector<std::uint32_t> topics;          ///< rotation; empty: every topic in turn
};

struct PublishResult {
  std::uint64_t issued = 0;
  std::uint64_t acked = 0;
  std::uint64_t failed = 0;
  std::int64_t started_ns = 0;
  std::int64_t issue_ns = 0;   ///< time spent issuing
  std::int64_t acked_ns = 0;   ///< from start until the last answer
  bool all_answered = false;
};

struct Delivery {
  std::uint64_t subscribers = 0;
  std::uint64_t expected = 0;
  std::uint64_t delivered = 0;   ///< events received, duplicates included
  std::uint64_t unique = 0;
  std::uint64_t lost = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t out_of_order = 0;
  std::uint64_t id_order_errors = 0;
  std::uint64_t unexpected = 0;  ///< more distinct events than acknowledged publishes
  std::uint64_t foreign = 0;
  std::uint64_t truncated = 0;
  std::uint64_t heartbeats = 0;
  std::uint64_t min_heartbeats = 0;  ///< fewest any subscriber received
  bool ok() const { return lost == 0 && duplicated == 0 && out_of_order == 0 && id_order_errors == 0 && foreign == 0 && truncated == 0; }
};

struct ErrorCounts {
  std::uint64_t connect_failures = 0;
  std::uint64_t http_errors = 0;
  std::uint64_t protocol_errors = 0;
  std::uint64_t disconnects = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t gave_up = 0;          ///< subscribers that never (re)connected
  std::uint64_t publish_failures = 0;  ///< publish answered with a non-2xx status
  std::uint64_t publish_lost = 0;      ///< publish whose connection dropped before the answer
  std::uint64_t publisher_disconnects = 0;
};

class Loader {
 public:
  explicit Loader(LoaderOptions options);
  ~Loader();

  const LoaderOptions& options() const { return options_; }
  EventLoop& loop() { return loop_; }

  // --- topics
  void make_topics(std::size_t count);
  const std::string& topic_name(std::uint32_t topic) const { return topics_[topic]; }
  std::size_t topic_count() const { return topics_.size(); }

  // --- subscribers
  void add_subscribers(std::size_t count, const std::function<std::uint32_t(std::size_t)>& topic_of);
  std::vector<std::unique_ptr<Subscriber>>& subscribers() { return subscribers_; }
  /// Connects subscribers [begin, end) with at most `max_inflight` connecting at once;
  /// returns how many are streaming when all have settled or the timeout passes.
  std::size_t connect_subscribers(std::size_t begin, std::size_t end, std::size_t max_inflight, std::int64_t timeout_ns,
                                  bool resume = false);
  void close_subscribers();
  std::size_t ready_subscribers() const;

  // --- publishers
  void add_publishers(std::size_t count, std::size_t depth);
  bool connect_publishers(std::int64_t timeout_ns);
  /// Publishes per `plan`, then waits (up to `answer_timeout_ns`) for every answer.
  PublishResult publish(const PublishPlan& plan, std::int64_t answer_timeout_ns = s_to_ns(15));
  std::size_t publisher_count() const { return publishers_.size(); }

  // --- delivery
  std::uint64_t expected_total() const;
  std::uint64_t unique_total() const { return unique_total_; }
  /// Waits until every acknowledged event reached every subscriber of its topic, giving up
  /// after `timeout_ns`, or after `stall_ns` with no new delivery.
  bool wait_delivered(std::int64_t timeout_ns, std::int64_t stall_ns);
  Delivery delivery() const;
  ErrorCounts errors() const;
  std::int64_t last_delivery_ns() const { return last_delivery_ns_; }

  Histogram& latency() { return latency_; }
  Histogram& publish_rtt() { return publish_rtt_; }

  // --- called by the connections
  sockaddr_in source_address(std::uint32_t subscriber_index) const;
  void subscriber_settled(bool ok);
  void delivered(std::int64_t now, std::int64_t published_ns);
  void publish_answered(std::uint32_t topic, int status, std::int64_t rtt_ns);
  void publish_lost(std::uint32_t topic);
  void publisher_dropped() { ++publisher_disconnects_; }
  std::uint64_t acked(std::uint32_t topic) const { return acked_[topic]; }

 private:
  void pump();
  void issue(Publisher& p, std::int64_t now);

  LoaderOptions options_;
  EventLoop loop_;
  std::vector<std::string> topics_;
  std::vector<std::uint64_t> acked_;
  std::vector<std::uint32_t> subscribers_on_;
  std::vector<std::unique_ptr<Subscriber>> subscribers_;
  std::vector<std::unique_ptr<Publisher>> publishers_;
  Histogram latency_;
  Histogram publish_rtt_;
  std::string run_prefix_;

  std::size_t connecting_ = 0;
  std::uint64_t unique_total_ = 0;
  std::int64_t last_delivery_ns_ = 0;
  std::uint64_t publish_failures_ = 0;
  std::uint64_t publish_lost_ = 0;
  std::uint64_t publisher_disconnects_ = 0;

  // The plan being carried out.
  const PublishPlan* plan_ = nullptr;
  std::int64_t plan_start_ = 0;
  std::uint64_t issued_ = 0;
  std::uint64_t issued_deliveries_ = 0;
  std::uint64_t lost_deliveries_ = 0;  ///< deliveries of publishes that failed or were lost
  std::uint64_t answered_ = 0;
  std::uint64_t acked_count_ = 0;
  std::size_t rotation_ = 0;
  std::size_t next_publisher_ = 0;
  std::int64_t last_answer_ns_ = 0;
};

}  // namespace bench
