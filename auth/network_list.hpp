#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald {

/// An IP address as 16 bytes: IPv6, or IPv4 mapped into ::ffff:0:0/96, so that one
/// comparison covers both families (a dual-stack socket reports IPv4 peers that way too).
using IpAddress = std::array<std::uint8_t, 16>;

/// "192.0.2.7", "2001:db8::1" or "::ffff:192.0.2.7"; nothing for anything else.
std::optional<IpAddress> parse_ip(std::string_view text);
IpAddress ipv4_address(std::uint32_t host_order);
/// 127.0.0.0/8 or ::1.
bool is_loopback(const IpAddress& address);

/// A set of networks, each an address with an optional prefix length ("10.0.0.0/8",
/// "fd00::/8", "192.0.2.7"). Host bits below the prefix are ignored. Immutable once built,
/// so any thread may ask it.
class NetworkList {
 public:
  NetworkList() = default;
  /// Throws std::invalid_argument naming the first entry that is not an address or network.
  explicit NetworkList(const std::vector<std::string>& entries);

  bool contains(const IpAddress& address) const;
  bool empty() const { return networks_.empty(); }

 private:
  struct Network {
    IpAddress base;
    unsigned prefix;  ///< leading bits that must match, over the 128-bit (mapped) form
  };
  std::vector<Network> networks_;
};

}  // namespace herald
