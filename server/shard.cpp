#include "server/shard.hpp"

#include <algorithm>

#include <malloc.h>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include "broker/sse_encoder.hpp"
#include "server/connection.hpp"
#include "server/http_response.hpp"
#include "server/log_exceptions.hpp"
#include "server/stream_session.hpp"

namespace herald {

namespace {
// Topics reclaimed by one expiry sweep from which their memory is handed back to the system.
constexpr std::size_t reclaim_trim_threshold = 1024;

EventPtr control_frame(std::string frame) {
  auto e = std::make_shared<Event>();
  e->frame = std::move(frame);
  return e;
}

/// How long before its token runs out a stream hears herald-token-expiring: time for the
/// page to renew its cookie before the stream ends and the browser reconnects.
constexpr std::chrono::seconds token_warning_lead{30};
}  // namespace

const std::string& rejection(int status) {
  static const std::string server_full = [] {
    HttpResponse r = json_error(503, "too many connections");
    r.close = true;
    return r.to_string(false);
  }();
  static const std::string client_full = [] {
    HttpResponse r = json_error(429, "too many connections from your address");
    r.close = true;
    return r.to_string(false);
  }();
  return status == 429 ? client_full : server_full;
}

Shard::Shard(std::size_t index, Broker& broker, const Settings& settings, const RequestRouter& router, Hub& hub)
    : index_(index),
      broker_(broker),
      settings_(settings),
      router_(router),
      hub_(hub),
      stream_open_(control_frame(sse::encode_stream_open(static_cast<std::uint64_t>(settings.retry.count())))),
      heartbeat_(control_frame(sse::encode_comment("heartbeat"))) {
  // One timer per shard, ticking often enough for the shortest deadline it enforces.
  Clock::duration shortest =
      std::min({Clock::duration(settings.heartbeat_interval), Clock::duration(settings.header_timeout),
                Clock::duration(settings.body_timeout), Clock::duration(settings.idle_timeout),
                Clock::duration(settings.write_timeout)});
  tick_interval_ = std::clamp<Clock::duration>(shortest / 4, std::chrono::milliseconds(5), std::chrono::seconds(1));
}

Shard::~Shard() = default;

void Shard::start() {
  schedule_tick();
  thread_ = std::thread([this] {
    for (;;) {
      try {
        context_.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("shard {}: unexpected error: {}", index_, e.what());
      }
    }
  });
}

void Shard::join() {
  if (thread_.joinable()) thread_.join();
}

void Shard::wake() {
  asio::post(context_, [this] { drain(); });
}

void Shard::shutdown() {
  asio::post(context_, [this] {
    stopping_ = true;
    tick_timer_.cancel();
    if (flush_scheduled_) {
      flush_timer_.cancel();
      take_mailbox();  // what was waiting for the batch window still goes out before the end
    }
    streams_.for_each([](const std::shared_ptr<StreamSession>& s) { s->finish(); });
    connections_.for_each([](Connection* c) { c->close(); });
  });
}

void Shard::accept(asio::ip::tcp::socket socket, std::shared_ptr<asio::ssl::context> tls, ConnectionSlot slot) {
  if (stopping_) return;
  Transport transport = tls ? Transport(std::move(socket), std::move(tls)) : Transport(std::move(socket));
  auto connection = std::make_shared<Connection>(*this, settings_, router_, std::move(transport), std::move(slot));
  spawn(std::move(connection));
}

void Shard::spawn(std::shared_ptr<Connection> connection) {
  // The function object owns the connection until its coroutine ends: the coroutine may start
  // later than now (co_spawn posts when called off this shard's thread).
  asio::co_spawn(context_, [connection = std::move(connection)] { return connection->run(); },
                 LogExceptions("connection"));
}

void Shard::reject(asio::ip::tcp::socket socket, std::shared_ptr<asio::ssl::context> tls, int status) {
  if (tls) {
    // The answer has to wait for the handshake, under the header deadline like any request.
    if (stopping_) return;
    if (tls_refusals_ >= max_tls_refusals) {
      stats_.reject(status);
      std::error_code ignored;
      socket.close(ignored);
      return;
    }
    ++tls_refusals_;
    auto connection = std::make_shared<Connection>(*this, settings_, router_, Transport(std::move(socket), std::move(tls)),
                                                   ConnectionSlot(), status);
    spawn(std::move(connection));
    return;
  }
  const std::string& response = rejection(status);
  stats_.reject(status);
  auto s = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
  asio::async_write(*s, asio::buffer(response), [this, s](const std::error_code&, std::size_t n) {
    ShardStats::add(stats_.bytes_sent, n);
    std::error_code ignored;
    s->shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    s->close(ignored);
  });
}

void Shard::open_stream(Transport transport, ConnectionSlot slot, StreamRequest request) {
  auto stream = std::make_shared<StreamSession>(*this, std::move(transport), std::move(slot), std::move(request.topics),
                                                request.chunked, settings_.max_pending_bytes);
  if (stopping_) return;
  streams_.add(stream);
  ShardStats::add(stats_.streams_open);
  if (request.stats) {
    ShardStats::add(stats_.streams_opened);
    stats_streams_.push_back(stream.get());
    stream->start(std::move(request.response_head), {stream_open_, hub_.stats_frame()}, 0);
    return;
  }
  const auto& topics = stream->topics();
  for (std::size_t i = 0; i < topics.size(); ++i)
    subscribers_[topics[i]].push_back({stream.get(), request.may_read_private[i]});

  // Registered before the snapshot, on this thread: every event after the snapshot's
  // high-water mark reaches the stream through drain(), and the ones before it through the
  // replay, so the seam has no gap; the cursor drops the overlap.
  std::optional<Snapshot> subscribed = broker_.subscribe(stream->topics(), request.after);
  if (!subscribed) {
    // Its new topics do not fit: a plain 503 instead of the stream, nothing counted.
    unindex(stream.get());
    stats_.reject(503);
    HttpResponse r = json_error(503, "too many topics: the server holds its --max-topics limit (" +
                                         std::to_string(settings_.max_topics) + "); try again later");
    r.headers.insert(r.headers.end(), request.cors_headers.begin(), request.cors_headers.end());
    r.close = true;
    stream->refuse(r.to_string(!request.chunked));
    return;
  }
  Snapshot& snap = *subscribed;
  ShardStats::add(stats_.streams_opened);
  std::vector<EventPtr> opening{stream_open_};
  if (request.unusable_last_id) {
    opening.push_back(control_frame(sse::encode_truncated_notice(stream->topics(), *request.unusable_last_id)));
  } else if (!snap.truncated_topics.empty()) {
    opening.push_back(control_frame(sse::encode_truncated_notice(snap.truncated_topics, std::to_string(*request.after))));
  }
  // A private event is replayed only through a topic this stream may read privately.
  auto may_read = [&](const Event& e) {
    for (std::size_t i = 0; i < topics.size(); ++i)
      if (request.may_read_private[i] && std::find(e.topics.begin(), e.topics.end(), topics[i]) != e.topics.end())
        return true;
    return false;
  };
  std::size_t replayed = 0;
  for (const EventPtr& e : snap.replay) {
    if (e->is_private && !may_read(*e)) continue;
    opening.push_back(e);
    ++replayed;
  }
  bool resumed = request.after || request.unusable_last_id;
  if (resumed && request.notify_replay) opening.push_back(control_frame(sse::encode_replay_complete(replayed)));

  ShardStats::add(stats_.subscriptions, stream->topics().size());
  if (resumed) {
    ShardStats::add(stats_.replays);
    ShardStats::add(stats_.events_replayed, replayed);
    ShardStats::add(stats_.events_delivered, replayed);
  }
  if (request.unusable_last_id || !snap.truncated_topics.empty()) ShardStats::add(stats_.truncated_notices);
  if (request.token_exp) {
    // The token is honoured as long as a new request could present it: until exp plus the
    // leeway. Worked out in milliseconds of wall time, then moved onto the steady clock.
    using namespace std::chrono;
    auto now_ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    auto left = milliseconds(*request.token_exp * 1000 + settings_.jwt_leeway.count() - now_ms);
    if (left < hours(24 * 365 * 10)) {  // beyond that the stream is as good as unlimited
      auto end = Clock::now() + left;
      stream->set_token_expiry(end - token_warning_lead, end,
                               control_frame(sse::encode_token_expiring(*request.token_exp)));
    }
  }
  stream->start(std::move(request.response_head), opening, snap.high_water);
}

void Shard::remove_stream(StreamSession* stream) {
  // A stream closed while waiting for the batch window must leave the flush list with it.
  if (stream->dirty()) dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), stream), dirty_.end());
  broker_.unsubscribe(stream->topics());
  ShardStats::sub(stats_.streams_open);
  ShardStats::sub(stats_.subscriptions, stream->topics().size());
  unindex(stream);
  if (auto it = std::find(stats_streams_.begin(), stats_streams_.end(), stream); it != stats_streams_.end()) {
    *it = stats_streams_.back();
    stats_streams_.pop_back();
  }
  streams_.remove(stream);
}

