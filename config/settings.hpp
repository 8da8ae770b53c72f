#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace herald {

using Millis = std::chrono::milliseconds;

/// Every setting of the server, with its default. Filled once at startup by
/// load_settings() and read-only afterwards.
struct Settings {
  std::string host = "0.0.0.0";
  std::uint16_t port = 8080;
  unsigned threads = 0;  ///< 0: one per core
  std::size_t history_size = 1000;
  Millis history_max_age{0};  ///< 0: no age limit
  Millis heartbeat_interval{15000};
  Millis retry{3000};
  std::size_t max_connections = 10000;
  std::size_t max_connections_per_client = 0;  ///< per remote address; 0: no limit
  std::size_t max_events_per_publish = 100;
  std::size_t max_data_bytes = 256 * 1024;  ///< per event
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_pending_bytes = 1024 * 1024;
  Millis write_timeout{30000};  ///< a stream whose write makes no progress this long is closed
  Millis write_batch_window{1};  ///< writes to streams at most once per window while events keep coming
  std::size_t max_topics_per_subscription = 64;
  /// Topics held at once (with subscribers or retained events); 0: no limit. A publish or
  /// subscription that would create more is refused with 503.
  std::size_t max_topics = 100'000;
  std::size_t max_topics_per_event = 64;  ///< topics one published event may name (413 beyond)
  Millis header_timeout{10000};
  Millis body_timeout{30000};
  Millis idle_timeout{60000};
  std::vector<std::string> cors_origins{"*"};
  std::string log_level = "info";
  std::string log_format = "plain";       ///< plain or json
  std::vector<std::string> metrics_topics;  ///< topics that get their own labelled series
  bool demo = false;                        ///< publish the server time to topic "time"
  Millis drain_delay{0};                    ///< SIGTERM to closing: /readyz 503, all else served
  // Authorization: on when a secret or a public key is set.
  std::string jwt_secret;                   ///< HS256 shared secret
  std::string jwt_public_key;               ///< path of a PEM public key (RS256 or ES256)
  Millis jwt_leeway{10000};                 ///< clock skew allowed on exp and nbf
  std::vector<std::string> private_topics;  ///< patterns of topics that need a token to read
  std::string auth_cookie = "herald_token"; ///< cookie that may carry the token
  // Who may publish. With no publish key and no JWT key, only loopback and publish_from.
  std::string publish_key;                  ///< static Bearer token that may publish to every topic
  std::vector<std::string> publish_from;    ///< networks that may publish without credentials
  bool allow_anonymous_publish = false;     ///< anyone who can connect may publish (old default)
  // TLS: on when a certificate and key are set; an HTTPS listener beside the plain one.
  std::string tls_cert;          ///< PEM certificate chain file
  std::string tls_key;           ///< PEM private key file
  std::uint16_t tls_port = 8443;
  bool plain_http = true;        ///< with TLS on, false closes the plain HTTP port

  bool tls() const { return !tls_cert.empty(); }

  unsigned effective_threads() const;
};

/// A setting that could not be used; the message names the setting.
struct SettingsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// "250ms", "15s", "2m", "1h", or a bare number of seconds.
Millis parse_duration(std::string_view text);
std::string format_duration(Millis value);
/// Bytes, or with a k/K/KB/KiB or m/M/MB/MiB suffix (powers of 1024).
std::size_t parse_size(std::string_view text);

}  // namespace herald
