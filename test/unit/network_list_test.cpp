#include <doctest/doctest.h>

#include <stdexcept>

#include "auth/network_list.hpp"

using namespace herald;

namespace {
IpAddress ip(const char* text) {
  auto a = parse_ip(text);
  REQUIRE_MESSAGE(a, text);
  return *a;
}
}  // namespace

TEST_CASE("IPv4 and IPv6 addresses parse into one form; anything else does not") {
  CHECK(ip("192.0.2.7") == ip("::ffff:192.0.2.7"));
  CHECK(ip("2001:db8::1") != ip("192.0.2.7"));
  CHECK(ip("10.1.2.3") == ipv4_address(0x0a010203));
  for (const char* bad : {"", "localhost", "1.2.3", "1.2.3.4.5", "256.1.1.1", "::g", "1.2.3.4/8", " 1.2.3.4"})
    CHECK_MESSAGE(!parse_ip(bad), bad);
}

TEST_CASE("loopback is 127.0.0.0/8 and ::1, in either form") {
  CHECK(is_loopback(ip("127.0.0.1")));
  CHECK(is_loopback(ip("127.255.0.9")));
  CHECK(is_loopback(ip("::ffff:127.0.0.1")));
  CHECK(is_loopback(ip("::1")));
  CHECK_FALSE(is_loopback(ip("128.0.0.1")));
  CHECK_FALSE(is_loopback(ip("10.0.0.1")));
  CHECK_FALSE(is_loopback(ip("::2")));
  CHECK_FALSE(is_loopback(IpAddress{}));  // unknown peer
}

TEST_CASE("a network list matches addresses by prefix") {
  NetworkList list({"10.0.0.0/8", "192.168.1.7", "fd00::/8", "172.16.5.9/12"});
  CHECK(list.contains(ip("10.200.3.4")));
  CHECK(list.contains(ip("::ffff:10.0.0.1")));
  CHECK_FALSE(list.contains(ip("11.0.0.1")));
  CHECK(list.contains(ip("192.168.1.7")));
  CHECK_FALSE(list.contains(ip("192.168.1.8")));
  CHECK(list.contains(ip("fd12:3456::1")));
  CHECK_FALSE(list.contains(ip("fe80::1")));
  CHECK(list.contains(ip("172.31.255.255")));  // host bits below the prefix are ignored
  CHECK_FALSE(list.contains(ip("172.32.0.0")));
  CHECK_FALSE(list.contains(ip("::a00:1")));  // 10.0.0.1's bits, but not an IPv4 address

  NetworkList everyone_v4({"0.0.0.0/0"});
  CHECK(everyone_v4.contains(ip("203.0.113.9")));
  CHECK_FALSE(everyone_v4.contains(ip("2001:db8::1")));
  CHECK(NetworkList({"::/0"}).contains(ip("2001:db8::1")));
  CHECK(NetworkList().empty());
  CHECK_FALSE(NetworkList().contains(ip("127.0.0.1")));
}

TEST_CASE("a bad network entry is refused with its text") {
  for (const char* bad : {"10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0/8", "example.com", "/8"}) {
    std::string message;
    try {
      NetworkList list({bad});
    } catch (const std::invalid_argument& e) {
      message = e.what();
    }
    CHECK_MESSAGE(message.find(bad) != std::string::npos, bad, " -> ", message);
  }
}
