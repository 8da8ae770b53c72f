#include <doctest/doctest.h>

#include <string>

#include "broker/topic_name.hpp"

using namespace herald;

TEST_CASE("topic names: 1 to 256 bytes, no spaces or control characters") {
  CHECK(valid_topic_name("a"));
  CHECK(valid_topic_name("orders/42:updates.v1*"));
  CHECK(valid_topic_name(std::string(256, 'x')));
  CHECK_FALSE(valid_topic_name(""));
  CHECK_FALSE(valid_topic_name(std::string(257, 'x')));
  CHECK_FALSE(valid_topic_name("a b"));
  CHECK_FALSE(valid_topic_name("a\tb"));
  CHECK_FALSE(valid_topic_name("a\nb"));
  CHECK_FALSE(valid_topic_name(std::string("a\0b", 3)));
  CHECK_FALSE(valid_topic_name("a\x7f"));
}

TEST_CASE("topic names must be well-formed UTF-8") {
  CHECK(valid_topic_name("caf\xc3\xa9"));                // é
  CHECK(valid_topic_name("\xe2\x82\xac"));               // €
  CHECK(valid_topic_name("\xf0\x9f\x98\x80"));           // 😀
  CHECK_FALSE(valid_topic_name("\xff"));                 // never valid
  CHECK_FALSE(valid_topic_name("\xc3"));                 // truncated
  CHECK_FALSE(valid_topic_name("\xc0\xaf"));             // overlong '/'
  CHECK_FALSE(valid_topic_name("\xed\xa0\x80"));         // surrogate
  CHECK_FALSE(valid_topic_name("\xf4\x90\x80\x80"));     // past U+10FFFF
}
