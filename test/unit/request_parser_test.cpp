#include <doctest/doctest.h>

#include <limits>

#include "server/request_parser.hpp"

using namespace herald;
using State = RequestParser::State;

namespace {
RequestParser::Limits limits(std::size_t header = 1024, std::size_t body = 1024) { return {header, body}; }

// Feeds `input` to a fresh parser in pieces of `step` bytes, returning the final state.
State feed_in_steps(RequestParser& p, std::string_view input, std::size_t step, std::size_t& total_used) {
  total_used = 0;
  State s = State::need_more;
  std::string pending;
  for (std::size_t pos = 0; pos < input.size() && s == State::need_more; pos += step) {
    pending += input.substr(pos, step);
    std::size_t used = 0;
    s = p.feed(pending, used);
    total_used += used;
    pending.erase(0, used);
  }
  return s;
}
}  // namespace

TEST_CASE("a GET request parses whole and split at every byte boundary") {
  const std::string input = "GET /events?topic=a HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 42\r\n\r\n";
  for (std::size_t step = 1; step <= input.size(); ++step) {
    CAPTURE(step);
    RequestParser p(limits());
    std::size_t used = 0;
    REQUIRE(feed_in_steps(p, input, step, used) == State::complete);
    CHECK(used == input.size());
    CHECK(p.request().method == "GET");
    CHECK(p.request().target == "/events?topic=a");
    REQUIRE(p.request().header("last-event-id"));
    CHECK(*p.request().header("last-event-id") == "42");
    CHECK(p.request().keep_alive);
  }
}

TEST_CASE("a chunked POST body parses split at every byte boundary") {
  const std::string input =
      "POST /publish?topic=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  for (std::size_t step = 1; step <= input.size(); ++step) {
    CAPTURE(step);
    RequestParser p(limits());
    std::size_t used = 0;
    REQUIRE(feed_in_steps(p, input, step, used) == State::complete);
    CHECK(p.request().body == "hello world");
  }
}

TEST_CASE("pipelined requests are parsed one at a time") {
  std::string input = "POST /publish HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /healthz HTTP/1.1\r\n\r\n";
  RequestParser p(limits());
  std::size_t used = 0;
  REQUIRE(p.feed(input, used) == State::complete);
  CHECK(p.request().body == "abc");
  input.erase(0, used);
  CHECK(input == "GET /healthz HTTP/1.1\r\n\r\n");
  p.next();
  REQUIRE(p.feed(input, used) == State::complete);
  CHECK(p.request().target == "/healthz");
  CHECK(p.request().body.empty());
  CHECK(used == input.size());
}

TEST_CASE("HTTP/1.0 requests default to close") {
  RequestParser p(limits());
  std::size_t used = 0;
  REQUIRE(p.feed("GET / HTTP/1.0\r\n\r\n", used) == State::complete);
  CHECK(p.request().http10());
  CHECK_FALSE(p.request().keep_alive);
}

TEST_CASE("a malformed request line is a 400") {
  RequestParser p(limits());
  std::size_t used = 0;
  CHECK(p.feed("GARBAGE\r\n\r\n", used) == State::error);
  CHECK(p.error_status() == 400);
}

TEST_CASE("a header block over the limit is a 431, even when it never ends") {
  RequestParser p(limits(256));
  std::string big = "GET / HTTP/1.1\r\nX-Big: " + std::string(300, 'a');
  std::size_t used = 0;
  CHECK(p.feed(big, used) == State::error);
  CHECK(p.error_status() == 431);
}

TEST_CASE("a header block just under the limit is fine") {
  std::string request = "GET / HTTP/1.1\r\nX: ";
  request += std::string(256 - request.size() - 4, 'a') + "\r\n\r\n";
  REQUIRE(request.size() == 256);
  RequestParser p(limits(256));
  std::size_t used = 0;
  CHECK(p.feed(request, used) == State::complete);
}

TEST_CASE("a declared body over the limit is a 413 before it arrives") {
  RequestParser p(limits(1024, 10));
  std::size_t used = 0;
  CHECK(p.feed("POST /publish HTTP/1.1\r\nContent-Length: 11\r\n\r\n", used) == State::error);
  CHECK(p.error_status() == 413);
}

TEST_CASE("a chunked body over the limit is a 413") {
  RequestParser p(limits(1024, 10));
  std::size_t used = 0;
  CHECK(p.feed("POST /publish HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n",
               used) == State::error);
  CHECK(p.error_status() == 413);
}

TEST_CASE("Content-Length together with Transfer-Encoding is refused (request smuggling)") {
  RequestParser p(limits());
  std::size_t used = 0;
  CHECK(p.feed("POST /publish HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", used) ==
        State::error);
  CHECK(p.error_status() == 400);
}

TEST_CASE("Expect: 100-continue is noticed once the headers are in") {
  RequestParser p(limits());
  std::size_t used = 0;
  CHECK(p.feed("POST /publish HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", used) ==
        State::need_more);
  CHECK(p.headers_complete());
  CHECK(p.expects_continue());
  CHECK(p.feed("hello", used) == State::complete);
}

TEST_CASE("a header with an empty name is a 400") {
  for (std::string_view raw : {"GET / HTTP/1.1\r\n: x\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n"}) {
    CAPTURE(raw);
    RequestParser p(limits());
    std::size_t used = 0;
    CHECK(p.feed(raw, used) == State::error);
    CHECK(p.error_status() == 400);
  }
}

