#include <doctest/doctest.h>

#include <thread>

#include "broker/broker.hpp"

using namespace herald;

namespace {
Message msg(std::vector<std::string> topics, std::string data, std::string type = "") {
  return Message{std::move(topics), std::move(type), std::move(data)};
}
std::vector<std::uint64_t> ids(const std::vector<EventPtr>& events) {
  std::vector<std::uint64_t> out;
  for (const auto& e : events) out.push_back(e->id);
  return out;
}
BrokerOptions options(std::size_t history = 100, std::size_t shards = 2) {
  BrokerOptions o;
  o.history_size = history;
  o.first_id = 1000;
  o.shards = shards;
  return o;
}
}  // namespace

TEST_CASE("publish assigns consecutive ids from the first id and encodes once") {
  Broker b(options());
  std::vector<bool> wake;
  auto ids1 = b.publish({msg({"a"}, "x"), msg({"b"}, "y", "t")}, wake);
  CHECK(ids1 == std::vector<std::uint64_t>{1000, 1001});
  CHECK(b.last_id() == 1001);
  auto snap = *b.subscribe({"b"}, 999);
  REQUIRE(snap.replay.size() == 1);
  CHECK(snap.replay[0]->frame == "id: 1001\nevent: t\ndata: y\n\n");
}

TEST_CASE("every shard's mailbox gets each event in id order, waking it once") {
  Broker b(options(100, 2));
  std::vector<bool> wake;
  b.publish({msg({"a"}, "1")}, wake);
  CHECK(wake == std::vector<bool>{true, true});
  b.publish({msg({"b"}, "2")}, wake);
  CHECK(wake == std::vector<bool>{false, false});  // already waiting to be drained
  for (std::size_t shard = 0; shard < 2; ++shard) {
    std::vector<EventPtr> got;
    b.mailbox(shard).take(got);
    CHECK(ids(got) == std::vector<std::uint64_t>{1000, 1001});
  }
  b.publish({msg({"a"}, "3")}, wake);
  CHECK(wake == std::vector<bool>{true, true});
}

TEST_CASE("an event on several topics is one shared event, replayed once") {
  Broker b(options());
  std::vector<bool> wake;
  b.publish({msg({"a", "b"}, "both"), msg({"a"}, "a only")}, wake);
  auto snap = *b.subscribe({"a", "b"}, 999);
  CHECK(ids(snap.replay) == std::vector<std::uint64_t>{1000, 1001});
  CHECK(snap.truncated_topics.empty());
}

TEST_CASE("a multi-topic replay is merged in id order") {
  Broker b(options());
  std::vector<bool> wake;
  b.publish({msg({"a"}, "1"), msg({"b"}, "2"), msg({"a"}, "3"), msg({"b"}, "4")}, wake);
  auto snap = *b.subscribe({"b", "a"}, 1000);
  CHECK(ids(snap.replay) == std::vector<std::uint64_t>{1001, 1002, 1003});
  CHECK(snap.high_water == 1003);
}

TEST_CASE("a snapshot without a last id only marks the high water") {
  Broker b(options());
  std::vector<bool> wake;
  b.publish({msg({"a"}, "1")}, wake);
  auto snap = *b.subscribe({"a"}, std::nullopt);
  CHECK(snap.replay.empty());
  CHECK(snap.truncated_topics.empty());
  CHECK(snap.high_water == 1000);
}

TEST_CASE("truncation is reported per topic when its ring has moved past the id") {
  Broker b(options(2));
  std::vector<bool> wake;
  b.publish({msg({"a"}, "1"), msg({"a"}, "2"), msg({"a"}, "3"), msg({"b"}, "4")}, wake);
  auto snap = *b.subscribe({"a", "b"}, 999);  // 1000 has left a's ring of two
  CHECK(snap.truncated_topics == std::vector<std::string>{"a"});
  CHECK(ids(snap.replay) == std::vector<std::uint64_t>{1001, 1002, 1003});
  CHECK(b.subscribe({"a", "b"}, 1000)->truncated_topics.empty());  // all after 1000 is still held
}

TEST_CASE("ids from before the server started, or never issued, are reported as truncated") {
  Broker b(options());
  std::vector<bool> wake;
  b.publish({msg({"a"}, "1")}, wake);
  CHECK(b.subscribe({"a"}, 5)->truncated_topics == std::vector<std::string>{"a"});
  CHECK(b.subscribe({"never"}, 5)->truncated_topics == std::vector<std::string>{"never"});
  CHECK(b.subscribe({"never"}, 999)->truncated_topics.empty());
  auto future = *b.subscribe({"a"}, 5000);
  CHECK(future.truncated_topics == std::vector<std::string>{"a"});
  CHECK(future.replay.empty());
}

