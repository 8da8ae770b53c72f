#include "server/stream_session.hpp"

#include <array>
#include <cstdio>
#include <span>

#include <spdlog/spdlog.h>

#include "server/shard.hpp"

namespace herald {

namespace {
constexpr std::string_view crlf = "\r\n";
constexpr std::string_view last_chunk = "0\r\n\r\n";
}  // namespace

StreamSession::StreamSession(Shard& shard, Transport transport, ConnectionSlot slot,
                             std::vector<std::string> topics, bool chunked, std::size_t max_pending_bytes)
    : shard_(shard),
      transport_(std::move(transport)),
      slot_guard_(std::move(slot)),
      topics_(std::move(topics)),
      budget_(max_pending_bytes),
      chunked_(chunked) {}

void StreamSession::start(std::string head, const std::vector<EventPtr>& opening, std::uint64_t cursor) {
  head_ = std::move(head);
  cursor_ = cursor;
  std::size_t opening_bytes = 0;
  for (const EventPtr& e : opening) {
    queued_.push_back(e);
    opening_bytes += e->frame.size();
  }
  queued_bytes_ = opening_bytes;
  // The replay is bounded by history and shared with it; the budget is for what comes after.
  budget_ += opening_bytes;
  last_write_ = Clock::now();
  write();
  if (transport_.is_tls()) {
    watch_tls_peer();
  } else {
    transport_.socket().non_blocking(true);
    watch_peer();
  }
}

void StreamSession::refuse(std::string response) {
  topics_.clear();  // never subscribed: closing must not unsubscribe them
  chunked_ = false;
  head_ = std::move(response);
  finishing_ = true;
  last_write_ = Clock::now();
  write();  // its completion finds nothing more to send and closes
}

void StreamSession::enqueue(const EventPtr& event) {
  queued_.push_back(event);
  queued_bytes_ += event->frame.size();
  // What waits behind the write in progress is what a slow reader costs. The write itself is
  // left out: its completion may be handled a moment after the kernel took the bytes, and a
  // reader that keeps up must never be mistaken for a slow one.
  if (queued_bytes_ > budget_) overflowed_ = true;
  if (!marked_dirty_) {
    marked_dirty_ = true;
    shard_.mark_dirty(this);
  }
}

bool StreamSession::deliver(const EventPtr& event) {
  if (closed_ || finishing_ || event->id <= cursor_) return false;
  cursor_ = event->id;
  enqueue(event);
  return true;
}

void StreamSession::push(const EventPtr& frame) {
  if (!closed_ && !finishing_) enqueue(frame);
}

void StreamSession::heartbeat(Clock::time_point idle_since, const EventPtr& comment) {
  if (closed_ || finishing_ || write_in_flight_ || !queued_.empty() || last_write_ > idle_since) return;
  enqueue(comment);
}

void StreamSession::flush() {
  marked_dirty_ = false;
  if (closed_) return;
  if (overflowed_) {
    std::error_code ignored;
    auto peer = transport_.socket().remote_endpoint(ignored);
    spdlog::warn("slow consumer {}:{} disconnected: {} bytes waiting behind a write of {} (limit {})",
                 peer.address().to_string(), peer.port(), queued_bytes_, in_flight_bytes_, budget_);
    ShardStats::add(shard_.stats().slow_consumer_disconnects);
    close();
    return;
  }
  if (!write_in_flight_) write();
}

void StreamSession::write() {
  bool terminate = finishing_ && chunked_ && !terminator_sent_;
  if (queued_.empty() && head_.empty() && !terminate) {
    if (finishing_) close();
    return;
  }
  writing_.swap(queued_);
  std::size_t bytes = queued_bytes_;
  queued_bytes_ = 0;
  buffers_.clear();
  if (!head_.empty()) buffers_.emplace_back(asio::buffer(head_));
  if (chunked_ && bytes > 0) {
    int n = std::snprintf(chunk_header_, sizeof chunk_header_, "%zx\r\n", bytes);
    buffers_.emplace_back(chunk_header_, static_cast<std::size_t>(n));
  }
  for (const EventPtr& e : writing_) buffers_.emplace_back(asio::buffer(e->frame));
  if (chunked_ && bytes > 0) buffers_.emplace_back(asio::buffer(crlf));
  if (terminate) {
    buffers_.emplace_back(asio::buffer(last_chunk));
    terminator_sent_ = true;
  }
  if (transport_.is_tls()) {
    // Encryption copies every byte anyway; one copy more makes one TLS record per write
    // instead of one per event.
    tls_staging_.clear();
    for (const auto& b : buffers_) tls_staging_.append(static_cast<const char*>(b.data()), b.size());
    buffers_.assign(1, asio::buffer(tls_staging_));
  }
  first_buffer_ = 0;
  in_flight_bytes_ = asio::buffer_size(buffers_);
  write_in_flight_ = true;
  last_write_ = Clock::now();
  write_some();
}

void StreamSession::write_some() {
  // write_some rather than async_write: each partial write gives its bytes back to the
  // budget at once, so a client that keeps up is never mistaken for a slow one.
  transport_.async_write_some(std::span<const asio::const_buffer>(buffers_).subspan(first_buffer_),
                           [self = shared_from_this()](const std::error_code& ec, std::size_t n) {
                             self->on_written(ec, n);
                           });
}

void StreamSession::on_written(const std::error_code& ec, std::size_t n) {
  if (ec) {
    write_in_flight_ = false;
    if (ec != asio::error::operation_aborted) spdlog::debug("stream write failed: {}", ec.message());
    close();
    return;
  }
  in_flight_bytes_ -= n;
  ShardStats::add(shard_.stats().bytes_sent, n);
  if (in_flight_bytes_ > 0) {
    while (n >= buffers_[first_buffer_].size()) n -= buffers_[first_buffer_++].size();
    buffers_[first_buffer_] += n;
    write_some();
    return;
  }
  write_in_flight_ = false;
  writing_.clear();
  if (!head_.empty()) {
    head_.clear();
    head_.shrink_to_fit();
  }
  if (finishing_) {
    write();  // the terminator, if it has not gone out yet; then close
    return;
  }
  if (!queued_.empty() && !marked_dirty_) write();
}

void StreamSession::watch_peer() {
  // A stream's client sends nothing after its request; readable means EOF, an error, or
  // bytes to discard. Waiting for readability needs no buffer, which keeps idle streams small.
  transport_.socket().async_wait(asio::ip::tcp::socket::wait_read, [self = shared_from_this()](const std::error_code& ec) {
    if (self->closed_) return;
    if (ec) {
      self->close();
      return;
    }
    char discard[512];
    std::error_code read_ec;
    for (;;) {
      std::size_t n = self->transport_.socket().read_some(asio::buffer(discard), read_ec);
      if (read_ec == asio::error::would_block) break;
      if (read_ec || n == 0) {
        self->close();
        return;
      }
    }
    self->watch_peer();
  });
}

void StreamSession::watch_tls_peer(std::shared_ptr<std::array<char, 256>> discard) {
  // Under TLS, readable bytes may be records that decrypt to nothing, so read through the
  // TLS stream (its read may run beside a write) and discard what arrives.
  if (!discard) discard = std::make_shared<std::array<char, 256>>();
  transport_.async_read_some(asio::buffer(*discard),
                             [self = shared_from_this(), discard](const std::error_code& ec, std::size_t) {
                               if (self->closed_) return;
                               if (ec) {
                                 self->close();
                                 return;
                               }
                               self->watch_tls_peer(std::move(discard));
                             });
}

void StreamSession::finish() {
  if (closed_) return;
  finishing_ = true;
  // With a write in flight, its completion sends the rest and the terminator.
  if (!write_in_flight_) write();
}

void StreamSession::close() {
  if (closed_) return;
  closed_ = true;
  transport_.close();
  queued_.clear();
  shard_.remove_stream(this);  // may drop the last owning reference held by the shard
}

}  // namespace herald
