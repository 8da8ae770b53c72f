#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "auth/jwt_verifier.hpp"
#include "broker/broker.hpp"
#include "config/settings.hpp"
#include "server/http_request.hpp"
#include "server/http_response.hpp"
#include "server/publish_access.hpp"
#include "server/url.hpp"

namespace herald {

/// What the router needs from the running server.
class Hub {
 public:
  virtual ~Hub() = default;
  /// Publishes and returns the assigned ids once the events are in history; nothing, and
  /// nothing published, when the new topics would exceed --max-topics. Any thread.
  virtual std::optional<std::vector<std::uint64_t>> publish(const std::vector<Message>& messages) = 0;
  /// False while shutting down.
  virtual bool accepting() const = 0;
  /// False from the moment a stop is requested (readiness), while work may still be served.
  virtual bool ready() const = 0;
  /// Prometheus text for /metrics.
  virtual std::string metrics() const = 0;
  /// JSON for /stats.
  virtual std::string stats() const = 0;
  /// The same JSON as an `event: stats` frame for /stats/stream, shared by every stream.
  virtual EventPtr stats_frame() const = 0;
};

/// A valid GET /events: the connection becomes a stream.
struct StreamRequest {
  std::vector<std::string> topics;
  /// Per topic: may this stream receive the topic's private events (its token allows it).
  std::vector<bool> may_read_private;
  std::optional<std::uint64_t> after;  ///< replay events with id > after
  /// The client's Last-Event-ID as sent, when it was given but cannot be honoured (not a
  /// number): every topic then gets the history-truncated notice.
  std::optional<std::string> unusable_last_id;
  std::string response_head;  ///< status line and headers, ready to write
  /// The CORS headers of response_head, for an error answered instead of the stream.
  std::vector<std::pair<std::string, std::string>> cors_headers;
  bool chunked = true;        ///< HTTP/1.1: chunked framing; HTTP/1.0: close-delimited
  bool notify_replay = false; ///< send herald-replay-complete after a replay (?notifyReplay=1)
  bool stats = false;         ///< the /stats/stream feed instead of topics
  /// The exp claim (Unix seconds) of the token that let this stream read private topics or
  /// events; the stream ends when the token would no longer be accepted.
  std::optional<std::int64_t> token_exp;
};

using RouteResult = std::variant<HttpResponse, StreamRequest>;

/// Maps a request to its answer: a complete response, or a stream to open. Holds no
/// connection state, so every shard thread may use one router concurrently.
class RequestRouter {
 public:
  /// `verifier`: null when authorization is off.
  RequestRouter(const Settings& settings, Hub& hub, const JwtVerifier* verifier);
  RouteResult route(const HttpRequest& request) const;

 private:
  RouteResult events(const HttpRequest& request, const QueryParams& query) const;
  /// Completes `s` with the response head: shared by /events and /stats/stream.
  RouteResult stream(const HttpRequest& request, StreamRequest s) const;
  HttpResponse publish(const HttpRequest& request, const QueryParams& query) const;
  void add_cors(const HttpRequest& request, std::vector<std::pair<std::string, std::string>>& headers) const;

  /// The request's token: Authorization: Bearer, else the auth cookie, else (on /events)
  /// the access_token query parameter, which EventSource can set where it cannot set headers.
  std::optional<std::string> token(const HttpRequest& request, const QueryParams* query) const;
  /// The token's claims, or the 401 answer for a token that is present but invalid.
  std::variant<Claims, HttpResponse> claims_of(const std::string& token) const;

  const Settings& settings_;
  Hub& hub_;
  const JwtVerifier* verifier_;
  PublishAccess publish_access_;
};

}  // namespace herald
