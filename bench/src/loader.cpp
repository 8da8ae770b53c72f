#include "loader.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace bench {

Loader::Loader(LoaderOptions options) : options_(std::move(options)) {
  // Topic names unique to this run, so a server that was not restarted sees fresh topics.
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "b%x_%x_", static_cast<unsigned>(getpid()),
                static_cast<unsigned>(now_ns() / 1000 % 0xfffff));
  run_prefix_ = prefix;
}

Loader::~Loader() {
  loop_.on_turn = nullptr;
  publishers_.clear();
  subscribers_.clear();
}

void Loader::make_topics(std::size_t count) {
  topics_.clear();
  for (std::size_t i = 0; i < count; ++i) topics_.push_back(run_prefix_ + std::to_string(i));
  acked_.assign(count, 0);
  subscribers_on_.assign(count, 0);
}

void Loader::add_subscribers(std::size_t count, const std::function<std::uint32_t(std::size_t)>& topic_of) {
  for (std::size_t i = 0; i < count; ++i) {
    auto index = static_cast<std::uint32_t>(subscribers_.size());
    std::uint32_t topic = topic_of(index);
    subscribers_.push_back(std::make_unique<Subscriber>(*this, index, topic));
    ++subscribers_on_[topic];
  }
}

sockaddr_in Loader::source_address(std::uint32_t subscriber_index) const {
  int span = options_.source_last - options_.source_first + 1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  a.sin_addr.s_addr = htonl((127u << 24) | static_cast<std::uint32_t>(options_.source_first + static_cast<int>(subscriber_index % static_cast<std::uint32_t>(span))));
  return a;
}

void Loader::subscriber_settled(bool) {
  if (connecting_ > 0) --connecting_;
}

std::size_t Loader::connect_subscribers(std::size_t begin, std::size_t end, std::size_t max_inflight,
                                        std::int64_t timeout_ns, bool resume) {
  end = std::min(end, subscribers_.size());
  std::size_t next = begin;
  connecting_ = 0;
  auto feed = [&] {
    while (next < end && connecting_ < max_inflight) {
      ++connecting_;
      subscribers_[next++]->start(resume);
    }
  };
  feed();
  auto previous_turn = loop_.on_turn;
  loop_.on_turn = [&] {
    feed();
    if (previous_turn) previous_turn();
  };
  loop_.run_until([&] { return next == end && connecting_ == 0; }, now_ns() + timeout_ns);
  loop_.on_turn = previous_turn;
  std::size_t ready = 0;
  for (std::size_t i = begin; i < end; ++i) ready += subscribers_[i]->ready() ? 1 : 0;
  return ready;
}

void Loader::close_subscribers() {
  for (auto& s : subscribers_) s->close();
}

std::size_t Loader::ready_subscribers() const {
  std::size_t n = 0;
  for (const auto& s : subscribers_) n += s->ready() ? 1 : 0;
  return n;
}

void Loader::add_publishers(std::size_t count, std::size_t depth) {
  for (std::size_t i = 0; i < count; ++i)
    publishers_.push_back(std::make_unique<Publisher>(*this, static_cast<std::uint32_t>(publishers_.size()), depth));
}

bool Loader::connect_publishers(std::int64_t timeout_ns) {
  for (auto& p : publishers_)
    if (!p->connected()) p->connect();
  return loop_.run_until(
      [&] { return std::all_of(publishers_.begin(), publishers_.end(), [](const auto& p) { return p->connected(); }); },
      now_ns() + timeout_ns);
}

void Loader::issue(Publisher& p, std::int64_t now) {
  std::uint32_t topic;
  if (plan_->topics.empty()) topic = static_cast<std::uint32_t>(rotation_++ % topics_.size());
  else topic = plan_->topics[rotation_++ % plan_->topics.size()];
  p.issue(topic, now);
  ++issued_;
  issued_deliveries_ += subscribers_on_[topic];
}

void Loader::pump() {
  if (!plan_ || publishers_.empty()) return;
  std::int64_t now = now_ns();
  if (now - plan_start_ >= plan_->duration_ns || issued_ >= plan_->count) return;
  auto room = [&] {
    if (plan_->max_outstanding == 0) return true;
    std::uint64_t settled = unique_total_ + lost_deliveries_;
    return issued_deliveries_ < settled + plan_->max_outstanding;
  };
  if (plan_->mode == PublishPlan::Mode::rate) {
    auto due = static_cast<std::uint64_t>(static_cast<double>(now - plan_start_) * plan_->rate / 1e9) + 1;
    due = std::min(due, plan_->count);
    for (std::size_t tries = 0; issued_ < due && tries < publishers_.size() * 4;) {
      Publisher& p = *publishers_[next_publisher_++ % publishers_.size()];
      if (!p.connected()) {
        ++tries;
        continue;
      }
      issue(p, now);
    }
  } else {
    for (auto& p : publishers_) {
      if (!p->connected()) continue;
      while (p->in_flight() < p->depth() && issued_ < plan_->count && room()) issue(*p, now);
    }
  }
  for (auto& p : publishers_) p->flush();
}

