// Shutting a shard down while connections are suspended mid-request. Under AddressSanitizer
// (scripts/sanitize.sh asan) or valgrind (the unit.shutdown_under_valgrind test) these also
// catch a shard that frees what a suspended connection's cleanup still uses.
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <string_view>

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include "broker/broker.hpp"
#include "server/request_router.hpp"
#include "server/shard.hpp"

using namespace herald;

namespace {

struct QuietHub : Hub {
  std::optional<std::vector<std::uint64_t>> publish(const std::vector<Message>&) override { return std::vector<std::uint64_t>{}; }
  bool accepting() const override { return true; }
  bool ready() const override { return true; }
  std::string metrics() const override { return {}; }
  std::string stats() const override { return "{}"; }
  EventPtr stats_frame() const override { return std::make_shared<Event>(); }
};

/// A shard run by hand on the test's thread, and clients connected to it.
struct ShardUnderTest {
  Settings settings;
  Broker broker{BrokerOptions{}};
  QuietHub hub;
  RequestRouter router{settings, hub, nullptr};
  std::unique_ptr<Shard> shard = std::make_unique<Shard>(0, broker, settings, router, hub);
  asio::io_context client_context;
  std::deque<asio::ip::tcp::socket> clients;  // references stay valid as clients are added

  /// Connects a new client (clients.back()) and returns the server's end of the connection.
  asio::ip::tcp::socket connect() {
    asio::ip::tcp::acceptor acceptor(client_context, {asio::ip::make_address("127.0.0.1"), 0});
    clients.emplace_back(client_context).connect(acceptor.local_endpoint());
    asio::ip::tcp::socket server_end(shard->context());
    acceptor.accept(server_end);
    return server_end;
  }
  /// Connects a client and hands the connection to the shard on its own thread, as the accept
  /// loop does; then sends `bytes`.
  asio::ip::tcp::socket& accept_on_shard(std::string_view bytes) {
    asio::post(shard->context(),
               [this, s = connect()]() mutable { shard->accept(std::move(s), nullptr, ConnectionSlot()); });
    asio::write(clients.back(), asio::buffer(bytes));
    return clients.back();
  }
  void run_shard() {
    shard->context().run_for(std::chrono::milliseconds(200));
    shard->context().restart();
  }
};

/// Whether the server closed this client's connection (end of stream, not "nothing yet").
bool closed_by_server(asio::ip::tcp::socket& client) {
  client.non_blocking(true);
  std::array<char, 4096> bytes;
  std::error_code ec;
  while (!ec) client.read_some(asio::buffer(bytes), ec);  // skips what was answered before
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

}  // namespace

TEST_CASE("a shard destroyed with a half-sent request and an open stream frees them cleanly") {
  ShardUnderTest t;
  auto& half_sent = t.accept_on_shard("POST /publish?topic=a HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
  auto& stream = t.accept_on_shard("GET /events?topic=a HTTP/1.1\r\n\r\n");
  t.run_shard();  // the connection is now suspended reading the rest of its body; the stream is open
  CHECK_FALSE(closed_by_server(half_sent));
  CHECK_FALSE(closed_by_server(stream));
  t.shard.reset();  // destroys the suspended coroutines: their cleanup must find the shard's lists alive
  CHECK(closed_by_server(half_sent));
  CHECK(closed_by_server(stream));
}

TEST_CASE("a connection whose coroutine starts after shutdown closes at once") {
  ShardUnderTest t;
  // shutdown() posts; the connection is handed over from outside the shard's thread, so its
  // coroutine is queued behind shutdown's work and starts after it: it is not in the list
  // shutdown closed. Without its own check it would wait for a header deadline that no timer
  // enforces any more.
  t.shard->shutdown();
  t.shard->accept(t.connect(), nullptr, ConnectionSlot());
  asio::write(t.clients.back(), asio::buffer(std::string_view("GET /healthz HTTP/1.1\r\n")));
  t.run_shard();
  CHECK(closed_by_server(t.clients.back()));
}
