#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/event.hpp"
#include "broker/mailbox.hpp"
#include "broker/topic_history.hpp"

namespace herald {

/// What a publisher asks to send: already validated (topic names, event type).
struct Message {
  std::vector<std::string> topics;
  std::string type;
  std::string data;
  bool is_private = false;  ///< only subscribers authorized for its topic receive it
};

struct BrokerOptions {
  std::size_t history_size = 1000;
  Clock::duration history_max_age{};  ///< zero: no age limit
  std::uint64_t first_id = 1;         ///< ids below this are from before the server started
  std::size_t shards = 1;
};

/// What a new subscriber needs to start: the events it missed and where the live stream
/// takes over.
struct Snapshot {
  std::vector<EventPtr> replay;                ///< retained events after the client's id, id order
  std::vector<std::string> truncated_topics;  ///< topics whose history no longer reaches back
  std::uint64_t high_water = 0;                ///< newest id assigned when the snapshot was taken
};

/// One topic's figures, for /stats and /metrics.
struct TopicInfo {
  std::string name;
  std::size_t subscribers = 0;
  std::uint64_t published = 0;
  std::uint64_t last_id = 0;  ///< 0: nothing published since start
  std::size_t retained = 0;
};

/// Topics, their histories and the id sequencer. Any thread may call any member.
///
/// Order comes from one short critical section: ids are assigned, histories appended and
/// every shard's mailbox filled under one mutex, so each shard sees events in id order, and
/// a snapshot taken under the same mutex splits history from live with no gap.
class Broker {
 public:
  explicit Broker(BrokerOptions options);

  /// Publishes `messages` with consecutive ids, returned in order. Sets `wake[i]` for each
  /// shard whose mailbox went from empty to non-empty (the caller must wake it).
  std::vector<std::uint64_t> publish(const std::vector<Message>& messages, std::vector<bool>& wake);

  /// Counts a new subscriber of `topics` and returns what it needs to start: the retained
  /// events with id > `after` (deduplicated: an event on several of the topics appears once)
  /// and whether each topic still reaches back that far. With no `after`, only the
  /// high-water mark is filled in. Pair with unsubscribe().
  Snapshot subscribe(const std::vector<std::string>& topics, std::optional<std::uint64_t> after);
  void unsubscribe(const std::vector<std::string>& topics);

  /// Drops events older than the maximum age from every topic.
  void expire(Clock::time_point now);

  Mailbox& mailbox(std::size_t shard) { return *mailboxes_[shard]; }
  std::size_t shard_count() const { return mailboxes_.size(); }
  std::uint64_t last_id() const;
  std::uint64_t published() const;
  std::size_t topic_count() const;
  /// The `limit` topics with the most subscribers (then the most recent events), and how
  /// many topics there are in all.
  std::vector<TopicInfo> busiest_topics(std::size_t limit, std::size_t& total) const;
  /// The named topics' figures (zeros for a topic not in use).
  std::vector<TopicInfo> topic_infos(const std::vector<std::string>& names) const;

 private:
  struct Topic {
    TopicHistory history;
    std::size_t subscribers = 0;
    std::uint64_t published = 0;
  };
  Topic& topic(const std::string& name);
  TopicInfo info(const std::string& name, const Topic& t) const;

  BrokerOptions options_;
  mutable std::mutex mutex_;
  std::uint64_t next_id_;
  std::unordered_map<std::string, Topic> topics_;
  std::vector<std::unique_ptr<Mailbox>> mailboxes_;
};

}  // namespace herald
