#include <doctest/doctest.h>

#include <string>

#include "store/segment_header.hpp"

using namespace herald;

namespace {
SegmentHeader sample() { return SegmentHeader{1, "01234567-89ab-cdef-0123-456789abcdef", 1'733'000'000'000'000, 42}; }
}  // namespace

TEST_CASE("segment header round trips and starts with the magic") {
  const std::string bytes = encode_segment_header(sample());
  CHECK(bytes.size() == kSegmentHeaderBytes);
  CHECK(bytes.substr(0, 8) == "HRLDLOG1");
  SegmentHeader out;
  REQUIRE(decode_segment_header(bytes, out) == HeaderStatus::ok);
  CHECK(out == sample());
}

TEST_CASE("segment header asks for more bytes at every truncation point") {
  const std::string bytes = encode_segment_header(sample());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    SegmentHeader out;
    CAPTURE(n);
    CHECK(decode_segment_header(std::string_view(bytes).substr(0, n), out) == HeaderStatus::need_more);
  }
}

TEST_CASE("segment header is corrupt after any single-bit flip outside the version") {
  const std::string bytes = encode_segment_header(sample());
  for (std::size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    if (bit / 8 >= 8 && bit / 8 < 12) continue;  // the version: see the next case
    std::string damaged = bytes;
    damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
    SegmentHeader out;
    CAPTURE(bit);
    CHECK(decode_segment_header(damaged, out) == HeaderStatus::corrupt);
  }
}

TEST_CASE("segment header of a newer version is told apart from a damaged one") {
  SegmentHeader h = sample();
  h.version = 7;
  SegmentHeader out;
  CHECK(decode_segment_header(encode_segment_header(h), out) == HeaderStatus::newer_format);
  CHECK(out.version == 7);
  h.version = 0;
  CHECK(decode_segment_header(encode_segment_header(h), out) == HeaderStatus::corrupt);
}