TEST_CASE("folded header lines are refused, even split across reads") {
  const std::string input = "POST /publish HTTP/1.1\r\nX-Pad: y\r\n Content-Length: 5\r\n\r\nhello";
  for (std::size_t step = 1; step <= input.size(); ++step) {
    CAPTURE(step);
    RequestParser p(limits());
    std::size_t used = 0;
    CHECK(feed_in_steps(p, input, step, used) == State::error);
    CHECK(p.error_status() == 400);
  }
  RequestParser tab(limits());
  std::size_t used = 0;
  CHECK(tab.feed("GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", used) == State::error);
}

TEST_CASE("Transfer-Encoding in an HTTP/1.0 request is refused") {
  RequestParser p(limits());
  std::size_t used = 0;
  CHECK(p.feed("POST /publish HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n", used) ==
        State::error);
  CHECK(p.error_status() == 400);
}

TEST_CASE("a header with an empty value is kept") {
  RequestParser p(limits());
  std::size_t used = 0;
  REQUIRE(p.feed("GET / HTTP/1.1\r\nX-Empty:\r\nHost: a\r\n\r\n", used) == State::complete);
  REQUIRE(p.request().header("x-empty"));
  CHECK(p.request().header("x-empty")->empty());
  CHECK(*p.request().header("host") == "a");
}

namespace {
const std::string chunked_head = "POST /publish?topic=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

// Feeds `input` split at every step size and checks each run ends in an error `status`.
void check_refused_at_every_step(const std::string& input, const RequestParser::Limits& l, int status) {
  for (std::size_t step = 1; step <= input.size(); ++step) {
    CAPTURE(step);
    RequestParser p(l);
    std::size_t used = 0;
    REQUIRE(feed_in_steps(p, input, step, used) == State::error);
    CHECK(p.error_status() == status);
  }
}
}  // namespace

TEST_CASE("a chunk-size line of endless extension bytes is a 413 once it passes the header limit") {
  // Extensions carry no body byte: only a bound on the line itself stops them early.
  const std::string input = chunked_head + "1;ext=" + std::string(200, 'x');
  check_refused_at_every_step(input, limits(128, 1024 * 1024), 413);
  RequestParser p(limits(128, 1024 * 1024));
  std::size_t used = 0;
  REQUIRE(p.feed(input, used) == State::error);
  CHECK(p.error_message() == "chunk-size line too long");
}

TEST_CASE("a chunk size of endless leading zeros is a 413 once it passes the header limit") {
  const std::string input = chunked_head + std::string(200, '0');
  check_refused_at_every_step(input, limits(128, 1024 * 1024), 413);
}

TEST_CASE("a chunk-size line with extensions under the limit is fine, split at every byte boundary") {
  const std::string line = "5;name=" + std::string(100, 'v') + "\r\n";  // 109 bytes with its CRLF
  const std::string input = chunked_head + line + "hello\r\n" + "00000000006\r\n world\r\n0;last=1\r\n\r\n";
  for (std::size_t step = 1; step <= input.size(); ++step) {
    CAPTURE(step);
    RequestParser p(limits(128, 1024));
    std::size_t used = 0;
    REQUIRE(feed_in_steps(p, input, step, used) == State::complete);
    CHECK(used == input.size());
    CHECK(p.request().body == "hello world");
  }
}

TEST_CASE("chunk framing counts against the body limit: many tiny chunks are a 413") {
  // 1-byte chunks cost 6 bytes on the wire each: 100 body bytes under a 128-byte body limit
  // are 600 wire bytes, over the 128 + 128 bytes the body and its framing may take.
  std::string input = chunked_head;
  for (int i = 0; i < 100; ++i) input += "1\r\nx\r\n";
  check_refused_at_every_step(input, limits(128, 128), 413);
  RequestParser p(limits(128, 128));
  std::size_t used = 0;
  REQUIRE(p.feed(input, used) == State::error);
  CHECK(p.error_message() == "request body too large (chunk framing included)");
}

TEST_CASE("a chunked body at the body limit with ordinary framing is fine, and the count restarts per request") {
  std::string input = chunked_head;
  for (int i = 0; i < 8; ++i) input += "10\r\n" + std::string(16, 'a') + "\r\n";
  input += "0\r\n\r\n";
  RequestParser p(limits(128, 128));
  for (int request = 0; request < 3; ++request) {
    CAPTURE(request);
    std::size_t used = 0;
    REQUIRE(p.feed(input, used) == State::complete);
    CHECK(used == input.size());
    CHECK(p.request().body == std::string(128, 'a'));
    p.next();
  }
}

TEST_CASE("limits as large as a size_t still parse a chunked body") {
  constexpr std::size_t most = std::numeric_limits<std::size_t>::max();
  const std::string input = chunked_head + "5;a=b\r\nhello\r\n0\r\n\r\n";
  for (std::size_t step = 1; step <= input.size(); ++step) {
    CAPTURE(step);
    RequestParser p(limits(most, most));
    std::size_t used = 0;
    REQUIRE(feed_in_steps(p, input, step, used) == State::complete);
    CHECK(p.request().body == "hello");
  }
}