void Shard::unindex(StreamSession* stream) {
  for (const std::string& topic : stream->topics()) {
    auto it = subscribers_.find(topic);
    if (it == subscribers_.end()) continue;
    auto& list = it->second;
    auto pos = std::find_if(list.begin(), list.end(), [stream](const Subscriber& s) { return s.stream == stream; });
    if (pos != list.end()) {
      *pos = list.back();
      list.pop_back();
    }
    if (list.empty()) subscribers_.erase(it);
  }
}

void Shard::add_connection(Connection* connection) { connections_.add(connection); }
void Shard::remove_connection(Connection* connection) { connections_.remove(connection); }

void Shard::drain() {
  take_mailbox();
  // Write now if the last round of writes was long enough ago; otherwise once the batch
  // window is over, with everything that arrived meanwhile: under load each write carries
  // many events, while a lone event still goes out at once.
  if (flush_scheduled_) return;
  auto now = Clock::now();
  if (now >= next_flush_) {
    flush_dirty();
    next_flush_ = Clock::now() + settings_.write_batch_window;
    return;
  }
  flush_scheduled_ = true;
  flush_timer_.expires_at(next_flush_);
  flush_timer_.async_wait([this](const std::error_code& ec) {
    flush_scheduled_ = false;
    if (ec) return;
    take_mailbox();
    flush_dirty();
    next_flush_ = Clock::now() + settings_.write_batch_window;
  });
}

