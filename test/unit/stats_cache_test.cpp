#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "server/stats_cache.hpp"

using namespace herald;
using namespace std::chrono_literals;

TEST_CASE("concurrent callers within the interval share one computation and one frame") {
  std::atomic<int> computations{0};
  StatsCache cache([&] {
    int n = ++computations;
    std::this_thread::sleep_for(20ms);  // long enough for every caller to arrive meanwhile
    return "{\"n\":" + std::to_string(n) + "}";
  });
  constexpr int callers = 16;
  std::vector<std::shared_ptr<const StatsCache::Entry>> got(callers);
  std::vector<std::thread> threads;
  // An interval no run comes near, so however slowly the threads start (sanitizers), one computation serves all.
  for (int i = 0; i < callers; ++i) threads.emplace_back([&, i] { got[i] = cache.get(1h); });
  for (auto& t : threads) t.join();
  CHECK(computations == 1);
  for (const auto& entry : got) CHECK(entry == got[0]);
  CHECK(got[0]->json == "{\"n\":1}");
  CHECK(got[0]->frame->frame == "event: stats\ndata: {\"n\":1}\n\n");
  CHECK(got[0]->frame->id == 0);  // no id line: the client's last event id stays put
}

TEST_CASE("the figures are computed again once the interval has passed") {
  int computations = 0;
  StatsCache cache([&] { return std::to_string(++computations); });
  auto start = Clock::now();
  CHECK(cache.get(900ms, start)->json == "1");
  CHECK(cache.get(900ms, start + 500ms)->json == "1");
  CHECK(cache.get(900ms, start + 1s)->json == "2");
  CHECK(cache.get(900ms, start + 1500ms)->json == "2");
  CHECK(computations == 2);
}

TEST_CASE("a caller that wants fresh figures gets a computation begun after it arrived") {
  int computations = 0;
  StatsCache cache([&] { return std::to_string(++computations); });
  auto first = cache.get(0ms);
  auto second = cache.get(0ms);  // arrived after the first was computed: not served from it
  CHECK(first->json == "1");
  CHECK(second->json == "2");
  CHECK(cache.get(1h, Clock::now())->json == "2");
}
