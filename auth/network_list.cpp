#include "auth/network_list.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace herald {

IpAddress ipv4_address(std::uint32_t host_order) {
  IpAddress a{};
  a[10] = a[11] = 0xff;
  a[12] = static_cast<std::uint8_t>(host_order >> 24);
  a[13] = static_cast<std::uint8_t>(host_order >> 16);
  a[14] = static_cast<std::uint8_t>(host_order >> 8);
  a[15] = static_cast<std::uint8_t>(host_order);
  return a;
}

namespace {
bool is_mapped_ipv4(const IpAddress& a) {
  static constexpr std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a.data(), prefix, sizeof prefix) == 0;
}
}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
  // inet_pton needs a terminated string; addresses are short, so longer input is not one.
  char buffer[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buffer) return std::nullopt;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  IpAddress a{};
  in_addr v4{};
  if (inet_pton(AF_INET, buffer, &v4) == 1) return ipv4_address(ntohl(v4.s_addr));
  if (inet_pton(AF_INET6, buffer, a.data()) == 1) return a;
  return std::nullopt;
}

bool is_loopback(const IpAddress& a) {
  if (is_mapped_ipv4(a)) return a[12] == 127;
  static constexpr IpAddress v6_loopback = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return a == v6_loopback;
}

NetworkList::NetworkList(const std::vector<std::string>& entries) {
  for (const std::string& entry : entries) {
    std::string_view text = entry;
    std::string_view address = text.substr(0, text.find('/'));
    auto base = parse_ip(address);
    if (!base) throw std::invalid_argument("'" + entry + "' is not an IP address or network");
    bool v4 = is_mapped_ipv4(*base) && address.find(':') == std::string_view::npos;
    unsigned prefix = 128;
    if (address.size() < text.size()) {
      std::string_view bits = text.substr(address.size() + 1);
      unsigned max = v4 ? 32 : 128;
      auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
      if (bits.empty() || ec != std::errc() || end != bits.data() + bits.size() || prefix > max)
        throw std::invalid_argument("'" + entry + "' has a bad prefix length (0 to " + std::to_string(max) + ")");
      if (v4) prefix += 96;
    }
    networks_.push_back({*base, prefix});
  }
}

bool NetworkList::contains(const IpAddress& address) const {
  for (const Network& n : networks_) {
    unsigned whole = n.prefix / 8, rest = n.prefix % 8;
    if (std::memcmp(address.data(), n.base.data(), whole) != 0) continue;
    if (rest == 0) return true;
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    if ((address[whole] & mask) == (n.base[whole] & mask)) return true;
  }
  return false;
}

}  // namespace herald
