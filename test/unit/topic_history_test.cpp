#include <doctest/doctest.h>

#include "broker/topic_history.hpp"

using namespace herald;

namespace {
EventPtr event(std::uint64_t id, Clock::time_point at = Clock::now()) {
  auto e = std::make_shared<Event>();
  e->id = id;
  e->published = at;
  return e;
}
std::vector<std::uint64_t> ids(const std::vector<EventPtr>& events) {
  std::vector<std::uint64_t> out;
  for (const auto& e : events) out.push_back(e->id);
  return out;
}
}  // namespace

TEST_CASE("history returns the events after an id, oldest first") {
  TopicHistory h(10, {}, 0);
  for (std::uint64_t id : {3, 5, 8, 9}) h.append(event(id));
  std::vector<EventPtr> out;
  CHECK(h.collect_after(5, out));
  CHECK(ids(out) == std::vector<std::uint64_t>{8, 9});
  out.clear();
  CHECK(h.collect_after(4, out));  // ids need not be consecutive within a topic
  CHECK(ids(out) == std::vector<std::uint64_t>{5, 8, 9});
  out.clear();
  CHECK(h.collect_after(9, out));
  CHECK(out.empty());
}

TEST_CASE("ring buffer reports a gap when history is overwritten") {
  TopicHistory h(3, {}, 0);
  for (std::uint64_t id = 1; id <= 5; ++id) h.append(event(id));
  CHECK(h.size() == 3);
  CHECK(h.floor() == 2);
  std::vector<EventPtr> out;
  CHECK_FALSE(h.collect_after(1, out));  // event 2 is gone
  CHECK(ids(out) == std::vector<std::uint64_t>{3, 4, 5});
  out.clear();
  CHECK(h.collect_after(2, out));  // everything after 2 is still here
  CHECK(ids(out) == std::vector<std::uint64_t>{3, 4, 5});
}

TEST_CASE("history does not reach before its starting floor") {
  TopicHistory h(10, {}, 100);
  h.append(event(101));
  std::vector<EventPtr> out;
  CHECK_FALSE(h.collect_after(50, out));
  CHECK(ids(out) == std::vector<std::uint64_t>{101});
  out.clear();
  CHECK(h.collect_after(100, out));
}

TEST_CASE("events older than the maximum age expire") {
  auto now = Clock::now();
  TopicHistory h(10, std::chrono::seconds(10), 0);
  h.append(event(1, now - std::chrono::seconds(30)));
  h.append(event(2, now - std::chrono::seconds(5)));
  h.expire(now);
  CHECK(h.size() == 1);
  CHECK(h.floor() == 1);
  std::vector<EventPtr> out;
  CHECK_FALSE(h.collect_after(0, out));
  CHECK(ids(out) == std::vector<std::uint64_t>{2});
}

TEST_CASE("no maximum age keeps old events") {
  TopicHistory h(10, {}, 0);
  h.append(event(1, Clock::now() - std::chrono::hours(24)));
  h.expire(Clock::now());
  CHECK(h.size() == 1);
}

TEST_CASE("the ring keeps the newest events through many wrap-arounds") {
  TopicHistory h(5, {}, 0);
  for (std::uint64_t id = 1; id <= 103; ++id) {
    h.append(event(id));
    std::vector<EventPtr> out;
    h.collect_after(0, out);
    std::vector<std::uint64_t> expected;
    for (std::uint64_t e = id > 5 ? id - 4 : 1; e <= id; ++e) expected.push_back(e);
    REQUIRE(ids(out) == expected);
  }
  CHECK(h.last_id() == 103);
  CHECK(h.floor() == 98);
}

TEST_CASE("an event stays alive while history holds it, and no longer") {
  TopicHistory h(2, {}, 0);
  auto first = event(1);
  std::weak_ptr<const Event> watch = first;
  h.append(std::move(first));
  h.append(event(2));
  CHECK_FALSE(watch.expired());
  h.append(event(3));
  CHECK(watch.expired());
}

TEST_CASE("a history emptied by age keeps the newest dropped id as its floor") {
  auto start = Clock::now();
  TopicHistory h(10, std::chrono::seconds(1), 0);
  h.append(event(4, start));
  h.append(event(7, start));
  h.expire(start + std::chrono::seconds(2));
  CHECK(h.size() == 0);
  CHECK(h.floor() == 7);
  CHECK(h.last_id() == 7);  // what the broker remembers when it reclaims the topic
  std::vector<EventPtr> out;
  CHECK_FALSE(h.collect_after(6, out));
  CHECK(h.collect_after(7, out));
}
