#include "scenarios.hpp"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>

#include "clock.hpp"
#include "proc_stats.hpp"

namespace bench {

namespace {

constexpr double no_ratio = std::numeric_limits<double>::quiet_NaN();

std::size_t pick(const std::optional<std::size_t>& override, const RunConfig& c, std::size_t full, std::size_t quick) {
  return override ? *override : c.quick ? quick : full;
}
double pick(const std::optional<double>& override, const RunConfig& c, double full, double quick) {
  return override ? *override : c.quick ? quick : full;
}

std::string fmt(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string fmt_count(std::uint64_t v) { return std::to_string(v); }

void log(const RunConfig& c, const char* scenario, const std::string& text) {
  std::fprintf(stderr, "[%s %s] %s\n", c.loader.target.name().data(), scenario, text.c_str());
}

void row(ScenarioResult& r, std::string metric, std::string display, double value, std::string better) {
  r.table.push_back(TableRow{std::move(metric), std::move(display), value, std::move(better)});
}

void problem(ScenarioResult& r, bool fails, const std::string& text) {
  r.problems.push_back(text);
  if (fails) r.ok = false;
}

/// CPU and memory of the server between two samples.
struct ServerWindow {
  ProcSample before, after;
  std::int64_t t0 = 0, t1 = 0;
  double cpu_s() const { return after.cpu_s - before.cpu_s; }
  double wall_s() const { return ns_to_s(t1 - t0); }
  double utilisation() const { return wall_s() > 0 ? cpu_s() / wall_s() : 0; }
};

struct Watch {
  ProcStats server;
  ServerWindow window;
  ProcSample client_before, client_after;
  double machine_user_before = 0, machine_user_after = 0;
  explicit Watch(pid_t pid) : server(pid) {}
  void start() {
    window.before = server.sample();
    window.t0 = now_ns();
    client_before = ProcStats::self();
    machine_user_before = ProcStats::machine_user_s();
  }
  void stop() {
    window.after = server.sample();
    window.t1 = now_ns();
    client_after = ProcStats::self();
    machine_user_after = ProcStats::machine_user_s();
  }
  double client_cpu_s() const { return client_after.cpu_s - client_before.cpu_s; }
  /// User-mode CPU that neither the server nor this tool used during the window: other
  /// programs competing for the two cores, i.e. noise in the figures.
  double others_user_s() const {
    double ours = (window.after.user_s - window.before.user_s) + (client_after.user_s - client_before.user_s);
    return std::max(0.0, (machine_user_after - machine_user_before) - ours);
  }
};

void add_latency(ScenarioResult& r, Histogram& h, const char* label, bool detailed) {
  auto ms = [](std::int64_t ns) { return ns_to_ms(ns); };
  JsonObject lat;
  lat.set("count", h.count())
      .set("mean_ms", ms(static_cast<std::int64_t>(h.mean())))
      .set("p50_ms", ms(h.quantile(0.50)))
      .set("p90_ms", ms(h.quantile(0.90)))
      .set("p99_ms", ms(h.quantile(0.99)))
      .set("p999_ms", ms(h.quantile(0.999)))
      .set("max_ms", ms(h.max()));
  r.metrics.set(label, lat);
  std::string name = std::string(label) == "latency" ? "latency" : "publish RTT";
  row(r, name + " p50 (ms)", fmt(ms(h.quantile(0.50)), 3), ms(h.quantile(0.50)), "lower");
  row(r, name + " p99 (ms)", fmt(ms(h.quantile(0.99)), 3), ms(h.quantile(0.99)), "lower");
  if (detailed) {
    row(r, name + " p99.9 (ms)", fmt(ms(h.quantile(0.999)), 3), ms(h.quantile(0.999)), "lower");
    row(r, name + " max (ms)", fmt(ms(h.max()), 3), ms(h.max()), "lower");
  }
}

void add_server(ScenarioResult& r, const Watch& w, const char* phase) {
  JsonObject s;
  s.set("phase", phase)
      .set("cpu_s", w.window.cpu_s())
      .set("wall_s", w.window.wall_s())
      .set("cpu_utilisation", w.window.utilisation())
      .set("rss_before_kb", static_cast<std::int64_t>(w.window.before.rss_kb))
      .set("rss_after_kb", static_cast<std::int64_t>(w.window.after.rss_kb))
      .set("processes", w.window.after.processes)
      .set("client_cpu_s", w.client_cpu_s())
      .set("others_user_cpu_s", w.others_user_s());
  r.metrics.set("server", s);
  // More than a tenth of a core taken by other programs makes the figures noisy.
  if (w.window.wall_s() > 0 && w.others_user_s() / w.window.wall_s() > 0.1)
    problem(r, false, "other programs used " + fmt(100 * w.others_user_s() / w.window.wall_s(), 0) +
                          "% of a core during the measurement: figures are noisy");
}

/// Delivery figures, error counts and the verdict; every scenario ends with this.
void finish(ScenarioResult& r, Loader& L, std::size_t wanted_subscribers, std::size_t ready) {
  r.delivery = L.delivery();
  r.errors = L.errors();
  const Delivery& d = r.delivery;
  const ErrorCounts& e = r.errors;
  row(r, "delivered / expected", fmt_count(d.delivered) + " / " + fmt_count(d.expected), no_ratio, "");
  row(r, "lost + duplicated", fmt_count(d.lost + d.duplicated), static_cast<double>(d.lost + d.duplicated), "lower");
  char text[200];
  if (ready < wanted_subscribers) {
    std::snprintf(text, sizeof text, "only %zu of %zu subscribers connected", ready, wanted_subscribers);
    problem(r, true, text);
  }
  auto check = [&](std::uint64_t n, const char* what, bool fails) {
    if (n == 0) return;
    std::snprintf(text, sizeof text, "%" PRIu64 " %s", n, what);
    problem(r, fails, text);
  };
  check(d.lost, "events lost", true);
  check(d.duplicated, "events duplicated", true);
  check(d.out_of_order, "events out of order", true);
  check(d.id_order_errors, "event ids not increasing", true);
  check(d.truncated, "history-truncated notices", true);
  check(d.foreign, "events with foreign data", true);
  check(d.unexpected, "events delivered beyond the acknowledged publishes", false);
  check(e.gave_up, "subscribers gave up reconnecting", true);
  check(e.publish_failures, "publishes refused", true);
  check(e.publish_lost, "publishes unanswered (connection lost)", true);
  check(e.connect_failures, "subscriber connect failures", false);
  check(e.http_errors, "subscribe requests answered non-200", false);
  check(e.protocol_errors, "protocol errors", false);
  check(e.disconnects, "streams dropped by the server", false);
  check(e.publisher_disconnects, "publisher connections dropped", false);
  std::uint64_t errors = e.connect_failures + e.http_errors + e.protocol_errors + e.disconnects + e.publisher_disconnects;
  row(r, "errors (connect, HTTP, dropped)", fmt_count(errors), static_cast<double>(errors), "lower");
}

Loader make_loader(const RunConfig& c) { return Loader(c.loader); }

std::size_t connect_all(const RunConfig& c, Loader& L, const char* scenario, std::size_t n, ScenarioResult& r) {
  std::int64_t t0 = now_ns();
  std::size_t ready = L.connect_subscribers(0, n, c.connect_concurrency, s_to_ns(120));
  double secs = ns_to_s(now_ns() - t0);
  r.metrics.set("connect_s", secs).set("subscribers_connected", static_cast<std::uint64_t>(ready));
  log(c, scenario, std::to_string(ready) + "/" + std::to_string(n) + " subscribers streaming after " + fmt(secs, 2) + " s");
  return ready;
}

// 1 -----------------------------------------------------------------------------------
ScenarioResult run_fanout(const RunConfig& c) {
  ScenarioResult r;
  r.scenario = "fanout";
  std::size_t subs = pick(c.subscribers, c, 1000, 200);
  std::size_t pubs = pick(c.publishers, c, 4, 2);
  std::size_t depth = pick(c.pipeline, c, 8, 8);
  double duration = pick(c.duration_s, c, 10, 2);
  std::uint64_t outstanding = pick(c.max_outstanding, c, 200 * subs, 200 * subs);
  r.params.set("subscribers", static_cast<std::uint64_t>(subs)).set("topics", 1).set("publishers", static_cast<std::uint64_t>(pubs))
      .set("pipeline", static_cast<std::uint64_t>(depth)).set("duration_s", duration).set("max_outstanding_deliveries", outstanding);

  Loader L = make_loader(c);
  L.make_topics(1);
  L.add_subscribers(subs, [](std::size_t) { return 0u; });
  L.add_publishers(pubs, depth);
  L.connect_publishers(s_to_ns(10));
  std::size_t ready = connect_all(c, L, "fanout", subs, r);
  L.loop().run_for(ms_to_ns(300));

  Watch w(c.server_pid);
  w.start();
  PublishPlan plan;
  plan.mode = PublishPlan::Mode::closed_loop;
  plan.duration_ns = s_to_ns(duration);
  plan.max_outstanding = outstanding;
  PublishResult p = L.publish(plan);
  L.wait_delivered(s_to_ns(30), s_to_ns(5));
  w.stop();

  std::uint64_t deliveries = L.unique_total();
  double span = ns_to_s(std::max(L.last_delivery_ns(), p.started_ns + 1) - p.started_ns);
  double per_s = deliveries / span;
  double cpu_per_m = deliveries ? w.window.cpu_s() / (deliveries / 1e6) : 0;
  r.metrics.set("published", p.acked).set("publishes_per_s", p.acked / ns_to_s(p.issue_ns)).set("deliveries", deliveries)
      .set("deliveries_per_s", per_s).set("cpu_s_per_million_deliveries", cpu_per_m);
  add_server(r, w, "publishing until all delivered");
  row(r, "deliveries/s", fmt(per_s, 0), per_s, "higher");
  row(r, "publishes/s", fmt(p.acked / ns_to_s(p.issue_ns), 0), p.acked / ns_to_s(p.issue_ns), "higher");
  row(r, "server CPU s per million deliveries", fmt(cpu_per_m, 3), cpu_per_m, "lower");
  row(r, "server CPU utilisation (%)", fmt(100 * w.window.utilisation(), 0), 100 * w.window.utilisation(), "");
  add_latency(r, L.latency(), "latency", false);
  log(c, "fanout", fmt(per_s, 0) + " deliveries/s, " + fmt(cpu_per_m, 3) + " CPU s per million");
  finish(r, L, subs, ready);
  return r;
}

// 2 -----------------------------------------------------------------------------------
ScenarioResult run_latency(const RunConfig& c) {
  ScenarioResult r;
  r.scenario = "latency";
  std::size_t subs = pick(c.subscribers, c, 1000, 200);
  double rate = pick(c.rate, c, 100, 100);
  double duration = pick(c.duration_s, c, 10, 2);
  auto count = static_cast<std::uint64_t>(rate * duration);
  r.params.set("subscribers", static_cast<std::uint64_t>(subs)).set("topics", 1).set("rate_per_s", rate)
      .set("duration_s", duration).set("events", count);

  Loader L = make_loader(c);
  L.make_topics(1);
  L.add_subscribers(subs, [](std::size_t) { return 0u; });
  L.add_publishers(1, 1u << 20);
  L.connect_publishers(s_to_ns(10));
  std::size_t ready = connect_all(c, L, "latency", subs, r);
  L.loop().run_for(ms_to_ns(300));

  Watch w(c.server_pid);
  w.start();
  PublishPlan plan;
  plan.mode = PublishPlan::Mode::rate;
  plan.rate = rate;
  plan.count = count;
  plan.duration_ns = s_to_ns(duration + 10);
  PublishResult p = L.publish(plan);
  L.wait_delivered(s_to_ns(30), s_to_ns(5));
  w.stop();
  r.metrics.set("published", p.acked).set("deliveries", L.unique_total());
  add_server(r, w, "publishing until all delivered");
  add_latency(r, L.latency(), "latency", true);
  add_latency(r, L.publish_rtt(), "publish_rtt", false);
  row(r, "server CPU s", fmt(w.window.cpu_s(), 2), w.window.cpu_s(), "lower");
  log(c, "latency", "p50 " + fmt(ns_to_ms(L.latency().quantile(0.5)), 3) + " ms, p99 " +
                        fmt(ns_to_ms(L.latency().quantile(0.99)), 3) + " ms, max " + fmt(ns_to_ms(L.latency().max()), 3) + " ms");
  finish(r, L, subs, ready);
  return r;
}

// 3 -----------------------------------------------------------------------------------
ScenarioResult run_idle(const RunConfig& c) {
  ScenarioResult r;
  r.scenario = "idle";
  std::size_t subs = pick(c.subscribers, c, 10000, 1000);
  r.params.set("subscribers", static_cast<std::uint64_t>(subs)).set("topics", 1);

  Loader L = make_loader(c);
  L.make_topics(1);
  L.add_subscribers(subs, [](std::size_t) { return 0u; });
  L.add_publishers(1, 1);
  L.connect_publishers(s_to_ns(10));
  L.loop().run_for(ms_to_ns(500));
  ProcStats server(c.server_pid);
  ProcSample before = server.sample();
  std::size_t ready = connect_all(c, L, "idle", subs, r);
  L.loop().run_for(s_to_ns(2));  // let the server settle
  ProcSample after = server.sample();
  double per_conn = ready ? (after.rss_kb - before.rss_kb) * 1024.0 / static_cast<double>(ready) : 0;
  r.metrics.set("rss_before_kb", static_cast<std::int64_t>(before.rss_kb)).set("rss_after_kb", static_cast<std::int64_t>(after.rss_kb))
      .set("rss_bytes_per_connection", per_conn);
  row(r, "server RSS per idle connection (bytes)", fmt(per_conn, 0), per_conn, "lower");
  row(r, "server RSS before / after (MiB)", fmt(before.rss_kb / 1024.0, 1) + " / " + fmt(after.rss_kb / 1024.0, 1), no_ratio, "");
  log(c, "idle", fmt(per_conn, 0) + " bytes of server RSS per connection");

  // Are they all still alive? One event must reach every one of them.
  PublishPlan plan;
  plan.count = 1;
  L.publish(plan);
  L.wait_delivered(s_to_ns(20), s_to_ns(5));
  finish(r, L, subs, ready);
  return r;
}

// 4 -----------------------------------------------------------------------------------
ScenarioResult run_many_topics(const RunConfig& c) {
  ScenarioResult r;
  r.scenario = "many_topics";
  std::size_t subs = pick(c.subscribers, c, 10000, 1000);
  std::size_t topics = pick(c.topics, c, subs, subs);
  std::size_t pubs = pick(c.publishers, c, 4, 2);
  std::size_t depth = pick(c.pipeline, c, 8, 8);
  double duration = pick(c.duration_s, c, 10, 2);
  std::uint64_t outstanding = pick(c.max_outstanding, c, 200000, 200000);
  r.params.set("subscribers", static_cast<std::uint64_t>(subs)).set("topics", static_cast<std::uint64_t>(topics))
      .set("publishers", static_cast<std::uint64_t>(pubs)).set("pipeline", static_cast<std::uint64_t>(depth))
      .set("duration_s", duration).set("max_outstanding_deliveries", outstanding);

  Loader L = make_loader(c);
  L.make_topics(topics);
  L.add_subscribers(subs, [topics](std::size_t i) { return static_cast<std::uint32_t>(i % topics); });
  L.add_publishers(pubs, depth);
  L.connect_publishers(s_to_ns(10));
  std::size_t ready = connect_all(c, L, "many_topics", subs, r);
  L.loop().run_for(ms_to_ns(300));

  Watch w(c.server_pid);
  w.start();
  PublishPlan plan;
  plan.duration_ns = s_to_ns(duration);
  plan.max_outstanding = outstanding;
  PublishResult p = L.publish(plan);
  L.wait_delivered(s_to_ns(30), s_to_ns(5));
  w.stop();
  std::uint64_t deliveries = L.unique_total();
  double span = ns_to_s(std::max(L.last_delivery_ns(), p.started_ns + 1) - p.started_ns);
  double pub_s = p.acked / ns_to_s(p.issue_ns);
  double cpu_per_m = deliveries ? w.window.cpu_s() / (deliveries / 1e6) : 0;
  r.metrics.set("published", p.acked).set("publishes_per_s", pub_s).set("deliveries", deliveries)
      .set("deliveries_per_s", deliveries / span).set("cpu_s_per_million_deliveries", cpu_per_m);
  add_server(r, w, "publishing until all delivered");
  row(r, "publishes/s (= deliveries/s)", fmt(pub_s, 0), pub_s, "higher");
  row(r, "server CPU s per million deliveries", fmt(cpu_per_m, 3), cpu_per_m, "lower");
  row(r, "server CPU utilisation (%)", fmt(100 * w.window.utilisation(), 0), 100 * w.window.utilisation(), "");
  add_latency(r, L.latency(), "latency", false);
  log(c, "many_topics", fmt(pub_s, 0) + " publishes/s");
  finish(r, L, subs, ready);
  return r;
}

// 5 -----------------------------------------------------------------------------------
ScenarioResult run_publish(const RunConfig& c) {
  ScenarioResult r;
  r.scenario = "publish";
  std::size_t pubs = pick(c.publishers, c, 64, 16);
  std::size_t depth = pick(c.pipeline, c, 1, 1);
  std::size_t topics = pick(c.topics, c, 10, 10);
  std::size_t subs = pick(c.subscribers, c, topics, topics);
  double duration = pick(c.duration_s, c, 10, 2);
  r.params.set("publishers", static_cast<std::uint64_t>(pubs)).set("pipeline", static_cast<std::uint64_t>(depth))
      .set("topics", static_cast<std::uint64_t>(topics)).set("subscribers", static_cast<std::uint64_t>(subs)).set("duration_s", duration);

  Loader L = make_loader(c);
  L.make_topics(topics);
  L.add_subscribers(subs, [topics](std::size_t i) { return static_cast<std::uint32_t>(i % topics); });
  L.add_publishers(pubs, depth);
  L.connect_publishers(s_to_ns(10));
  std::size_t ready = connect_all(c, L, "publish", subs, r);
  L.loop().run_for(ms_to_ns(300));

  Watch w(c.server_pid);
  w.start();
  PublishPlan plan;
  plan.duration_ns = s_to_ns(duration);
  PublishResult p = L.publish(plan);
  w.stop();
  L.wait_delivered(s_to_ns(30), s_to_ns(5));
  double pub_s = p.acked / ns_to_s(p.issue_ns);
  double cpu_per_m = p.acked ? w.window.cpu_s() / (p.acked / 1e6) : 0;
  r.metrics.set("published", p.acked).set("publishes_per_s", pub_s).set("cpu_s_per_million_publishes", cpu_per_m)
      .set("deliveries", L.unique_total());
  add_server(r, w, "publishing");
  row(r, "publishes/s", fmt(pub_s, 0), pub_s, "higher");
  row(r, "server CPU s per million publishes", fmt(cpu_per_m, 2), cpu_per_m, "lower");
  add_latency(r, L.publish_rtt(), "publish_rtt", false);
  log(c, "publish", fmt(pub_s, 0) + " publishes/s");
  finish(r, L, subs, ready);
  return r;
}

// 6 -----------------------------------------------------------------------------------
ScenarioResult run_reconnect(const RunConfig& c) {
  ScenarioResult r;
  r.scenario = "reconnect";
  std::size_t subs = pick(c.subscribers, c, 5000, 500);
  std::size_t missed = pick(c.events, c, 100, 100);
  const std::size_t warmup = 5;
  r.params.set("subscribers", static_cast<std::uint64_t>(subs)).set("topics", 1).set("missed_events", static_cast<std::uint64_t>(missed));

  Loader L = make_loader(c);
  L.make_topics(1);
  L.add_subscribers(subs, [](std::size_t) { return 0u; });
  L.add_publishers(1, 16);
  L.connect_publishers(s_to_ns(10));
  std::size_t ready = connect_all(c, L, "reconnect", subs, r);
  L.loop().run_for(ms_to_ns(300));

  // Every subscriber gets a few events, so it has a Last-Event-ID to resume from.
  PublishPlan first;
  first.count = warmup;
  L.publish(first);
  L.wait_delivered(s_to_ns(20), s_to_ns(5));
  std::uint64_t before_drop = L.unique_total();

  // All drop; the topic moves on while they are away.
  L.close_subscribers();
  L.loop().run_for(s_to_ns(1));
  PublishPlan away;
  away.count = missed;
  L.publish(away);

  Watch w(c.server_pid);
  w.start();
  std::int64_t t0 = now_ns();
  std::size_t back = L.connect_subscribers(0, subs, subs, s_to_ns(60), /*resume=*/true);
  std::int64_t t_connected = now_ns();
  bool caught_up = L.wait_delivered(s_to_ns(60), s_to_ns(10));
  std::int64_t t_caught = caught_up ? std::max(L.last_delivery_ns(), t_connected) : now_ns();
  w.stop();
  double reconnect_s = ns_to_s(t_connected - t0);
  double catch_up_s = ns_to_s(t_caught - t0);
  r.metrics.set("reconnected", static_cast<std::uint64_t>(back)).set("all_reconnected_s", reconnect_s)
      .set("all_caught_up_s", catch_up_s).set("caught_up", caught_up).set("replayed", L.unique_total() - before_drop);
  add_server(r, w, "reconnect until caught up");
  row(r, "time until all caught up (ms)", fmt(catch_up_s * 1000, 0), catch_up_s * 1000, "lower");
  row(r, "time until all reconnected (ms)", fmt(reconnect_s * 1000, 0), reconnect_s * 1000, "lower");
  row(r, "server CPU s for the storm", fmt(w.window.cpu_s(), 2), w.window.cpu_s(), "lower");
  if (!caught_up) problem(r, true, "not every subscriber caught up");
  log(c, "reconnect", std::to_string(back) + " back in " + fmt(reconnect_s * 1000, 0) + " ms, caught up in " +
                          fmt(catch_up_s * 1000, 0) + " ms");
  finish(r, L, subs, std::min(ready, back));
  return r;
}

// 7 -----------------------------------------------------------------------------------
ScenarioResult run_scale(const RunConfig& c) {
  ScenarioResult r;
  r.scenario = "scale";
  std::size_t subs = pick(c.subscribers, c, 19000, 2000);
  std::size_t topics = pick(c.topics, c, 100, 20);
  double rate = pick(c.rate, c, 10, 10);
  double hold = pick(c.hold_s, c, 60, 6);
  r.params.set("subscribers", static_cast<std::uint64_t>(subs)).set("topics", static_cast<std::uint64_t>(topics))
      .set("rate_per_s", rate).set("hold_s", hold);

  Loader L = make_loader(c);
  L.make_topics(topics);
  L.add_subscribers(subs, [topics](std::size_t i) { return static_cast<std::uint32_t>(i % topics); });
  L.add_publishers(1, 1u << 20);
  L.connect_publishers(s_to_ns(10));
  ProcStats server(c.server_pid);
  ProcSample baseline = server.sample();
  std::size_t ready = connect_all(c, L, "scale", subs, r);
  L.loop().run_for(ms_to_ns(500));

  Watch w(c.server_pid);
  w.start();
  PublishPlan plan;
  plan.mode = PublishPlan::Mode::rate;
  plan.rate = rate;
  plan.count = static_cast<std::uint64_t>(rate * hold);
  plan.duration_ns = s_to_ns(hold);
  L.publish(plan);
  // Hold the rest of the time, if publishing finished early.
  std::int64_t hold_end = w.window.t0 + s_to_ns(hold);
  if (now_ns() < hold_end) L.loop().run_for(hold_end - now_ns());
  w.stop();
  std::size_t still = L.ready_subscribers();
  L.wait_delivered(s_to_ns(20), s_to_ns(5));
  Delivery d = L.delivery();
  double per_conn = ready ? (w.window.before.rss_kb - baseline.rss_kb) * 1024.0 / static_cast<double>(ready) : 0;
  double hb = subs ? static_cast<double>(d.heartbeats) / static_cast<double>(subs) : 0;
  r.metrics.set("rss_baseline_kb", static_cast<std::int64_t>(baseline.rss_kb))
      .set("rss_start_kb", static_cast<std::int64_t>(w.window.before.rss_kb))
      .set("rss_end_kb", static_cast<std::int64_t>(w.window.after.rss_kb))
      .set("rss_bytes_per_connection", per_conn)
      .set("streaming_at_end", static_cast<std::uint64_t>(still))
      .set("heartbeats_per_subscriber", hb)
      .set("min_heartbeats", d.min_heartbeats);
  add_server(r, w, "hold");
  row(r, "subscribers streaming at end", std::to_string(still) + " / " + std::to_string(subs), static_cast<double>(still), "higher");
  row(r, "server RSS start / end (MiB)", fmt(w.window.before.rss_kb / 1024.0, 1) + " / " + fmt(w.window.after.rss_kb / 1024.0, 1),
      no_ratio, "");
  row(r, "server RSS at end (MiB)", fmt(w.window.after.rss_kb / 1024.0, 1), w.window.after.rss_kb / 1024.0, "lower");
  row(r, "server CPU s during hold", fmt(w.window.cpu_s(), 2), w.window.cpu_s(), "lower");
  row(r, "heartbeats per subscriber (min)", fmt(hb, 1) + " (" + std::to_string(d.min_heartbeats) + ")", hb, "");
  if (hold >= 12 && d.min_heartbeats == 0) problem(r, false, "some subscriber received no heartbeat");
  if (still < ready) problem(r, true, std::to_string(ready - still) + " streams gone by the end of the hold");
  log(c, "scale", std::to_string(still) + " streams held, RSS " + fmt(w.window.before.rss_kb / 1024.0, 1) + " -> " +
                      fmt(w.window.after.rss_kb / 1024.0, 1) + " MiB");
  finish(r, L, subs, ready);
  return r;
}

}  // namespace

ScenarioResult run_smoke(const RunConfig& c) {
  ScenarioResult r;
  r.scenario = "smoke";
  const std::size_t topics = 4, subs = 40, first_batch = 300, second_batch = 60;
  r.params.set("topics", static_cast<std::uint64_t>(topics)).set("subscribers", static_cast<std::uint64_t>(subs));
  Loader L = make_loader(c);
  L.make_topics(topics);
  L.add_subscribers(subs, [&](std::size_t i) { return static_cast<std::uint32_t>(i % topics); });
  L.add_publishers(2, 4);
  if (!L.connect_publishers(s_to_ns(5))) problem(r, true, "publishers could not connect");
  std::size_t ready = L.connect_subscribers(0, subs, subs, s_to_ns(10));
  L.loop().run_for(ms_to_ns(200));

  PublishPlan plan;
  plan.count = first_batch;
  L.publish(plan, s_to_ns(10));
  L.wait_delivered(s_to_ns(10), s_to_ns(3));

  // Half the subscribers leave, miss some events, and resume with Last-Event-ID.
  for (std::size_t i = 0; i < subs; i += 2) L.subscribers()[i]->close();
  L.loop().run_for(ms_to_ns(200));
  plan.count = second_batch;
  L.publish(plan, s_to_ns(10));
  for (std::size_t i = 0; i < subs; i += 2) L.subscribers()[i]->start(true);
  L.loop().run_until([&] { return L.ready_subscribers() == subs; }, now_ns() + s_to_ns(10));
  L.wait_delivered(s_to_ns(10), s_to_ns(3));
  r.metrics.set("deliveries", L.unique_total());
  add_latency(r, L.latency(), "latency", false);
  finish(r, L, subs, ready);
  if (L.ready_subscribers() < subs) problem(r, true, "not every subscriber resumed");
  if (r.delivery.expected != (first_batch + second_batch) * (subs / topics))
    problem(r, true, "fewer publishes acknowledged than sent");
  return r;
}

JsonObject ScenarioResult::to_json() const {
  JsonObject delivery_json;
  delivery_json.set("subscribers", delivery.subscribers).set("expected", delivery.expected).set("delivered", delivery.delivered)
      .set("unique", delivery.unique).set("lost", delivery.lost).set("duplicated", delivery.duplicated)
      .set("out_of_order", delivery.out_of_order).set("id_order_errors", delivery.id_order_errors)
      .set("unexpected", delivery.unexpected).set("foreign", delivery.foreign).set("truncated_notices", delivery.truncated)
      .set("heartbeats", delivery.heartbeats);
  JsonObject errors_json;
  errors_json.set("connect_failures", errors.connect_failures).set("http_errors", errors.http_errors)
      .set("protocol_errors", errors.protocol_errors).set("disconnects", errors.disconnects).set("reconnects", errors.reconnects)
      .set("gave_up", errors.gave_up).set("publish_failures", errors.publish_failures).set("publish_lost", errors.publish_lost)
      .set("publisher_disconnects", errors.publisher_disconnects);
  std::vector<JsonObject> rows;
  for (const TableRow& t : table) {
    JsonObject o;
    o.set("metric", t.metric).set("display", t.display).set("value", t.value).set("better", t.better);
    rows.push_back(std::move(o));
  }
  std::string problems_json = "[";
  for (std::size_t i = 0; i < problems.size(); ++i) {
    if (i) problems_json += ',';
    problems_json += JsonObject::quote(problems[i]);
  }
  problems_json += ']';
  JsonObject out;
  out.set("scenario", scenario).set("target", target).set("ok", ok).set("params", params).set("metrics", metrics)
      .set("delivery", delivery_json).set("errors", errors_json).set("table", rows).raw("problems", problems_json);
  return out;
}

const std::vector<ScenarioInfo>& scenarios() {
  static const std::vector<ScenarioInfo> list = {
      {"fanout", "1,000 subscribers on one topic, publishing as fast as delivery keeps up: deliveries/s, CPU per million", run_fanout},
      {"latency", "1,000 subscribers, 100 events/s for 10 s: publish-to-receive p50/p99/p99.9/max", run_latency},
      {"idle", "10,000 idle subscribers: server RSS per connection", run_idle},
      {"many_topics", "10,000 subscribers each on its own topic, events round-robin over the topics", run_many_topics},
      {"publish", "64 concurrent publishers, 10 subscribers: publishes/s and publish round trip", run_publish},
      {"reconnect", "5,000 subscribers drop, miss 100 events, reconnect at once with Last-Event-ID", run_reconnect},
      {"scale", "~19,000 subscribers held for a minute with heartbeats and a trickle of events", run_scale},
  };
  return list;
}

}  // namespace bench
