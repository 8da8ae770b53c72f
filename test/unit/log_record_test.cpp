#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "store/log_record.hpp"

using namespace herald;

namespace {
LogRecord sample() {
  LogRecord r;
  r.id = 1'733'000'000'000'123;
  r.publish_us = 1'733'000'000'000'456;
  r.topics = {"orders", "users/42"};
  r.body = "event: update\ndata: {\"x\":1}\n\n";
  return r;
}

LogRecord round_trip(const LogRecord& r) {
  std::string bytes;
  encode_record(r, bytes);
  CHECK(bytes.size() == encoded_size(r));
  LogRecord out;
  const DecodeResult res = decode_record(bytes, out);
  REQUIRE(res.status == DecodeStatus::ok);
  CHECK(res.size == bytes.size());
  return out;
}
}  // namespace

TEST_CASE("log record round trips topics, body and times") {
  const LogRecord r = sample();
  CHECK(round_trip(r) == r);
}

TEST_CASE("log record round trips unicode topics and bodies byte for byte") {
  LogRecord r = sample();
  r.topics = {"café", "日本語/トピック", "emoji-🚀"};
  r.body = "data: héllo wörld ✓\n\n";
  CHECK(round_trip(r) == r);
}

TEST_CASE("log record round trips an empty body, no topics and the largest ids") {
  LogRecord r;
  r.id = ~std::uint64_t{0};
  r.publish_us = 0;
  CHECK(round_trip(r) == r);
  r.topics = {""};
  CHECK(round_trip(r) == r);
}

TEST_CASE("log record keeps the private flag") {
  LogRecord r = sample();
  r.is_private = true;
  CHECK(round_trip(r).is_private);
  r.is_private = false;
  CHECK_FALSE(round_trip(r).is_private);
}

TEST_CASE("floor record carries its topic and floor id") {
  const LogRecord r = make_floor_record("orders", 9000, 1234);
  const LogRecord out = round_trip(r);
  CHECK(out.kind == RecordKind::floor);
  CHECK(out.id == 9000);
  CHECK(out.topics == std::vector<std::string>{"orders"});
  CHECK(out.body.empty());
}

TEST_CASE("log record is little-endian with the documented layout") {
  LogRecord r;
  r.id = 0x0102030405060708;
  r.publish_us = 0x1112131415161718;
  r.is_private = true;
  r.topics = {"ab"};
  r.body = "xyz";
  std::string bytes;
  encode_record(r, bytes);
  const std::string expected_after_crc = std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8) +
                                         std::string("\x18\x17\x16\x15\x14\x13\x12\x11", 8) +
                                         std::string("\x01\x01\x01\x00\x02\x00" "ab" "\x03\x00\x00\x00" "xyz", 15);
  REQUIRE(bytes.size() == 8 + expected_after_crc.size());
  CHECK(bytes.substr(0, 4) == std::string("\x1F\x00\x00\x00", 4));  // len = 31
  CHECK(bytes.substr(8) == expected_after_crc);
}

TEST_CASE("log record decoder asks for more bytes at every truncation point") {
  std::string bytes;
  encode_record(sample(), bytes);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    LogRecord out;
    CAPTURE(n);
    CHECK(decode_record(std::string_view(bytes).substr(0, n), out).status == DecodeStatus::need_more);
  }
}

TEST_CASE("log record decoder never returns a record after any single-bit flip") {
  std::string bytes;
  encode_record(sample(), bytes);
  // Flips in the length field may ask for more bytes (it then reaches past the input); every
  // other flip must be caught as corrupt.
  for (std::size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    std::string damaged = bytes;
    damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
    LogRecord out;
    const DecodeResult res = decode_record(damaged, out);
    CAPTURE(bit);
    CHECK(res.status != DecodeStatus::ok);
    if (bit >= 32) CHECK(res.status == DecodeStatus::corrupt);
  }
}

TEST_CASE("log record decoder decodes the first of several records and says its size") {
  std::string bytes;
  LogRecord a = sample(), b = sample();
  b.id += 1;
  encode_record(a, bytes);
  const std::size_t first = bytes.size();
  encode_record(b, bytes);
  LogRecord out;
  const DecodeResult res = decode_record(bytes, out);
  REQUIRE(res.status == DecodeStatus::ok);
  CHECK(res.size == first);
  CHECK(out == a);
  REQUIRE(decode_record(std::string_view(bytes).substr(first), out).status == DecodeStatus::ok);
  CHECK(out == b);
}

TEST_CASE("log record decoder calls impossible lengths corrupt without waiting for bytes") {
  LogRecord out;
  CHECK(decode_record(std::string("\x00\x00\x00\x00", 4), out).status == DecodeStatus::corrupt);
  CHECK(decode_record(std::string("\x17\x00\x00\x00", 4), out).status == DecodeStatus::corrupt);  // 23 < minimum
  CHECK(decode_record(std::string("\x01\x00\x00\x04", 4), out).status == DecodeStatus::corrupt);  // > 64 MiB
  CHECK(decode_record(std::string("\xFF\xFF\xFF\xFF", 4), out).status == DecodeStatus::corrupt);
}

TEST_CASE("log record encoder refuses fields the format cannot hold") {
  std::string bytes;
  LogRecord r = sample();
  r.topics = {std::string(70000, 't')};
  CHECK_THROWS_AS(encode_record(r, bytes), std::length_error);
  r.topics.assign(70000, "t");
  CHECK_THROWS_AS(encode_record(r, bytes), std::length_error);
  r = sample();
  r.body.assign(kRecordMaxLen, 'b');
  CHECK_THROWS_AS(encode_record(r, bytes), std::length_error);
  LogRecord floor = make_floor_record("a", 1, 1);
  floor.topics.push_back("b");
  CHECK_THROWS_AS(encode_record(floor, bytes), std::invalid_argument);
  CHECK(bytes.empty());
}