PublishResult Loader::publish(const PublishPlan& plan, std::int64_t answer_timeout_ns) {
  PublishResult r;
  plan_ = &plan;
  plan_start_ = now_ns();
  r.started_ns = plan_start_;
  std::uint64_t answered_before = answered_, acked_before = acked_count_;
  issued_ = 0;
  rotation_ = 0;
  auto previous_turn = loop_.on_turn;
  loop_.on_turn = [&] {
    pump();
    if (previous_turn) previous_turn();
  };
  pump();
  // Rate mode needs a fine timer; closed loop is driven by answers.
  int wait_ms = plan.mode == PublishPlan::Mode::rate ? 1 : 5;
  // A plan given only a count still ends: after two minutes, or once every publisher gave up.
  std::int64_t limit = plan.duration_ns == INT64_MAX ? s_to_ns(120) : plan.duration_ns;
  loop_.run_until(
      [&] {
        return issued_ >= plan.count ||
               std::all_of(publishers_.begin(), publishers_.end(), [](const auto& p) { return p->gave_up(); });
      },
      plan_start_ + limit, wait_ms);
  r.issue_ns = now_ns() - plan_start_;
  loop_.on_turn = previous_turn;
  plan_ = nullptr;
  r.issued = issued_;
  r.all_answered = loop_.run_until(
      [&] {
        return std::all_of(publishers_.begin(), publishers_.end(), [](const auto& p) { return p->in_flight() == 0; });
      },
      now_ns() + answer_timeout_ns);
  r.acked = acked_count_ - acked_before;
  r.failed = (answered_ - answered_before) - r.acked;
  r.acked_ns = (last_answer_ns_ > plan_start_ ? last_answer_ns_ : now_ns()) - plan_start_;
  return r;
}

void Loader::publish_answered(std::uint32_t topic, int status, std::int64_t rtt_ns) {
  ++answered_;
  last_answer_ns_ = now_ns();
  if (status >= 200 && status < 300) {
    ++acked_[topic];
    ++acked_count_;
    publish_rtt_.record(rtt_ns);
    if (options_.verbose && rtt_ns > ms_to_ns(50))
      std::fprintf(stderr, "slow publish answer: %.1f ms, %.3f s into the plan\n", ns_to_ms(rtt_ns),
                   ns_to_s(now_ns() - plan_start_));
  } else {
    ++publish_failures_;
    lost_deliveries_ += subscribers_on_[topic];
    if (options_.verbose) std::fprintf(stderr, "publish answered %d\n", status);
  }
}

void Loader::publish_lost(std::uint32_t topic) {
  ++publish_lost_;
  lost_deliveries_ += subscribers_on_[topic];
}

void Loader::delivered(std::int64_t now, std::int64_t published_ns) {
  ++unique_total_;
  last_delivery_ns_ = now;
  latency_.record(now - published_ns);
}

std::uint64_t Loader::expected_total() const {
  std::uint64_t total = 0;
  for (std::size_t t = 0; t < topics_.size(); ++t) total += acked_[t] * subscribers_on_[t];
  return total;
}

bool Loader::wait_delivered(std::int64_t timeout_ns, std::int64_t stall_ns) {
  std::uint64_t expected = expected_total();
  std::int64_t deadline = now_ns() + timeout_ns;
  std::uint64_t seen = unique_total_;
  std::int64_t progress_at = now_ns();
  return loop_.run_until(
      [&] {
        if (unique_total_ >= expected) return true;
        std::int64_t now = now_ns();
        if (unique_total_ != seen) {
          seen = unique_total_;
          progress_at = now;
        }
        if (now - progress_at > stall_ns) deadline = now;  // nothing is moving: stop waiting
        return false;
      },
      deadline) ||
      unique_total_ >= expected;
}

Delivery Loader::delivery() const {
  Delivery d;
  bool first = true;
  for (const auto& s : subscribers_) {
    const SubscriberCounts& c = s->counts();
    std::uint64_t expected = acked_[s->topic()];
    ++d.subscribers;
    d.expected += expected;
    d.delivered += c.received;
    d.unique += c.unique;
    if (c.unique < expected) d.lost += expected - c.unique;
    else d.unexpected += c.unique - expected;
    d.duplicated += c.duplicated;
    d.out_of_order += c.out_of_order;
    d.id_order_errors += c.id_order_errors;
    d.foreign += c.foreign;
    d.truncated += c.truncated;
    d.heartbeats += c.heartbeats;
    d.min_heartbeats = first ? c.heartbeats : std::min(d.min_heartbeats, c.heartbeats);
    first = false;
  }
  return d;
}

ErrorCounts Loader::errors() const {
  ErrorCounts e;
  for (const auto& s : subscribers_) {
    const SubscriberCounts& c = s->counts();
    e.connect_failures += c.connect_failures;
    e.http_errors += c.http_errors;
    e.protocol_errors += c.protocol_errors;
    e.disconnects += c.disconnects;
    e.reconnects += c.reconnects;
    e.gave_up += s->gave_up() ? 1 : 0;
  }
  e.publish_failures = publish_failures_;
  e.publish_lost = publish_lost_;
  e.publisher_disconnects = publisher_disconnects_;
  return e;
}

}  // namespace bench
