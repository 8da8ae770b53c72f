#include "server/stream_session.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <span>
#include <utility>

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
  for (const EventPtr& e : opening) {
    queued_.push_back(e);
    queued_bytes_ += e->frame.size();
  }
  // The opening (with the replay) becomes the write in progress at once, so nothing of it
  // counts against the budget: its frames are shared with history, and the budget is for
  // what waits behind it.
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
  first_buffer_ = 0;
  in_flight_bytes_ = asio::buffer_size(buffers_);
  write_in_flight_ = true;
  last_write_ = Clock::now();
  write_some();
}

void StreamSession::write_some() {
  // write_some rather than async_write: each partial write gives its bytes back to the
  // budget at once, so a client that keeps up is never mistaken for a slow one.
  auto done = [self = shared_from_this()](const std::error_code& ec, std::size_t n) { self->on_written(ec, n); };
  if (transport_.is_tls()) {
    if (tls_piece_sent_ == tls_piece_.size()) stage_tls_piece();
    transport_.async_write_some(asio::buffer(tls_piece_) + tls_piece_sent_, std::move(done));
    return;
  }
  transport_.async_write_some(std::span<const asio::const_buffer>(buffers_).subspan(first_buffer_), std::move(done));
}

void StreamSession::stage_tls_piece() {
  // Encryption copies every byte anyway; copying a record's worth of events first makes one
  // TLS record of many events rather than one per event, and a piece at a time keeps the
  // copy small however large the write (a replay of megabytes to a client that reads slowly).
  tls_piece_.resize(std::min(in_flight_bytes_, tls_piece_bytes));
  std::size_t n = 0;
  while (n < tls_piece_.size() && first_buffer_ < buffers_.size()) {
    asio::const_buffer& b = buffers_[first_buffer_];
    std::size_t take = std::min(b.size(), tls_piece_.size() - n);
    std::memcpy(tls_piece_.data() + n, b.data(), take);
    n += take;
    b += take;
    if (b.size() == 0) ++first_buffer_;
  }
  tls_piece_.resize(n);
  tls_piece_sent_ = 0;
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
  if (n > 0) last_write_ = Clock::now();
  if (in_flight_bytes_ > 0) {
    if (transport_.is_tls()) {
      tls_piece_sent_ += static_cast<std::uint16_t>(n);
    } else {
      while (n >= buffers_[first_buffer_].size()) n -= buffers_[first_buffer_++].size();
      buffers_[first_buffer_] += n;
    }
    write_some();
    return;
  }
  write_in_flight_ = false;
  tls_piece_.clear();
  tls_piece_sent_ = 0;
  writing_.clear();
  if (!head_.empty()) {
    head_.clear();
    head_.shrink_to_fit();
  }
  if (finishing_) {
    write();  // the terminator, if it has not gone out yet; then close
    return;
  }
  if (queued_.empty()) release_write_buffers();
  else if (!marked_dirty_) write();
}

void StreamSession::release_write_buffers() {
  // An idle stream should cost what an idle stream costs, not what its largest write (a
  // replay of thousands of events) grew: free the TLS piece and oversized lists.
  constexpr std::size_t kept_entries = 64;
  std::string().swap(tls_piece_);
  if (writing_.capacity() > kept_entries) std::vector<EventPtr>().swap(writing_);
  if (queued_.capacity() > kept_entries) std::vector<EventPtr>().swap(queued_);
  if (buffers_.capacity() > kept_entries) std::vector<asio::const_buffer>().swap(buffers_);
}

bool StreamSession::check_deadlines(Clock::time_point now, Clock::duration write_timeout) {
  if (closed_) return false;
  if (write_in_flight_ && now - last_write_ >= write_timeout) {
    std::error_code ignored;
    auto peer = transport_.socket().remote_endpoint(ignored);
    spdlog::info("stream to {}:{} closed: its write made no progress for {} ms ({} bytes unsent)",
                 peer.address().to_string(), peer.port(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(now - last_write_).count(),
                 in_flight_bytes_ + queued_bytes_);
    ShardStats::add(shard_.stats().write_timeouts);
    close();
    return false;
  }
  if (finishing_) return false;
  if (!token_) return true;
  if (now >= token_->end) {
    spdlog::debug("stream ended: its token expired");
    finish();
    return false;
  }
  if (token_->notice && now >= token_->warn_at) push(std::exchange(token_->notice, nullptr));
  return true;
}

void StreamSession::set_token_expiry(Clock::time_point warn_at, Clock::time_point end, EventPtr notice) {
  token_ = std::make_unique<TokenDeadline>(TokenDeadline{warn_at, end, std::move(notice)});
}

bool StreamSession::received(std::size_t n) {
  client_bytes_ += static_cast<std::uint16_t>(n);  // n <= 512: the counter cannot wrap before the check
  if (client_bytes_ <= max_client_bytes) return true;
  std::error_code ignored;
  auto peer = transport_.socket().remote_endpoint(ignored);
  spdlog::debug("stream client {}:{} closed: sent more than {} bytes after its request", peer.address().to_string(),
                peer.port(), max_client_bytes);
  ShardStats::add(shard_.stats().stream_input_disconnects);
  close();
  return false;
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
      if (!self->received(n)) return;
    }
    self->watch_peer();
  });
}

void StreamSession::watch_tls_peer(std::shared_ptr<std::array<char, 256>> discard) {
  // Under TLS, readable bytes may be records that decrypt to nothing, so read through the
  // TLS stream (its read may run beside a write) and discard what arrives.
  if (!discard) discard = std::make_shared<std::array<char, 256>>();
  transport_.async_read_some(asio::buffer(*discard),
                             [self = shared_from_this(), discard](const std::error_code& ec, std::size_t n) {
                               if (self->closed_) return;
                               if (ec) {
                                 self->close();
                                 return;
                               }
                               if (!self->received(n)) return;
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
