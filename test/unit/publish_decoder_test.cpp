#include <doctest/doctest.h>

#include "server/publish_decoder.hpp"

using namespace herald;

namespace {
DecodedPublish ok(std::string_view type, std::string_view query, std::string_view body) {
  auto r = decode_publish(type, *parse_query(query), body);
  if (auto* e = std::get_if<PublishError>(&r)) FAIL("unexpected error ", e->status, " ", e->message);
  return std::get<DecodedPublish>(r);
}
int error(std::string_view type, std::string_view query, std::string_view body) {
  auto r = decode_publish(type, *parse_query(query), body);
  REQUIRE(std::holds_alternative<PublishError>(r));
  return std::get<PublishError>(r).status;
}
}  // namespace

TEST_CASE("JSON object with string data") {
  auto d = ok("application/json", "", R"({"topic":"a","data":"hi\nthere","event":"t"})");
  REQUIRE(d.messages.size() == 1);
  CHECK_FALSE(d.batch);
  CHECK(d.messages[0].topics == std::vector<std::string>{"a"});
  CHECK(d.messages[0].data == "hi\nthere");
  CHECK(d.messages[0].type == "t");
}

TEST_CASE("JSON data that is not a string is sent as compact JSON") {
  auto d = ok("application/json; charset=utf-8", "", R"({"topic":"a","data":{ "x" : [1, 2] }})");
  CHECK(d.messages[0].data == R"({"x":[1,2]})");
  // Keys keep the publisher's order.
  CHECK(ok("application/json", "", R"({"topic":"a","data":{"z":1,"a":2}})").messages[0].data == R"({"z":1,"a":2})");
}

TEST_CASE("JSON topic list and arrays of events") {
  auto d = ok("application/json", "", R"([{"topic":["a","b","a"],"data":1},{"topic":"c","data":""}])");
  CHECK(d.batch);
  REQUIRE(d.messages.size() == 2);
  CHECK(d.messages[0].topics == std::vector<std::string>{"a", "b"});
  CHECK(d.messages[1].data.empty());
}

TEST_CASE("form bodies with repeated topics") {
  auto d = ok("application/x-www-form-urlencoded", "", "topic=a&topic=b&data=hello+world%21&event=greet");
  REQUIRE(d.messages.size() == 1);
  CHECK(d.messages[0].topics == std::vector<std::string>{"a", "b"});
  CHECK(d.messages[0].data == "hello world!");
  CHECK(d.messages[0].type == "greet");
}

TEST_CASE("with ?topic= the body is the data whatever its content type") {
  // curl -d sends application/x-www-form-urlencoded by default.
  auto d = ok("application/x-www-form-urlencoded", "topic=a&event=t", "hello=world");
  CHECK(d.messages[0].data == "hello=world");
  CHECK(d.messages[0].type == "t");
  CHECK(ok("", "topic=a", "raw").messages[0].data == "raw");
}

TEST_CASE("deeply nested JSON is refused before it is serialised") {
  std::string deep = R"({"topic":"a","data":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK(error("application/json", "", deep) == 400);
  std::string fine = R"({"topic":"a","data":)" + std::string(60, '[') + std::string(60, ']') + "}";
  CHECK(ok("application/json", "", fine).messages[0].data.size() == 120);
}

TEST_CASE("bad publish requests are refused with the right status") {
  CHECK(error("application/json", "", "{not json") == 400);
  CHECK(error("application/json", "", R"({"data":"x"})") == 400);
  CHECK(error("application/json", "", R"({"topic":"a","date":"x"})") == 400);
  CHECK(error("application/x-www-form-urlencoded", "", "topic=a") == 400);
  CHECK(error("application/json", "", R"({"topic":"has space","data":"x"})") == 400);
  CHECK(error("application/json", "", R"({"topic":"","data":"x"})") == 400);
  CHECK(error("application/json", "", R"({"topic":5,"data":"x"})") == 400);
  CHECK(error("application/json", "", R"({"topic":"a","data":"","event":"x\ny"})") == 400);
  CHECK(error("application/json", "", R"({"topic":"a","data":"","event":"x\ry"})") == 400);
  CHECK(error("application/json", "", R"({"topic":"a","data":"","event":7})") == 400);
  CHECK(error("application/json", "", R"({"topic":"a","data":"","event":"herald-history-truncated"})") == 400);
  CHECK(error("", "topic=a&event=herald-replay-complete", "x") == 400);
  CHECK(error("application/json", "", "[]") == 400);
  CHECK(error("application/json", "", "[1]") == 400);
  CHECK(error("application/json", "", R"({"topic":")" + std::string(257, 'x') + R"("})") == 400);
  CHECK(error("application/x-www-form-urlencoded", "", "data=x") == 400);
  CHECK(error("application/x-www-form-urlencoded", "", "topic=a&data=x&event=%0A") == 400);
  CHECK(error("text/plain", "", "hello") == 415);
  CHECK(error("", "", "hello") == 400);
  CHECK(error("", "topic=a%00b", "hello") == 400);
}

TEST_CASE("data and event types must be UTF-8, whichever way they come") {
  CHECK(ok("", "topic=a", "caf\xc3\xa9 \xf0\x9f\x98\x80").messages[0].data == "caf\xc3\xa9 \xf0\x9f\x98\x80");
  CHECK(error("", "topic=a", "caf\xe9") == 400);                           // Latin-1
  CHECK(error("", "topic=a", "\xed\xa0\x80") == 400);                      // a UTF-16 surrogate
  CHECK(error("", "topic=a&event=%FF", "x") == 400);                       // type from the URL
  CHECK(error("application/x-www-form-urlencoded", "", "topic=a&data=%C3%28") == 400);
  CHECK(error("application/json", "", "{\"topic\":\"a\",\"data\":\"\xff\"}") == 400);
  auto r = decode_publish("", *parse_query("topic=a"), "\xc0\xaf");
  REQUIRE(std::holds_alternative<PublishError>(r));
  CHECK(std::get<PublishError>(r).message.find("not UTF-8") != std::string::npos);
}
