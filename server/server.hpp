#pragma once
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>

#include "broker/broker.hpp"
#include "config/settings.hpp"
#include "server/connection_slot.hpp"
#include "server/metrics.hpp"
#include "server/request_router.hpp"
#include "server/server_counters.hpp"
#include "server/stats_cache.hpp"

namespace herald {

class Shard;

/// The running server: the broker, one shard per thread, and the acceptor that spreads new
/// connections over the shards round-robin.
class Server : public Hub {
 public:
  /// Throws SettingsError when the authorization key cannot be used.
  explicit Server(Settings settings);
  ~Server() override;

  /// Binds and starts the threads. Throws std::system_error, naming the address and port, if
  /// a listener cannot be bound.
  void start();
  /// The bound ports (useful with port 0); 0 for a listener that is off.
  std::uint16_t port() const { return port_; }
  std::uint16_t tls_port() const { return tls_port_; }
  /// Any thread: /readyz answers 503 from now on, so load balancers stop sending work, while
  /// everything else is still served.
  void drain() { ready_.store(false, std::memory_order_relaxed); }
  /// Any thread: reads the certificate and key files again for new TLS connections (open
  /// ones keep theirs). Throws SettingsError, keeping the current ones, if they are unusable.
  void reload_tls();
  bool tls() const { return tls_acceptor_ != nullptr; }
  /// Any thread: stop accepting and end streams.
  void stop();
  /// Blocks until stop() was called and connections ended (or the grace period passed).
  void wait();

  std::optional<std::vector<std::uint64_t>> publish(const std::vector<Message>& messages) override;
  bool accepting() const override { return accepting_.load(std::memory_order_relaxed); }
  bool ready() const override { return ready_.load(std::memory_order_relaxed); }
  std::string metrics() const override;
  /// Exact at the time of asking; requests that arrive together share one computation.
  std::string stats() const override { return stats_cache_.get(Clock::duration::zero())->json; }
  /// Every shard's streams tick about once a second: 900 ms lets each tick see new figures
  /// while all shards share one computation (and one frame) per tick.
  EventPtr stats_frame() const override { return stats_cache_.get(std::chrono::milliseconds(900))->frame; }
  /// Every shard's counters summed with the broker's, at this moment. Any thread.
  ServerFigures figures() const;

 private:
  /// Binds one listener (`what`: "http" or "https"); returns its port. Throws
  /// std::system_error naming the address and port that failed.
  std::uint16_t listen(std::unique_ptr<asio::ip::tcp::acceptor>& acceptor, std::uint16_t port, const char* what);
  /// `tls`: accept HTTPS with the current TLS context.
  asio::awaitable<void> accept_loop(asio::ip::tcp::acceptor& acceptor, bool tls);
  std::shared_ptr<asio::ssl::context> tls_context() const;
  asio::awaitable<void> demo_loop();
  /// The /stats JSON, computed afresh (the cache calls it).
  std::string compute_stats() const;

  Settings settings_;
  Broker broker_;
  ServerCounters counters_;
  ConnectionLimiter limiter_;
  std::unique_ptr<JwtVerifier> verifier_;  ///< null: authorization off
  RequestRouter router_;
  mutable StatsCache stats_cache_;
  std::vector<std::unique_ptr<Shard>> shards_;
  mutable std::mutex tls_mutex_;  ///< guards tls_: swapped by reload_tls(), read once per accept
  std::shared_ptr<asio::ssl::context> tls_;  ///< null: TLS off
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;      ///< plain HTTP; null when off
  std::unique_ptr<asio::ip::tcp::acceptor> tls_acceptor_;  ///< HTTPS; null when off
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  Clock::time_point started_ = Clock::now();
  Clock::time_point next_limit_log_;  ///< accept loop only
  std::atomic<bool> accepting_{true};
  std::atomic<bool> ready_{true};
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;
};

}  // namespace herald
