#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/transport.hpp"

#include "broker/broker.hpp"
#include "server/connection_slot.hpp"

namespace herald {

class Shard;

/// One open SSE stream. Lives on its shard's thread and is touched by no other.
///
/// Events are queued as shared, already-encoded frames; whatever is queued while a write is
/// in flight goes out as one gathered write (one chunk) when it completes. The queue behind
/// the write is bounded: past its byte budget the stream is closed, and the client reconnects
/// and replays from history, so a slow reader costs neither unbounded memory (at most about
/// twice the budget: the queue and the write before it) nor other clients' time. The replay
/// is the stream's first write: its frames are shared with history, so it needs no budget.
/// Under TLS the write is copied and encrypted one record-sized piece at a time, so a
/// stream's own copy stays at tls_piece_bytes whatever the size of its write.
class StreamSession : public std::enable_shared_from_this<StreamSession> {
 public:
  StreamSession(Shard& shard, Transport transport, ConnectionSlot slot, std::vector<std::string> topics,
                bool chunked, std::size_t max_pending_bytes);

  /// Writes `head` (the HTTP response head) and `opening` frames (retry, notice, replay)
  /// and starts watching the socket. Events with id <= cursor are skipped afterwards.
  void start(std::string head, const std::vector<EventPtr>& opening, std::uint64_t cursor);

  /// Instead of start(): writes `response` (a complete HTTP response that closes the
  /// connection) and closes. The stream subscribed to nothing and leaves nothing to undo.
  void refuse(std::string response);

  /// A live event for one of this stream's topics; skipped if already sent (an event on
  /// several topics, or one the replay covered).
  /// Returns whether the event was queued.
  bool deliver(const EventPtr& event);
  /// Queues a frame of Herald's own (stats) regardless of the cursor.
  void push(const EventPtr& frame);
  /// Starts a write if anything is queued and none is in flight; closes an overflowed stream.
  void flush();
  /// Queues `comment` if nothing was written since `idle_since`.
  void heartbeat(Clock::time_point idle_since, const EventPtr& comment);
  /// Ends the stream cleanly after what is queued (shutdown, token expiry).
  void finish();
  void close();
  /// Shard timer: closes the stream if its write has not progressed for `write_timeout`;
  /// at the token's warning time queues its notice, at its end finishes the stream.
  /// Returns false once the stream is closed or finishing.
  bool check_deadlines(Clock::time_point now, Clock::duration write_timeout);
  /// A stream whose token grants something ends at `end`; `notice` is queued at `warn_at`.
  void set_token_expiry(Clock::time_point warn_at, Clock::time_point end, EventPtr notice);

  /// Under TLS, the most of a write copied at once: one TLS record's worth.
  static constexpr std::size_t tls_piece_bytes = 16 * 1024;
  /// Bytes a stream's client may send after its request before the stream is closed: room
  /// for a pipelined request or two, nothing like a flood.
  static constexpr std::size_t max_client_bytes = 4 * 1024;

  const std::vector<std::string>& topics() const { return topics_; }
  /// Waiting in the shard's list of streams to flush.
  bool dirty() const { return marked_dirty_; }
  std::size_t slot_ = 0;  ///< position in the shard's stream list

 private:
  void enqueue(const EventPtr& event);
  void write();
  void write_some();
  /// TLS: copies the next piece of the gather list into tls_piece_.
  void stage_tls_piece();
  void on_written(const std::error_code& ec, std::size_t n);
  /// Nothing left to write: gives back what a large write grew.
  void release_write_buffers();
  void watch_peer();
  void watch_tls_peer(std::shared_ptr<std::array<char, 256>> discard = nullptr);
  /// Counts bytes the client sent; closes the stream past max_client_bytes. False if closed.
  bool received(std::size_t n);

  Shard& shard_;
  Transport transport_;
  ConnectionSlot slot_guard_;
  std::vector<std::string> topics_;
  std::string head_;
  std::vector<EventPtr> queued_;
  std::vector<EventPtr> writing_;
  std::vector<asio::const_buffer> buffers_;
  std::string tls_piece_;  ///< TLS: the piece of the write being sent (TLS writes one buffer per call)
  std::uint64_t cursor_ = 0;
  std::size_t first_buffer_ = 0;     ///< first buffer of the write not yet fully sent
  std::size_t queued_bytes_ = 0;     ///< frames waiting for the next write
  std::size_t in_flight_bytes_ = 0;  ///< bytes of the current write not yet sent
  std::size_t budget_;
  Clock::time_point last_write_;  ///< a write began or bytes went out (heartbeats, write timeout)
  /// When the token that granted this stream its reading runs out; only such streams have one.
  struct TokenDeadline {
    Clock::time_point warn_at;
    Clock::time_point end;
    EventPtr notice;  ///< herald-token-expiring, until queued
  };
  std::unique_ptr<TokenDeadline> token_;
  char chunk_header_[20];
  bool chunked_;
  bool write_in_flight_ = false;
  bool marked_dirty_ = false;
  bool overflowed_ = false;
  bool finishing_ = false;
  bool terminator_sent_ = false;
  bool closed_ = false;
  // Small counters last, in what would otherwise be padding: an idle stream stays small.
  std::uint16_t tls_piece_sent_ = 0;  ///< bytes of tls_piece_ already written
  std::uint16_t client_bytes_ = 0;    ///< bytes the client sent after its request
  static_assert(tls_piece_bytes <= UINT16_MAX && max_client_bytes + 512 <= UINT16_MAX);
};

}  // namespace herald
