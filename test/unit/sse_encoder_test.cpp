#include <doctest/doctest.h>

#include <algorithm>

#include "broker/sse_encoder.hpp"

using namespace herald;

TEST_CASE("an event is encoded with its id, type and data") {
  CHECK(sse::encode_event(7, "update", "hello") == "id: 7\nevent: update\ndata: hello\n\n");
}

TEST_CASE("an event without a type has no event line") {
  CHECK(sse::encode_event(1, "", "x") == "id: 1\ndata: x\n\n");
}

TEST_CASE("CR, LF and CRLF each end a data line") {
  CHECK(sse::encode_event(1, "", "a\nb\rc\r\nd") == "id: 1\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
}

TEST_CASE("empty data and trailing line breaks survive as empty data lines") {
  CHECK(sse::encode_event(1, "", "") == "id: 1\ndata: \n\n");
  CHECK(sse::encode_event(1, "", "a\n") == "id: 1\ndata: a\ndata: \n\n");
  CHECK(sse::encode_event(1, "", "\r\n\r\n") == "id: 1\ndata: \ndata: \ndata: \n\n");
}

TEST_CASE("data cannot inject a field or end the event early") {
  std::string frame = sse::encode_event(5, "", "x\n\nid: 99\nevent: evil\r\ndata: y");
  CHECK(frame == "id: 5\ndata: x\ndata: \ndata: id: 99\ndata: event: evil\ndata: data: y\n\n");
  // Exactly one blank line (the terminator) in the frame.
  CHECK(frame.find("\n\n") == frame.size() - 2);
}

TEST_CASE("event types with CR, LF or NUL are refused") {
  CHECK(sse::valid_event_type("update"));
  CHECK(sse::valid_event_type(""));
  CHECK_FALSE(sse::valid_event_type("a\nb"));
  CHECK_FALSE(sse::valid_event_type("a\rb"));
  CHECK_FALSE(sse::valid_event_type(std::string_view("a\0b", 3)));
}

TEST_CASE("the stream opens with the retry delay and a comment") {
  CHECK(sse::encode_stream_open(2500) == "retry: 2500\n: connected\n\n");
}

TEST_CASE("the truncated notice names the topics and has no id line") {
  std::string notice = sse::encode_truncated_notice({"a", "b"}, "42");
  CHECK(notice == "event: herald-history-truncated\ndata: {\"last_event_id\":\"42\",\"topics\":[\"a\",\"b\"]}\n\n");
  CHECK(notice.find("id:") == std::string::npos);
}

TEST_CASE("the truncated notice stays one data line whatever the client sent") {
  std::string notice = sse::encode_truncated_notice({"a"}, "x\ny\xff");
  CHECK(notice.find("\n\n") == notice.size() - 2);
  CHECK(std::count(notice.begin(), notice.end(), '\n') == 3);
}

TEST_CASE("the token-expiring notice carries exp and has no id line") {
  std::string notice = sse::encode_token_expiring(1893456000);
  CHECK(notice == "event: herald-token-expiring\ndata: {\"exp\":1893456000}\n\n");
  CHECK(sse::token_expiring_event_type.starts_with(sse::reserved_event_prefix));
}

TEST_CASE("an event encoded in two steps (fields first, id later) is the same frame") {
  for (std::string_view data : {"", "one", "a\r\nb\rc\nd", "trailing\n"}) {
    CHECK(sse::with_id(42, sse::encode_event_fields("", data)) == sse::encode_event(42, "", data));
    CHECK(sse::with_id(18446744073709551615ull, sse::encode_event_fields("t", data)) ==
          sse::encode_event(18446744073709551615ull, "t", data));
  }
  CHECK(sse::with_id(7, sse::encode_event_fields("t", "x")) == "id: 7\nevent: t\ndata: x\n\n");
}