TEST_CASE("concurrent publishers get unique ids and every mailbox stays in id order") {
  Broker b(options(10000, 2));
  constexpr int per_thread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<bool> wake;
      for (int i = 0; i < per_thread; ++i) b.publish({msg({t % 2 ? "a" : "b"}, "x")}, wake);
    });
  for (auto& t : threads) t.join();
  for (std::size_t shard = 0; shard < 2; ++shard) {
    std::vector<EventPtr> got;
    b.mailbox(shard).take(got);
    REQUIRE(got.size() == 4 * per_thread);
    for (std::size_t i = 1; i < got.size(); ++i) CHECK(got[i]->id == got[i - 1]->id + 1);
  }
}

TEST_CASE("subscriber counts follow subscribe and unsubscribe, and unused topics are forgotten") {
  Broker b(options());
  std::vector<bool> wake;
  b.subscribe({"a", "b"}, std::nullopt);
  b.subscribe({"a"}, std::nullopt);
  b.publish({msg({"a"}, "1")}, wake);
  std::size_t total = 0;
  auto busiest = b.busiest_topics(10, total);
  CHECK(total == 2);
  REQUIRE(busiest.size() == 2);
  CHECK(busiest[0].name == "a");
  CHECK(busiest[0].subscribers == 2);
  CHECK(busiest[0].published == 1);
  CHECK(busiest[0].last_id == 1000);
  CHECK(busiest[1].name == "b");
  CHECK(busiest[1].last_id == 0);
  b.unsubscribe({"a", "b"});
  b.unsubscribe({"a"});
  CHECK(b.topic_count() == 1);  // "b" had no events: gone; "a" keeps its history
  auto infos = b.topic_infos({"a", "zzz"});
  CHECK(infos[0].subscribers == 0);
  CHECK(infos[0].retained == 1);
  CHECK(infos[1].published == 0);
  CHECK(b.published() == 1);
}

namespace {
BrokerOptions aging(std::chrono::milliseconds max_age, std::size_t max_topics = 0) {
  BrokerOptions o = options();
  o.history_max_age = max_age;
  o.max_topics = max_topics;
  return o;
}
}  // namespace

TEST_CASE("a topic left with no subscribers and no events is reclaimed; made afresh, it reports the gap") {
  using namespace std::chrono_literals;
  Broker b(aging(100ms));
  std::vector<bool> wake;
  b.publish({msg({"a"}, "1"), msg({"b"}, "2")}, wake);  // ids 1000, 1001
  b.subscribe({"b"}, std::nullopt);
  CHECK(b.topic_count() == 2);
  b.expire(Clock::now() + 1s);
  CHECK(b.topic_count() == 1);  // "a" had only expired events; "b" keeps its subscriber
  CHECK(b.reaped_floor() == 1000);
  b.unsubscribe({"b"});  // its history is empty too: gone with its last subscriber
  CHECK(b.topic_count() == 0);
  CHECK(b.reaped_floor() == 1001);

  // "a" comes back: a client that saw 999 missed 1000, which went with the old "a".
  auto resumed = *b.subscribe({"a"}, 999);
  CHECK(resumed.truncated_topics == std::vector<std::string>{"a"});
  b.unsubscribe({"a"});
  CHECK(b.subscribe({"a"}, 1001)->truncated_topics.empty());  // up to date: nothing lost
  b.publish({msg({"a"}, "3")}, wake);
  auto later = *b.subscribe({"a"}, 1001);
  CHECK(later.truncated_topics.empty());
  CHECK(ids(later.replay) == std::vector<std::uint64_t>{1002});
}

TEST_CASE("expiry reclaims many topics, a slice of the table at a time") {
  using namespace std::chrono_literals;
  // An age no test run comes near (a sanitized build publishes slowly), and expiry "an hour on".
  Broker b(aging(1h));
  std::vector<bool> wake;
  for (int i = 0; i < 5000; ++i) b.publish({msg({"t" + std::to_string(i)}, "x")}, wake);
  b.subscribe({"t7"}, std::nullopt);
  CHECK(b.topic_count() == 5000);
  b.expire(Clock::now());  // nothing old enough yet
  CHECK(b.topic_count() == 5000);
  b.expire(Clock::now() + 2h);
  CHECK(b.topic_count() == 1);
  CHECK(b.reaped_floor() == b.last_id());
}

