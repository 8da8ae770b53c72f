#include "broker/broker.hpp"

#include <algorithm>
#include <unordered_set>

#include "broker/sse_encoder.hpp"

namespace herald {

namespace {
// Collects the distinct topic names of a request before the lock is taken, so the limit
// check under it costs at most one lookup per name.
class DistinctNames {
 public:
  void add(const std::vector<std::string>& names) {
    for (const std::string& name : names)
      if (seen_.insert(name).second) list_.push_back(&name);
  }
  const std::vector<const std::string*>& list() const { return list_; }

 private:
  std::unordered_set<std::string_view> seen_;
  std::vector<const std::string*> list_;
};

// Buckets of the topic table visited per hold of the lock by expire() and busiest_topics():
// about a thousand topics, well under a millisecond, however many topics there are.
constexpr std::size_t buckets_per_slice = 1024;

// Subscriptions may fill three quarters of the topic limit; the rest is for publishers.
std::size_t subscribers_share(std::size_t max_topics) {
  return max_topics == 0 ? 0 : std::max<std::size_t>(1, max_topics - max_topics / 4);
}
}  // namespace

Broker::Broker(BrokerOptions options)
    : options_(options),
      subscriber_topic_limit_(subscribers_share(options.max_topics)),
      next_id_(options.first_id) {
  for (std::size_t i = 0; i < std::max<std::size_t>(options_.shards, 1); ++i)
    mailboxes_.push_back(std::make_unique<Mailbox>());
  // Growing the table rehashes every topic under the lock (tens of milliseconds at 100,000):
  // with a limit, the table is sized for it once (8 bytes a topic).
  if (options_.max_topics > 0) topics_.reserve(options_.max_topics);
}

Broker::Topic& Broker::topic(const std::string& name) {
  auto it = topics_.find(name);
  if (it != topics_.end()) return it->second;
  std::uint64_t floor = std::max(options_.first_id - 1, reaped_floor_);
  Topic fresh{TopicHistory(options_.history_size, options_.history_max_age, floor)};
  return topics_.emplace(name, std::move(fresh)).first->second;
}

bool Broker::room_for(const std::vector<const std::string*>& names, std::size_t limit) const {
  if (limit == 0 || topics_.size() + names.size() <= limit) return true;
  // Counted until one too many (a full table refuses at its first new name); nothing new
  // always fits, since subscribers may find the table past their share.
  std::size_t room = limit > topics_.size() ? limit - topics_.size() : 0;
  std::size_t fresh = 0;
  for (const std::string* name : names)
    if (!topics_.contains(*name) && ++fresh > room) return false;
  return true;
}

void Broker::reap(TopicMap::iterator it) {
  // Its ids are forgotten with it: topics made from now on start above them.
  reaped_floor_ = std::max(reaped_floor_, it->second.history.last_id());
  topics_.erase(it);
}

std::optional<std::vector<std::uint64_t>> Broker::publish(const std::vector<Message>& messages,
                                                          std::vector<bool>& wake) {
  // Everything but the id is built before the lock, so its hold does not grow with the data.
  auto now = Clock::now();
  std::vector<std::shared_ptr<Event>> events;
  std::vector<std::string> fields;
  events.reserve(messages.size());
  fields.reserve(messages.size());
  for (const Message& m : messages) {
    auto event = std::make_shared<Event>();
    event->topics = m.topics;
    event->published = now;
    event->is_private = m.is_private;
    events.push_back(std::move(event));
    fields.push_back(sse::encode_event_fields(m.type, m.data));
  }
  DistinctNames names;
  if (options_.max_topics > 0)
    for (const Message& m : messages) names.add(m.topics);
  std::vector<std::uint64_t> ids;
  ids.reserve(messages.size());
  wake.assign(mailboxes_.size(), false);

  std::lock_guard lock(mutex_);
  if (!room_for(names.list(), options_.max_topics)) {
    ++topic_limit_refusals_;
    return std::nullopt;
  }
  for (std::size_t i = 0; i < events.size(); ++i) {
    Event& event = *events[i];
    event.id = next_id_++;
    event.frame = sse::with_id(event.id, fields[i]);
    EventPtr shared = std::move(events[i]);
    for (const std::string& name : shared->topics) {
      Topic& t = topic(name);
      t.history.expire(now);
      t.history.append(shared);
      ++t.published;
      t.last_id = shared->id;
    }
    for (std::size_t s = 0; s < mailboxes_.size(); ++s)
      if (mailboxes_[s]->push(shared)) wake[s] = true;
    ids.push_back(shared->id);
  }
  return ids;
}

std::optional<Snapshot> Broker::subscribe(const std::vector<std::string>& topics, std::optional<std::uint64_t> after) {
  Snapshot snap;
  auto now = Clock::now();
  DistinctNames names;
  if (subscriber_topic_limit_ > 0) names.add(topics);
  {
    std::lock_guard lock(mutex_);
    if (!room_for(names.list(), subscriber_topic_limit_)) {
      ++topic_limit_refusals_;
      return std::nullopt;
    }
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
    if (t.subscribers == 0 && t.history.size() == 0) reap(it);
  }
}

std::size_t Broker::expire(Clock::time_point now) {
  std::size_t reaped = 0;
  if (options_.history_max_age == Clock::duration::zero()) return reaped;
  // Bucket by bucket, a slice per hold of the lock: publishers wait for one slice at most.
  // A rehash between slices may make this sweep skip or revisit a few topics; the next
  // sweep sees them.
  for (std::size_t bucket = 0;;) {
    std::lock_guard lock(mutex_);
    std::size_t end = std::min(bucket + buckets_per_slice, topics_.bucket_count());
    if (bucket >= end) return reaped;
    for (; bucket < end; ++bucket) {
      for (auto it = topics_.begin(bucket); it != topics_.end(bucket);) {
        Topic& t = it->second;
        const std::string& name = it->first;
        ++it;  // before a possible erase of the topic it pointed to
        t.history.expire(now);
        if (t.subscribers == 0 && t.history.size() == 0) {
          reap(topics_.find(name));
          ++reaped;
        }
      }
    }
  }
}

std::uint64_t Broker::last_id() const {
  std::lock_guard lock(mutex_);
  return next_id_ - 1;
}

std::uint64_t Broker::published() const {
  std::lock_guard lock(mutex_);
  return next_id_ - options_.first_id;
}

std::uint64_t Broker::reaped_floor() const {
  std::lock_guard lock(mutex_);
  return reaped_floor_;
}

std::uint64_t Broker::topic_limit_refusals() const {
  std::lock_guard lock(mutex_);
  return topic_limit_refusals_;
}

TopicInfo Broker::info(const std::string& name, const Topic& t) const {
  return TopicInfo{name, t.subscribers, t.published, t.last_id, t.history.size()};
}

std::vector<TopicInfo> Broker::busiest_topics(std::size_t limit, std::size_t& total, const TopicFilter& listed) const {
  // A heap of the `limit` busiest so far (its front the least busy kept), filled slice by
  // slice of the table like expire(). Under the lock a topic costs a look at its figures; a
  // name is copied only for a topic still kept when its slice ends (its entry may be gone by
  // the next slice), so no slice copies more than `limit` names.
  struct Candidate {
    TopicInfo info;                              ///< name filled in when its slice ends
    const TopicMap::value_type* entry = nullptr;  ///< set until then
  };
  auto busier = [](const TopicInfo& a, const TopicInfo& b) {
    return a.subscribers != b.subscribers ? a.subscribers > b.subscribers : a.last_id > b.last_id;
  };
  auto heap_order = [&](const Candidate& a, const Candidate& b) { return busier(a.info, b.info); };
  std::vector<Candidate> heap;
  heap.reserve(limit);
  total = 0;
  for (std::size_t bucket = 0;;) {
    std::lock_guard lock(mutex_);
    total = topics_.size();
    std::size_t end = std::min(bucket + buckets_per_slice, topics_.bucket_count());
    if (limit == 0 || bucket >= end) break;
    for (; bucket < end; ++bucket) {
      for (auto it = topics_.begin(bucket); it != topics_.end(bucket); ++it) {
        const Topic& t = it->second;
        Candidate c{TopicInfo{{}, t.subscribers, t.published, t.last_id, t.history.size()}, &*it};
        if (heap.size() == limit && !heap_order(c, heap.front())) continue;
        if (listed && !listed(it->first)) continue;
        if (heap.size() == limit) {
          std::pop_heap(heap.begin(), heap.end(), heap_order);
          heap.back() = std::move(c);
        } else {
          heap.push_back(std::move(c));
        }
        std::push_heap(heap.begin(), heap.end(), heap_order);
      }
    }
    for (Candidate& c : heap)
      if (c.entry) {
        c.info.name = c.entry->first;
        c.entry = nullptr;
      }
  }
  std::vector<TopicInfo> out;
  out.reserve(heap.size());
  for (Candidate& c : heap) out.push_back(std::move(c.info));
  std::sort(out.begin(), out.end(), busier);
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
