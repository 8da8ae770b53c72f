#include "server/server.hpp"

#include <chrono>
#include <ctime>
#include <fstream>
#include <iterator>
#include <system_error>
#include <thread>

#include <sys/resource.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "auth/jwt_verifier.hpp"
#include "config/settings_loader.hpp"
#include "server/log_exceptions.hpp"
#include "server/shard.hpp"
#include "server/tls_context.hpp"

namespace herald {

namespace {

std::uint64_t first_event_id() {
  // Ids continue upwards across restarts: starting from the clock in microseconds, a client
  // resuming with an id from an earlier run is never mistaken for one that is up to date.
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now).count());
}

std::unique_ptr<JwtVerifier> make_verifier(const Settings& s) {
  auto leeway = std::chrono::duration_cast<std::chrono::seconds>(s.jwt_leeway);
  if (!s.jwt_secret.empty()) {
    if (s.jwt_secret.size() < 32) throw SettingsError("invalid jwt-secret: use at least 32 bytes for HS256");
    return JwtVerifier::with_secret(s.jwt_secret, leeway);
  }
  if (s.jwt_public_key.empty()) return nullptr;
  std::ifstream in(s.jwt_public_key);
  if (!in) throw SettingsError("invalid jwt-public-key: cannot read '" + s.jwt_public_key + "'");
  std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    return JwtVerifier::with_public_key_pem(pem, leeway);
  } catch (const std::exception& e) {
    throw SettingsError("invalid jwt-public-key '" + s.jwt_public_key + "': " + e.what());
  }
}

BrokerOptions broker_options(const Settings& s) {
  BrokerOptions o;
  o.history_size = s.history_size;
  o.history_max_age = s.history_max_age;
  o.first_id = first_event_id();
  o.shards = s.effective_threads();
  o.max_topics = s.max_topics;
  return o;
}

}  // namespace

Server::Server(Settings settings)
    : settings_(std::move(settings)),
      broker_(broker_options(settings_)),
      limiter_(settings_.max_connections, settings_.max_connections_per_client),
      verifier_(make_verifier(settings_)),
      router_(settings_, *this, verifier_.get()),
      stats_cache_([this] { return compute_stats(); }),
      tls_(make_tls_context(settings_)) {
  for (std::size_t i = 0; i < broker_.shard_count(); ++i)
    shards_.push_back(std::make_unique<Shard>(i, broker_, settings_, router_, *this));
}

Server::~Server() {
  for (auto& shard : shards_) shard->context().stop();
  for (auto& shard : shards_) shard->join();
}

std::uint16_t Server::listen(std::unique_ptr<asio::ip::tcp::acceptor>& acceptor, std::uint16_t port, const char* what) {
  try {
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address(settings_.host), port);
    acceptor = std::make_unique<asio::ip::tcp::acceptor>(shards_.front()->context());
    acceptor->open(endpoint.protocol());
    acceptor->set_option(asio::ip::tcp::acceptor::reuse_address(true));
    acceptor->bind(endpoint);
    acceptor->listen(asio::socket_base::max_listen_connections);
    return acceptor->local_endpoint().port();
  } catch (const std::system_error& e) {
    // Name the listener that failed: with two of them, the port in the settings is not enough.
    std::string host = settings_.host.find(':') == std::string::npos ? settings_.host : "[" + settings_.host + "]";
    throw std::system_error(e.code(), fmt::format("cannot listen on {}:{} ({})", host, port, what));
  }
}

