// What differs between the servers under test: URLs of the publish and subscribe requests
// and the shape of event ids. Everything else is the same code for both.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <netinet/in.h>

namespace bench {

enum class TargetKind { herald, nchan };

struct Target {
  TargetKind kind = TargetKind::herald;
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  sockaddr_in address{};

  /// Parses "http://127.x.y.z:PORT"; refuses anything outside 127.0.0.0/8.
  static Target parse(TargetKind kind, std::string_view url);
  std::string_view name() const { return kind == TargetKind::herald ? "herald" : "nchan"; }

  /// Appends a complete publish request carrying `data` to `out`.
  void append_publish(std::string& out, std::string_view topic, std::string_view data) const;
  /// A complete subscribe request; `last_event_id` empty means a fresh subscription.
  std::string subscribe_request(std::string_view topic, std::string_view last_event_id) const;
};

/// An event id reduced to numbers for order checks: Herald's "1795672266773895" is one
/// number, nchan's "1690000000:0" two (seconds, then index within the second). Ids compare
/// as tuples; an id that is not of that shape is marked invalid.
struct IdKey {
  std::array<std::uint64_t, 4> parts{};
  std::uint8_t count = 0;
  bool valid = false;

  static IdKey parse(std::string_view id);
  /// true when this id is strictly after `earlier` (both valid).
  bool after(const IdKey& earlier) const;
};

TargetKind parse_target_kind(std::string_view name);

}  // namespace bench
