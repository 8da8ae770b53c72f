// One SSE subscriber connection: connects from its own source address, parses the stream
// (chunked or not), checks every event against what was published and measures latency.
// Reconnects with Last-Event-ID when the stream drops, as a browser's EventSource would.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "event_loop.hpp"
#include "http_parse.hpp"
#include "sse_parser.hpp"
#include "target.hpp"

namespace bench {

class Loader;

/// Which sequence numbers of one publisher connection's events arrived, as a bitset.
class SeqTrack {
 public:
  enum class Seen { in_order, out_of_order, duplicate };
  Seen see(std::uint64_t seq);

 private:
  std::vector<std::uint64_t> bits_;
  std::uint64_t high_ = 0;  ///< highest sequence seen + 1
};

struct SubscriberCounts {
  std::uint64_t received = 0;       ///< events of ours, duplicates included
  std::uint64_t unique = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t out_of_order = 0;   ///< arrived after a later one of the same publisher connection
  std::uint64_t id_order_errors = 0;  ///< id not after the previous event's id
  std::uint64_t foreign = 0;        ///< data not ours, or for another topic
  std::uint64_t truncated = 0;      ///< herald-history-truncated notices
  std::uint64_t heartbeats = 0;
  std::uint64_t other_events = 0;   ///< events of other types (ignored)
  std::uint64_t connect_failures = 0;
  std::uint64_t http_errors = 0;    ///< subscribe answered with a status other than 200
  std::uint64_t protocol_errors = 0;
  std::uint64_t disconnects = 0;    ///< stream ended by the server or the network
  std::uint64_t reconnects = 0;
};

class Subscriber final : public EventLoop::Handler, private SseSink {
 public:
  Subscriber(Loader& loader, std::uint32_t index, std::uint32_t topic);
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  /// Opens the stream; with `resume`, sends the last id received as Last-Event-ID. The
  /// loader hears once, through subscriber_settled(), whether it got a stream or gave up.
  void start(bool resume);
  /// Closes from our side; no reconnect follows.
  void close();

  bool ready() const { return state_ == State::stream; }
  bool gave_up() const { return gave_up_; }
  std::uint32_t topic() const { return topic_; }
  const std::string& last_id() const { return sse_.last_id(); }
  const SubscriberCounts& counts() const { return counts_; }
  std::int64_t ready_at() const { return ready_at_; }

 private:
  enum class State : std::uint8_t { idle, connecting, head, stream };
  void connect(bool resume);
  void on_io(std::uint32_t events) override;
  void on_connected();
  void on_readable();
  void on_bytes(const char* data, std::size_t len);
  void on_body(const char* data, std::size_t len);
  /// The connection is gone (not by our choice): count it, reconnect if allowed.
  void dropped(std::uint64_t SubscriberCounts::*counter);
  void close_fd();
  void settle(bool ok);

  void on_sse_event(std::string_view id, std::string_view type, std::string_view data) override;
  void on_sse_comment(std::string_view text) override;

  Loader& loader_;
  std::uint32_t index_;
  std::uint32_t topic_;
  int fd_ = -1;
  State state_ = State::idle;
  bool chunked_ = false;
  bool pending_settle_ = false;  ///< the loader waits to hear whether connect() worked
  bool gave_up_ = false;
  std::uint32_t attempts_ = 0;   ///< reconnects used
  std::uint32_t generation_ = 0;  ///< bumped by close(): cancels a scheduled reconnect
  std::string request_;
  std::size_t request_sent_ = 0;
  std::int64_t now_ = 0;         ///< arrival time of the bytes being parsed
  std::int64_t ready_at_ = 0;
  ResponseHead head_;
  ChunkDecoder chunks_;
  ChunkDecoder::Sink body_sink_;
  SseParser sse_;
  IdKey previous_id_;
  std::vector<SeqTrack> tracks_;  ///< one per publisher connection
  SubscriberCounts counts_;
};

}  // namespace bench