void Server::start() {
  auto& context = shards_.front()->context();
  if (settings_.plain_http || !tls_) port_ = listen(acceptor_, settings_.port, "http");
  if (tls_) tls_port_ = listen(tls_acceptor_, settings_.tls_port, "https");
  // An accept loop that throws is restarted: a server that silently stops accepting is worse
  // than a log line a second.
  constexpr auto restart_pause = std::chrono::seconds(1);
  if (acceptor_)
    asio::co_spawn(context,
                   supervise("http accept loop", [this] { return accept_loop(*acceptor_, false); }, restart_pause),
                   LogExceptions("http accept loop"));
  if (tls_acceptor_)
    asio::co_spawn(context,
                   supervise("https accept loop", [this] { return accept_loop(*tls_acceptor_, true); }, restart_pause),
                   LogExceptions("https accept loop"));
  if (settings_.demo) asio::co_spawn(context, demo_loop(), LogExceptions("demo loop"));
  // Logged before the threads start, so it is the first line whatever clients do.
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  std::string host = settings_.host.find(':') == std::string::npos ? settings_.host : "[" + settings_.host + "]";
  std::string where;
  if (acceptor_) where = fmt::format("{}:{}{}", host, port_, tls_acceptor_ ? " (http)" : "");
  if (tls_acceptor_) where += fmt::format("{}{}:{} (https)", where.empty() ? "" : " and ", host, tls_port_);
  spdlog::info("herald listening on {} with {} threads (open files limit {}); settings {}", where, shards_.size(),
               static_cast<unsigned long long>(files.rlim_cur),
               settings_to_json(settings_).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  for (auto& shard : shards_) shard->start();
}

std::shared_ptr<asio::ssl::context> Server::tls_context() const {
  std::lock_guard lock(tls_mutex_);
  return tls_;
}

void Server::reload_tls() {
  if (!tls_acceptor_) return;
  std::shared_ptr<asio::ssl::context> fresh = make_tls_context(settings_);
  std::lock_guard lock(tls_mutex_);
  tls_ = std::move(fresh);
}

asio::awaitable<void> Server::accept_loop(asio::ip::tcp::acceptor& acceptor, bool https) {
  constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
  std::size_t next = 0;
  for (;;) {
    Shard& target = *shards_[next++ % shards_.size()];
    auto [ec, socket] = co_await acceptor.async_accept(target.context(), use_tuple);
    if (!acceptor.is_open()) co_return;
    if (ec) {
      // Out of file descriptors or similar: say so once per pause, don't spin.
      spdlog::error("accept failed: {}", ec.message());
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    std::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    counters_.accepted_connections.fetch_add(1, std::memory_order_relaxed);
    auto peer = socket.remote_endpoint(ignored).address();
    std::shared_ptr<asio::ssl::context> tls = https ? tls_context() : nullptr;
    ConnectionSlot slot;
    auto verdict = limiter_.try_acquire(peer, slot);
    if (verdict != ConnectionLimiter::Verdict::accepted) {
      bool server_full = verdict == ConnectionLimiter::Verdict::server_full;
      // One line per second at most: a flood of refusals must not flood the log.
      if (auto now = Clock::now(); now >= next_limit_log_) {
        next_limit_log_ = now + std::chrono::seconds(1);
        if (server_full) spdlog::warn("connection limit ({}) reached: answering 503", settings_.max_connections);
        else spdlog::warn("{} is at its connection limit ({}): answering 429", peer.to_string(),
                          settings_.max_connections_per_client);
      }
      asio::post(target.context(), [&target, s = std::move(socket), server_full, tls = std::move(tls)]() mutable {
        target.reject(std::move(s), std::move(tls), server_full ? 503 : 429);
      });
      continue;
    }
    asio::post(target.context(), [&target, s = std::move(socket), slot = std::move(slot), tls = std::move(tls)]() mutable {
      target.accept(std::move(s), std::move(tls), std::move(slot));
    });
  }
}

asio::awaitable<void> Server::demo_loop() {
  // The classic first demo: the server's clock, published to topic "time".
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (accepting()) {
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
    publish({Message{{"time"}, "", fmt::format("{}.{:03}Z", text, ms % 1000)}});
    timer.expires_after(std::chrono::seconds(2));
    auto [ec] = co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
}

void Server::stop() {
  drain();
  if (!accepting_.exchange(false)) return;
  asio::post(shards_.front()->context(), [this] {
    std::error_code ignored;
    if (acceptor_) acceptor_->close(ignored);
    if (tls_acceptor_) tls_acceptor_->close(ignored);
  });
  for (auto& shard : shards_) shard->shutdown();
  std::lock_guard lock(stop_mutex_);
  stop_requested_ = true;
  stop_cv_.notify_all();
}

void Server::wait() {
  {
    std::unique_lock lock(stop_mutex_);
    stop_cv_.wait(lock, [this] { return stop_requested_; });
  }
  // Streams end after their queued bytes; give slow readers a bounded grace period.
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (limiter_.open() > 0 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (auto& shard : shards_) shard->context().stop();
  for (auto& shard : shards_) shard->join();
}

ServerFigures Server::figures() const {
  ServerFigures f;
  f.uptime_seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  f.connections_open = limiter_.open();
  f.connections_accepted = counters_.accepted_connections.load(std::memory_order_relaxed);
  for (const auto& shard : shards_) f.add(shard->stats());
  f.topics = broker_.topic_count();
  f.topic_limit_refusals = broker_.topic_limit_refusals();
  f.events_published = broker_.published();
  f.last_event_id = f.events_published ? broker_.last_id() : 0;
  if (!settings_.metrics_topics.empty()) f.labelled_topics = broker_.topic_infos(settings_.metrics_topics);
  return f;
}

std::string Server::metrics() const { return render_prometheus(figures()); }

std::string Server::compute_stats() const {
  constexpr std::size_t listed = 100;
  nlohmann::json out = figures_to_json(figures());
  std::size_t total = 0;
  // /stats is open to anyone: private topics' names stay out of the list (the totals count them).
  TopicFilter is_public;
  if (!settings_.private_topics.empty())
    is_public = [this](std::string_view name) { return !topic_allowed(settings_.private_topics, name); };
  out["topic_list"] = topics_to_json(broker_.busiest_topics(listed, total, is_public));
  out["topic_list_truncated"] = total > listed;
  out["demo"] = settings_.demo;
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<std::vector<std::uint64_t>> Server::publish(const std::vector<Message>& messages) {
  std::vector<bool> wake;
  auto ids = broker_.publish(messages, wake);
  for (std::size_t i = 0; i < wake.size(); ++i)
    if (wake[i]) shards_[i]->wake();
  return ids;
}

}  // namespace herald
