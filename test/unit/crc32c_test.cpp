#include <doctest/doctest.h>

#include <string>

#include "store/crc32c.hpp"

using namespace herald;

TEST_CASE("crc32c matches the standard check value for 123456789") {
  CHECK(crc32c("123456789") == 0xE3069283u);
  CHECK(crc32c("") == 0u);
  CHECK(crc32c("a") == 0xC1D04330u);
}

TEST_CASE("crc32c matches the RFC 3720 test vectors") {
  CHECK(crc32c(std::string(32, '\0')) == 0x8A9136AAu);
  CHECK(crc32c(std::string(32, '\xFF')) == 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  CHECK(crc32c(ascending) == 0x46DD794Eu);
  CHECK(crc32c(descending) == 0x113FDB5Cu);
}

TEST_CASE("crc32c extended piecewise equals crc32c of the whole at every split") {
  std::string data;
  for (int i = 0; i < 100; ++i) data.push_back(static_cast<char>(i * 37 + 11));
  const std::uint32_t whole = crc32c(data);
  for (std::size_t split = 0; split <= data.size(); ++split) {
    const std::uint32_t head = crc32c(std::string_view(data).substr(0, split));
    CHECK(crc32c_extend(head, data.data() + split, data.size() - split) == whole);
  }
}
