#include "broker/broker.hpp"

#include <algorithm>

#include "broker/sse_encoder.hpp"

namespace herald {

Broker::Broker(BrokerOptions options) : options_(options), next_id_(options.first_id) {
  for (std::size_t i = 0; i < std::max<std::size_t>(options_.shards, 1); ++i)
    mailboxes_.push_back(std::make_unique<Mailbox>());
}

TopicHistory& Broker::history_for(const std::string& topic) {
  auto it = topics_.find(topic);
  if (it == topics_.end())
    it = topics_.try_emplace(topic, options_.history_size, options_.history_max_age, options_.first_id - 1).first;
  return it->second;
}

std::vector<std::uint64_t> Broker::publish(const std::vector<Message>& messages, std::vector<bool>& wake) {
  std::vector<std::uint64_t> ids;
  ids.reserve(messages.size());
  wake.assign(mailboxes_.size(), false);
  auto now = Clock::now();
  std::lock_guard lock(mutex_);
  for (const Message& m : messages) {
    auto event = std::make_shared<Event>();
    event->id = next_id_++;
    event->topics = m.topics;
    event->frame = sse::encode_event(event->id, m.type, m.data);
    event->published = now;
    EventPtr shared = std::move(event);
    for (const std::string& topic : shared->topics) {
      TopicHistory& history = history_for(topic);
      history.expire(now);
      history.append(shared);
    }
    for (std::size_t i = 0; i < mailboxes_.size(); ++i)
      if (mailboxes_[i]->push(shared)) wake[i] = true;
    ids.push_back(shared->id);
  }
  return ids;
}

Snapshot Broker::snapshot(const std::vector<std::string>& topics, std::optional<std::uint64_t> after) {
  Snapshot snap;
  auto now = Clock::now();
  {
    std::lock_guard lock(mutex_);
    snap.high_water = next_id_ - 1;
    if (!after) return snap;
    for (const std::string& topic : topics) {
      bool complete;
      if (*after > snap.high_water) {
        complete = false;  // an id this server never issued: another instance, or a clock jump
      } else if (auto it = topics_.find(topic); it == topics_.end()) {
        complete = *after >= options_.first_id - 1;  // nothing published to it since start
      } else {
        it->second.expire(now);
        complete = it->second.collect_after(*after, snap.replay);
      }
      if (!complete) snap.truncated_topics.push_back(topic);
    }
  }
  if (topics.size() > 1) {
    std::sort(snap.replay.begin(), snap.replay.end(), [](const EventPtr& a, const EventPtr& b) { return a->id < b->id; });
    snap.replay.erase(std::unique(snap.replay.begin(), snap.replay.end()), snap.replay.end());
  }
  return snap;
}

void Broker::expire(Clock::time_point now) {
  if (options_.history_max_age == Clock::duration::zero()) return;
  std::lock_guard lock(mutex_);
  for (auto& [name, history] : topics_) history.expire(now);
}

std::uint64_t Broker::last_id() const {
  std::lock_guard lock(mutex_);
  return next_id_ - 1;
}

std::size_t Broker::topic_count() const {
  std::lock_guard lock(mutex_);
  return topics_.size();
}

}  // namespace herald
