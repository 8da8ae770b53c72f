#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "broker/broker.hpp"
#include "config/settings.hpp"
#include "server/connection_slot.hpp"
#include "server/request_router.hpp"
#include "server/shard_stats.hpp"
#include "server/slot_list.hpp"
#include "server/transport.hpp"

namespace herald {

class Connection;
class StreamSession;

/// The whole response for a connection refused at accept: 503 (server full) or 429 (client full).
const std::string& rejection(int status);

/// One I/O thread and everything it owns: an io_context, the connections accepted onto it,
/// its streams and its index from topic to local streams. Nothing here is shared with other
/// shards; the only way in from another thread is wake() and shutdown(), which post.
///
/// One timer per shard drives heartbeats and request deadlines for all its connections.
class Shard {
 public:
  Shard(std::size_t index, Broker& broker, const Settings& settings, const RequestRouter& router, Hub& hub);
  ~Shard();

  asio::io_context& context() { return context_; }
  void start();
  void join();

  /// Any thread: the broker put events in this shard's mailbox.
  void wake();
  /// Any thread: end every stream cleanly and close idle connections.
  void shutdown();
  /// Shard thread: shutdown() has run; a connection starting now closes at once.
  bool stopping() const { return stopping_; }

  // Shard thread only.
  /// A new connection; `tls` set: HTTPS with this context.
  void accept(asio::ip::tcp::socket socket, std::shared_ptr<asio::ssl::context> tls, ConnectionSlot slot);
  /// Answers `status` (503: server full, 429: client full) and closes.
  /// Over TLS the answer waits for a handshake; past max_tls_refusals of those at once, the
  /// connection is closed unanswered, so refusals cannot hold descriptors beyond the limits.
  void reject(asio::ip::tcp::socket socket, std::shared_ptr<asio::ssl::context> tls, int status);
  /// A TLS refusal's connection ended (Connection's destructor).
  void tls_refusal_done() { --tls_refusals_; }
  static constexpr std::size_t max_tls_refusals = 64;
  void open_stream(Transport transport, ConnectionSlot slot, StreamRequest request);
  void remove_stream(StreamSession* stream);
  void add_connection(Connection* connection);
  void remove_connection(Connection* connection);
  void mark_dirty(StreamSession* stream) { dirty_.push_back(stream); }
  ShardStats& stats() { return stats_; }
  const ShardStats& stats() const { return stats_; }

 private:
  /// Takes `stream` out of the topic index.
  void unindex(StreamSession* stream);
  /// Runs a connection's coroutine, logging an exception that escapes it.
  void spawn(std::shared_ptr<Connection> connection);
  void drain();
  void take_mailbox();
  void flush_dirty();
  void schedule_tick();
  void tick();

  std::size_t index_;
  Broker& broker_;
  const Settings& settings_;
  const RequestRouter& router_;
  Hub& hub_;
  Clock::time_point next_flush_;
  bool flush_scheduled_ = false;
  Clock::duration tick_interval_;
  std::thread thread_;
  bool stopping_ = false;
  std::size_t tls_refusals_ = 0;  ///< TLS connections refused but not yet answered and closed

  SlotList<Connection*> connections_;
  /// A stream following a topic, and whether it may receive that topic's private events.
  struct Subscriber {
    StreamSession* stream;
    bool may_read_private;
  };
  std::unordered_map<std::string, std::vector<Subscriber>> subscribers_;
  std::vector<EventPtr> inbox_;
  std::vector<StreamSession*> dirty_;
  std::vector<StreamSession*> stats_streams_;  ///< /stats/stream subscribers
  Clock::time_point next_stats_;
  EventPtr stream_open_;
  EventPtr heartbeat_;
  ShardStats stats_;

  // Members are destroyed in reverse order. The context goes before everything above:
  // destroying it destroys suspended coroutines, whose cleanup still uses the connection list
  // and counters. What owns its sockets and timers goes before the context.
  asio::io_context context_{1};
  SlotList<std::shared_ptr<StreamSession>> streams_;
  asio::steady_timer tick_timer_{context_};
  asio::steady_timer flush_timer_{context_};  ///< one per shard: the end of the write batch window
};

}  // namespace herald
