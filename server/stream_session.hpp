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
/// twice the budget: the queue and the write before it) nor other clients' time.
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
  /// Ends the stream cleanly after what is queued (shutdown).
  void finish();
  void close();

  const std::vector<std::string>& topics() const { return topics_; }
  /// Waiting in the shard's list of streams to flush.
  bool dirty() const { return marked_dirty_; }
  std::size_t slot_ = 0;  ///< position in the shard's stream list

 private:
  void enqueue(const EventPtr& event);
  void write();
  void write_some();
  void on_written(const std::error_code& ec, std::size_t n);
  void watch_peer();
  void watch_tls_peer(std::shared_ptr<std::array<char, 256>> discard = nullptr);

  Shard& shard_;
  Transport transport_;
  ConnectionSlot slot_guard_;
  std::vector<std::string> topics_;
  std::string head_;
  std::vector<EventPtr> queued_;
  std::vector<EventPtr> writing_;
  std::vector<asio::const_buffer> buffers_;
  std::string tls_staging_;  ///< TLS: the write as one buffer (TLS writes one buffer per call)
  std::uint64_t cursor_ = 0;
  std::size_t first_buffer_ = 0;     ///< first buffer of the write not yet fully sent
  std::size_t queued_bytes_ = 0;     ///< frames waiting for the next write
  std::size_t in_flight_bytes_ = 0;  ///< bytes of the current write not yet sent
  std::size_t budget_;
  Clock::time_point last_write_;
  char chunk_header_[20];
  bool chunked_;
  bool write_in_flight_ = false;
  bool marked_dirty_ = false;
  bool overflowed_ = false;
  bool finishing_ = false;
  bool terminator_sent_ = false;
  bool closed_ = false;
};

}  // namespace herald