void Shard::take_mailbox() {
  broker_.mailbox(index_).take(inbox_);
  auto now = Clock::now();
  std::uint64_t delivered = 0;
  for (const EventPtr& event : inbox_) {
    bool followed = false;
    for (const std::string& topic : event->topics) {
      auto it = subscribers_.find(topic);
      if (it == subscribers_.end()) continue;
      followed = true;
      for (const Subscriber& s : it->second)
        if (!event->is_private || s.may_read_private) delivered += s.stream->deliver(event);
    }
    if (followed) stats_.observe_latency(now - event->published);
  }
  ShardStats::add(stats_.events_delivered, delivered);
  inbox_.clear();
}

void Shard::flush_dirty() {
  // Each stream is listed once (it marks itself); flush may close and free it.
  for (std::size_t i = 0; i < dirty_.size(); ++i) dirty_[i]->flush();
  dirty_.clear();
}

void Shard::schedule_tick() {
  tick_timer_.expires_after(tick_interval_);
  tick_timer_.async_wait([this](const std::error_code& ec) {
    if (ec || stopping_) return;
    tick();
    schedule_tick();
  });
}

void Shard::tick() {
  auto now = Clock::now();
  auto idle_since = now - settings_.heartbeat_interval;
  streams_.for_each([&](const std::shared_ptr<StreamSession>& s) {
    // check_deadlines may close the stream, and s with it.
    if (s->check_deadlines(now, settings_.write_timeout)) s->heartbeat(idle_since, heartbeat_);
  });
  if (!stats_streams_.empty() && now >= next_stats_) {
    next_stats_ = now + std::chrono::seconds(1) - tick_interval_ / 2;
    EventPtr frame = hub_.stats_frame();
    for (StreamSession* s : stats_streams_) s->push(frame);
  }
  flush_dirty();
  connections_.for_each([&](Connection* c) { c->check_deadline(now); });
  // After many topics went at once, hand their memory back to the system: the allocator
  // would otherwise keep the freed pages between live ones.
  if (index_ == 0 && broker_.expire(now) >= reclaim_trim_threshold) malloc_trim(0);
}

}  // namespace herald
