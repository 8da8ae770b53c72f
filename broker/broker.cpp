#include "broker/broker.hpp"

#include <algorithm>

#include "broker/sse_encoder.hpp"

namespace herald {

Broker::Broker(BrokerOptions options) : options_(options), next_id_(options.first_id) {
  for (std::size_t i = 0; i < std::max<std::size_t>(options_.shards, 1); ++i)
    mailboxes_.push_back(std::make_unique<Mailbox>());
}

Broker::Topic& Broker::topic(const std::string& name) {
  auto it = topics_.find(name);
  if (it == topics_.end())
    it = topics_.emplace(name, Topic{TopicHistory(options_.history_size, options_.history_max_age, options_.first_id - 1)})
             .first;
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
    event->is_private = m.is_private;
    EventPtr shared = std::move(event);
    for (const std::string& name : shared->topics) {
      Topic& t = topic(name);
      t.history.expire(now);
      t.history.append(shared);
      ++t.published;
    }
    for (std::size_t i = 0; i < mailboxes_.size(); ++i)
      if (mailboxes_[i]->push(shared)) wake[i] = true;
    ids.push_back(shared->id);
  }
  return ids;
}

Snapshot Broker::subscribe(const std::vector<std::string>& topics, std::optional<std::uint64_t> after) {
  Snapshot snap;
  auto now = Clock::now();
  {
    std::lock_guard lock(mutex_);
    snap.high_water = next_id_ - 1;
    for (const std::string& name : topics) {
      Topic& t = topic(name);
      ++t.subscribers;
      if (!after) continue;
      bool complete;
      if (*after > snap.high_water) {
        complete = false;  // an id this server never issued: another instance, or a clock jump
      } else {
        t.history.expire(now);
        complete = t.history.collect_after(*after, snap.replay);
      }
      if (!complete) snap.truncated_topics.push_back(name);
    }
  }
  if (topics.size() > 1) {
    std::sort(snap.replay.begin(), snap.replay.end(), [](const EventPtr& a, const EventPtr& b) { return a->id < b->id; });
    snap.replay.erase(std::unique(snap.replay.begin(), snap.replay.end()), snap.replay.end());
  }
  return snap;
}

void Broker::unsubscribe(const std::vector<std::string>& topics) {
  std::lock_guard lock(mutex_);
  for (const std::string& name : topics) {
    auto it = topics_.find(name);
    if (it == topics_.end()) continue;
    Topic& t = it->second;
    if (t.subscribers > 0) --t.subscribers;
    // A topic nobody follows and nothing was published to would otherwise stay forever.
    if (t.subscribers == 0 && t.published == 0) topics_.erase(it);
  }
}

void Broker::expire(Clock::time_point now) {
  if (options_.history_max_age == Clock::duration::zero()) return;
  std::lock_guard lock(mutex_);
  for (auto& [name, t] : topics_) t.history.expire(now);
}

std::uint64_t Broker::last_id() const {
  std::lock_guard lock(mutex_);
  return next_id_ - 1;
}

std::uint64_t Broker::published() const {
  std::lock_guard lock(mutex_);
  return next_id_ - options_.first_id;
}

TopicInfo Broker::info(const std::string& name, const Topic& t) const {
  return TopicInfo{name, t.subscribers, t.published, t.published ? t.history.last_id() : 0, t.history.size()};
}

std::vector<TopicInfo> Broker::busiest_topics(std::size_t limit, std::size_t& total) const {
  std::vector<TopicInfo> out;
  {
    std::lock_guard lock(mutex_);
    total = topics_.size();
    out.reserve(topics_.size());
    for (const auto& [name, t] : topics_) out.push_back(info(name, t));
  }
  auto busier = [](const TopicInfo& a, const TopicInfo& b) {
    return a.subscribers != b.subscribers ? a.subscribers > b.subscribers : a.last_id > b.last_id;
  };
  if (out.size() > limit) {
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(limit), out.end(), busier);
    out.resize(limit);
  } else {
    std::sort(out.begin(), out.end(), busier);
  }
  return out;
}

std::vector<TopicInfo> Broker::topic_infos(const std::vector<std::string>& names) const {
  std::vector<TopicInfo> out;
  std::lock_guard lock(mutex_);
  for (const std::string& name : names) {
    auto it = topics_.find(name);
    out.push_back(it == topics_.end() ? TopicInfo{name} : info(name, it->second));
  }
  return out;
}

std::size_t Broker::topic_count() const {
  std::lock_guard lock(mutex_);
  return topics_.size();
}

}  // namespace herald
