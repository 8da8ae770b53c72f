#include "server/connection.hpp"

#include <tuple>

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include "server/http_response.hpp"
#include "server/request_parser.hpp"
#include "server/shard.hpp"

namespace herald {

namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
}

Connection::Connection(Shard& shard, const Settings& settings, const RequestRouter& router,
                       Transport transport, ConnectionSlot slot, int reject_status)
    : shard_(shard),
      settings_(settings),
      router_(router),
      transport_(std::move(transport)),
      slot_guard_(std::move(slot)),
      reject_status_(reject_status) {}

Connection::~Connection() {
  if (reject_status_) shard_.tls_refusal_done();  // only TLS refusals become Connections
}

void Connection::check_deadline(Clock::time_point now) {
  // Cancelled again at every tick while past the deadline: a cancel that found no pending
  // read (the data was already there) must not be the last word.
  if (now < deadline_) return;
  timed_out_ = true;
  std::error_code ignored;
  transport_.socket().cancel(ignored);
}

void Connection::close() {
  timed_out_ = false;
  deadline_ = Clock::time_point::max();  // closing is not timing out: no 408
  std::error_code ignored;
  transport_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  transport_.socket().cancel(ignored);
}

IpAddress Connection::peer_address() {
  std::error_code ec;
  auto address = transport_.socket().remote_endpoint(ec).address();
  if (ec) return {};
  if (address.is_v4()) return ipv4_address(address.to_v4().to_uint());
  IpAddress out;
  auto bytes = address.to_v6().to_bytes();
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

asio::awaitable<bool> Connection::send(std::string bytes) {
  set_deadline(Clock::now() + settings_.idle_timeout);  // a reader too slow to take a reply
  auto [ec, n] = co_await asio::async_write(transport_, asio::buffer(bytes), use_tuple);
  ShardStats::add(shard_.stats().bytes_sent, n);
  co_return !ec;
}

asio::awaitable<void> Connection::linger() {
  // Closing a socket with unread input sends a reset, which can destroy the reply before the
  // client reads it. Half-close, then drain briefly until the client closes too.
  std::error_code ignored;
  transport_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  set_deadline(Clock::now() + std::min<Clock::duration>(settings_.header_timeout, std::chrono::seconds(2)));
  for (std::size_t drained = 0; drained < 1024 * 1024;) {
    auto [ec, n] = co_await transport_.async_read_some(asio::buffer(read_buffer_), use_tuple);
    if (ec) break;
    drained += n;
  }
}

asio::awaitable<bool> Connection::handshake() {
  // Under the header deadline: a client that connects and never says hello is dropped the
  // same way as one that never sends a request.
  set_deadline(Clock::now() + settings_.header_timeout);
  auto& socket = transport_.socket();
  auto [wait_ec] = co_await socket.async_wait(asio::ip::tcp::socket::wait_read, use_tuple);
  if (wait_ec) {
    if (timed_out_) ShardStats::add(shard_.stats().tls_handshake_failures);  // never said hello
    co_return false;
  }
  // Every TLS connection opens with a handshake record (0x16). Anything else is most likely
  // plain HTTP sent to the HTTPS port: say so in plain HTTP, as nginx does, not with silence.
  unsigned char first = 0;
  std::error_code peek_ec;
  std::size_t peeked = socket.receive(asio::buffer(&first, 1), asio::socket_base::message_peek, peek_ec);
  if (peek_ec || peeked == 0) co_return false;  // closed before a byte: a port probe, not a failed handshake
  if (first != 0x16) {
    ShardStats::add(shard_.stats().tls_handshake_failures);
    shard_.stats().reject(400);
    HttpResponse r = json_error(400, "this port speaks HTTPS: use https://");
    r.close = true;
    transport_ = Transport(std::move(socket));  // plain from here on, for this one answer
    if (co_await send(r.to_string(false))) co_await linger();
    co_return false;
  }
  auto [ec] = co_await transport_.async_handshake(use_tuple);
  if (ec) {
    ShardStats::add(shard_.stats().tls_handshake_failures);
    spdlog::debug("TLS handshake failed: {}", ec.message());
    co_return false;
  }
  co_return true;
}

asio::awaitable<void> Connection::run() {
  auto self = shared_from_this();
  shard_.add_connection(this);
  struct Unregister {
    Shard& shard;
    Connection* c;
    ~Unregister() { shard.remove_connection(c); }
  } unregister{shard_, this};
  // Spawned before shutdown() but started after it: not in the list shutdown() walked.
  if (shard_.stopping()) co_return;

  if (transport_.is_tls() && !co_await handshake()) co_return;
  if (reject_status_) {
    shard_.stats().reject(reject_status_);
    if (co_await send(rejection(reject_status_))) co_await linger();
    co_return;
  }

  RequestParser parser({settings_.max_header_bytes, settings_.max_body_bytes});
  const IpAddress peer = peer_address();
  std::string buffer;
  bool first = true;
  for (;;) {
    // Phases of one request, each with its own deadline: idle between keep-alive requests,
    // then the header block, then the body.
    enum class Phase { idle, headers, body } phase = first ? Phase::headers : Phase::idle;
    set_deadline(Clock::now() + (first ? settings_.header_timeout : settings_.idle_timeout));
    bool sent_continue = false;
    RequestParser::State state = RequestParser::State::need_more;
    for (;;) {
      if (!buffer.empty()) {
        std::size_t used = 0;
        state = parser.feed(buffer, used);
        buffer.erase(0, used);
        if (state != RequestParser::State::need_more) break;
      }
      if (phase == Phase::idle && parser.started()) {
        phase = Phase::headers;
        set_deadline(Clock::now() + settings_.header_timeout);
      }
      if (phase != Phase::body && parser.headers_complete()) {
        phase = Phase::body;
        auto body_deadline = Clock::now() + settings_.body_timeout;
        if (parser.expects_continue() && !sent_continue) {
          sent_continue = true;
          if (!co_await send("HTTP/1.1 100 Continue\r\n\r\n")) co_return;
        }
        set_deadline(body_deadline);  // after send(), which set its own
      }
      // Checked here as well as by the shard's timer: a sender fast enough that every read
      // completes at once would never see the timer's cancel.
      bool late = deadline_passed();
      auto [ec, n] = late ? std::tuple<std::error_code, std::size_t>{asio::error::timed_out, 0}
                          : co_await transport_.async_read_some(asio::buffer(read_buffer_), use_tuple);
      if (ec) {
        if ((late || timed_out_) && phase != Phase::idle) {
          HttpResponse r = json_error(408, phase == Phase::body ? "timed out waiting for the request body"
                                                                : "timed out waiting for the request headers");
          r.close = true;
          timed_out_ = false;
          shard_.stats().reject(408);
          // A body sender is still sending: closing on its unread bytes would reset the
          // connection, which can destroy the answer before the client reads it.
          if (co_await send(r.to_string(false)) && phase == Phase::body) co_await linger();
        }
        co_return;
      }
      buffer.append(read_buffer_.data(), n);
    }

    if (state == RequestParser::State::error) {
      HttpResponse r = json_error(parser.error_status(), parser.error_message());
      r.close = true;
      shard_.stats().reject(parser.error_status());
      spdlog::debug("bad request: {} {}", parser.error_status(), parser.error_message());
      if (co_await send(r.to_string(parser.request().http10()))) co_await linger();
      co_return;
    }

    parser.request().peer = peer;
    RouteResult result = router_.route(parser.request());
    if (auto* stream = std::get_if<StreamRequest>(&result)) {
      shard_.open_stream(std::move(transport_), std::move(slot_guard_), std::move(*stream));
      co_return;
    }
    auto& response = std::get<HttpResponse>(result);
    shard_.stats().reject(response.status);
    if (!co_await send(response.to_string(parser.request().http10()))) co_return;
    if (response.close) {
      co_await linger();
      co_return;
    }
    parser.next();
    first = false;
  }
}

}  // namespace herald
