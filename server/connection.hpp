#pragma once
#include <array>
#include <memory>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include "broker/event.hpp"
#include "config/settings.hpp"
#include "server/connection_slot.hpp"
#include "server/request_router.hpp"
#include "server/transport.hpp"

namespace herald {

class Shard;

/// An accepted connection while it speaks plain HTTP/1.x (over TCP or TLS): reads requests (keep-alive and
/// pipelining), answers them, and hands its transport to a StreamSession when a request opens
/// a stream. Lives on its shard's thread. Deadlines are enforced by the shard's timer
/// through check_deadline(), not by a timer per connection.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  /// `reject_status` non-zero: answer only that refusal (see rejection()), after the TLS handshake.
  Connection(Shard& shard, const Settings& settings, const RequestRouter& router, Transport transport,
             ConnectionSlot slot, int reject_status = 0);

  ~Connection();
  asio::awaitable<void> run();
  /// Cancels the pending read when the current phase's deadline has passed. The read loop
  /// checks the deadline too: a read that completes at once is never cancelled.
  void check_deadline(Clock::time_point now);
  /// Cancels pending work; the connection closes (shutdown).
  void close();

  std::size_t slot_ = 0;  ///< position in the shard's connection list

 private:
  asio::awaitable<bool> send(std::string bytes);
  asio::awaitable<void> linger();
  asio::awaitable<bool> handshake();
  IpAddress peer_address();
  /// Starts a phase's deadline; the previous phase's timeout no longer counts.
  void set_deadline(Clock::time_point deadline) {
    deadline_ = deadline;
    timed_out_ = false;
  }
  /// Whether the current phase's deadline has passed (the timer saw it, or it is past now).
  bool deadline_passed() const { return timed_out_ || Clock::now() >= deadline_; }

  Shard& shard_;
  const Settings& settings_;
  const RequestRouter& router_;
  Transport transport_;
  ConnectionSlot slot_guard_;
  int reject_status_;
  Clock::time_point deadline_;
  bool timed_out_ = false;
  std::array<char, 4096> read_buffer_;
};

}  // namespace herald
