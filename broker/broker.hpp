#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
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
  /// Topics held at once; 0: no limit. Publishes may fill it; subscriptions may create topics
  /// only up to three quarters of it, so anonymous subscribers cannot lock publishers out.
  std::size_t max_topics = 0;
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

/// Which topics /stats may name (true: listed); checked under the broker's lock, so cheap.
using TopicFilter = std::function<bool(std::string_view)>;

/// Topics, their histories and the id sequencer. Any thread may call any member.
///
/// Order comes from one short critical section: ids are assigned, histories appended and
/// every shard's mailbox filled under one mutex, so each shard sees events in id order, and
/// a snapshot taken under the same mutex splits history from live with no gap. Under it each
/// event costs a hash lookup and an append per topic: encoding happens before.
///
/// A topic lives while it has subscribers or retained events, then is reclaimed. The
/// broker remembers the newest id any reclaimed topic had (the reaped floor): a topic made
/// afresh starts from it, so a client resuming from before it is told history is truncated
/// instead of silently missing what the reclaimed topic held.
class Broker {
 public:
  explicit Broker(BrokerOptions options);

  /// Publishes `messages` with consecutive ids, returned in order. Sets `wake[i]` for each
  /// shard whose mailbox went from empty to non-empty (the caller must wake it).
  /// Nothing (and nothing published) when the topics it would create do not fit under
  /// max_topics.
  std::optional<std::vector<std::uint64_t>> publish(const std::vector<Message>& messages, std::vector<bool>& wake);

  /// Counts a new subscriber of `topics` and returns what it needs to start: the retained
  /// events with id > `after` (deduplicated: an event on several of the topics appears once)
  /// and whether each topic still reaches back that far. With no `after`, only the
  /// high-water mark is filled in. Pair with unsubscribe(). Nothing (and nothing counted)
  /// when the topics it would create do not fit under the subscribers' share of max_topics.
  std::optional<Snapshot> subscribe(const std::vector<std::string>& topics, std::optional<std::uint64_t> after);
  void unsubscribe(const std::vector<std::string>& topics);

  /// Drops events older than the maximum age from every topic and reclaims the topics left
  /// with neither events nor subscribers; returns how many it reclaimed. Takes the lock in
  /// short slices.
  std::size_t expire(Clock::time_point now);

  Mailbox& mailbox(std::size_t shard) { return *mailboxes_[shard]; }
  std::size_t shard_count() const { return mailboxes_.size(); }
  std::uint64_t last_id() const;
  std::uint64_t published() const;
  std::size_t topic_count() const;
  /// The `limit` topics with the most subscribers (then the most recent events) among those
  /// `listed` allows (all when empty), and how many topics there are in all, listed or not.
  /// Takes the lock in short slices and copies only the chosen topics' names.
  std::vector<TopicInfo> busiest_topics(std::size_t limit, std::size_t& total, const TopicFilter& listed = {}) const;
  /// The newest id of any reclaimed topic (the floor of topics made afresh); 0 if none.
  std::uint64_t reaped_floor() const;
  /// Publishes and subscriptions refused because their new topics did not fit.
  std::uint64_t topic_limit_refusals() const;
  /// The named topics' figures (zeros for a topic not in use).
  std::vector<TopicInfo> topic_infos(const std::vector<std::string>& names) const;

 private:
  struct Topic {
    TopicHistory history;
    std::size_t subscribers = 0;
    std::uint64_t published = 0;
    std::uint64_t last_id = 0;  ///< newest event's id (0: none): scans need not reach into history
  };
  using TopicMap = std::unordered_map<std::string, Topic>;
  Topic& topic(const std::string& name);
  /// Whether creating those of `names` (distinct) not held yet keeps the count within `limit`
  /// (0: no limit). Under the lock: at most a lookup per name, none when far from the limit.
  bool room_for(const std::vector<const std::string*>& names, std::size_t limit) const;
  /// Erases a topic with neither subscribers nor events, remembering its floor.
  void reap(TopicMap::iterator it);
  TopicInfo info(const std::string& name, const Topic& t) const;

  BrokerOptions options_;
  std::size_t subscriber_topic_limit_;  ///< 0: no limit
  mutable std::mutex mutex_;
  std::uint64_t next_id_;
  std::uint64_t reaped_floor_ = 0;
  std::uint64_t topic_limit_refusals_ = 0;
  TopicMap topics_;
  std::vector<std::unique_ptr<Mailbox>> mailboxes_;
};

}  // namespace herald