TEST_CASE("a publish that would create topics beyond the limit is refused whole") {
  Broker b(aging({}, 4));
  std::vector<bool> wake;
  REQUIRE(b.publish({msg({"a", "b"}, "1"), msg({"b", "c"}, "2")}, wake));  // 3 topics
  auto refused = b.publish({msg({"a"}, "3"), msg({"d", "e"}, "4")}, wake);   // would make 5
  CHECK_FALSE(refused);
  CHECK(b.topic_count() == 3);
  CHECK(b.last_id() == 1001);  // no id assigned, nothing appended
  CHECK(b.topic_limit_refusals() == 1);
  std::vector<EventPtr> mail;
  b.mailbox(0).take(mail);
  CHECK(ids(mail) == std::vector<std::uint64_t>{1000, 1001});
  // Existing topics stay open, and a new name repeated within one request counts once.
  CHECK(b.publish({msg({"a", "b", "c"}, "5")}, wake) == std::vector<std::uint64_t>{1002});
  CHECK(b.publish({msg({"d"}, "6"), msg({"d", "a"}, "7")}, wake) == std::vector<std::uint64_t>{1003, 1004});
  CHECK(b.topic_count() == 4);
  CHECK_FALSE(b.publish({msg({"e"}, "8")}, wake));
}

TEST_CASE("subscriptions may create topics up to three quarters of the limit, leaving room for publishers") {
  Broker b(aging({}, 8));  // subscribers' share: 6
  std::vector<bool> wake;
  REQUIRE(b.subscribe({"s1", "s2", "s3", "s4", "s5"}, std::nullopt));
  CHECK_FALSE(b.subscribe({"s6", "s7"}, std::nullopt));  // 7 > 6: refused, nothing counted
  CHECK(b.topic_count() == 5);
  REQUIRE(b.subscribe({"s1", "s6"}, std::nullopt));      // 6: fits
  CHECK_FALSE(b.subscribe({"s7"}, std::nullopt));
  CHECK(b.subscribe({"s1", "s2"}, std::nullopt));         // existing topics: always
  CHECK(b.publish({msg({"p1", "p2"}, "x")}, wake));     // publishers still have their quarter
  CHECK(b.topic_count() == 8);
  CHECK(b.subscribe({"p1", "s3"}, std::nullopt));         // past the share, existing topics still open
  CHECK(b.topic_limit_refusals() == 2);
}

TEST_CASE("busiest topics come from a bounded selection and skip the unlisted") {
  Broker b(options());
  std::vector<bool> wake;
  for (int i = 0; i < 50; ++i) b.publish({msg({"t" + std::to_string(i)}, "x")}, wake);
  b.subscribe({"t3"}, std::nullopt);
  b.subscribe({"t3", "secret"}, std::nullopt);
  b.subscribe({"secret"}, std::nullopt);
  b.subscribe({"secret"}, std::nullopt);
  std::size_t total = 0;
  auto top = b.busiest_topics(3, total);
  CHECK(total == 51);
  REQUIRE(top.size() == 3);
  CHECK(top[0].name == "secret");
  CHECK(top[1].name == "t3");
  CHECK(top[2].name == "t49");  // then the most recent events
  top = b.busiest_topics(3, total, [](std::string_view name) { return name != "secret"; });
  CHECK(total == 51);  // the total still counts it
  REQUIRE(top.size() == 3);
  CHECK(top[0].name == "t3");
  CHECK(top[1].name == "t49");
  CHECK(top[2].name == "t48");
  CHECK(b.busiest_topics(0, total).empty());
}

TEST_CASE("busiest topics are chosen across every slice of a large table") {
  Broker b(options(1));
  std::vector<bool> wake;
  for (int i = 0; i < 5000; ++i) b.publish({msg({"t" + std::to_string(i)}, "x")}, wake);
  for (int i : {17, 2500, 4321}) b.subscribe({"t" + std::to_string(i)}, std::nullopt);
  b.subscribe({"t2500"}, std::nullopt);
  std::size_t total = 0;
  auto top = b.busiest_topics(5, total);
  CHECK(total == 5000);
  std::vector<std::string> names;
  for (const auto& t : top) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"t2500", "t4321", "t17", "t4999", "t4998"});
  CHECK(top[0].subscribers == 2);
  CHECK(top[3].last_id == b.last_id());
  CHECK(top[3].retained == 1);
  CHECK(top[3].published == 1);
}
