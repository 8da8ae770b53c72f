#include <doctest/doctest.h>

#include "server/url.hpp"

using namespace herald;

TEST_CASE("query strings keep repeats and decode escapes") {
  auto q = parse_query("topic=a&topic=b%2Fc&x=1+2&flag&=v");
  REQUIRE(q);
  REQUIRE(q->size() == 5);
  CHECK((*q)[0] == std::pair<std::string, std::string>{"topic", "a"});
  CHECK((*q)[1] == std::pair<std::string, std::string>{"topic", "b/c"});
  CHECK((*q)[2].second == "1 2");
  CHECK((*q)[3] == std::pair<std::string, std::string>{"flag", ""});
  CHECK(*find_param(*q, "x") == "1 2");
  CHECK(find_param(*q, "missing") == nullptr);
}

TEST_CASE("malformed escapes are refused") {
  CHECK_FALSE(parse_query("a=%"));
  CHECK_FALSE(parse_query("a=%4"));
  CHECK_FALSE(parse_query("a=%zz"));
  CHECK(percent_decode("%41%e2%82%ac") == std::string("A\xe2\x82\xac"));
}

TEST_CASE("targets split into path and query") {
  CHECK(split_target("/events?topic=a") == std::pair<std::string_view, std::string_view>{"/events", "topic=a"});
  CHECK(split_target("/healthz") == std::pair<std::string_view, std::string_view>{"/healthz", ""});
}
