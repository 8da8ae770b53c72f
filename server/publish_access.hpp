#pragma once
#include <optional>
#include <string>
#include <variant>

#include "auth/jwt_verifier.hpp"
#include "auth/network_list.hpp"
#include "config/settings.hpp"
#include "server/http_request.hpp"
#include "server/http_response.hpp"

namespace herald {

/// Leave to publish. `claims` set: a JWT allowed it, and its publish grants still have to
/// cover every topic; unset: every topic.
struct PublishGrant {
  std::optional<Claims> claims;
};

/// A token checked by `verifier`: its claims, or the 401 answer for an invalid one.
std::variant<Claims, HttpResponse> verify_token(const JwtVerifier& verifier, const std::string& token);

/// Who may publish. In order: the publish key (a Bearer token) may publish anywhere; with a
/// JWT key, a valid token with publish grants; the --publish-from networks without
/// credentials; with no credentials configured at all, loopback too (unless a proxy relayed
/// the request: then the client is elsewhere), or everyone with --allow-anonymous-publish.
/// Immutable, so every shard thread may share one.
class PublishAccess {
 public:
  /// `verifier`: null when JWT authorization is off. Throws std::invalid_argument for a
  /// publish-from entry that is not a network (the settings loader has checked them).
  PublishAccess(const Settings& settings, const JwtVerifier* verifier);

  /// `token`: the request's Bearer token or auth cookie, if any.
  std::variant<PublishGrant, HttpResponse> check(const HttpRequest& request, const std::optional<std::string>& token) const;

 private:
  bool is_publish_key(const std::string& token) const;

  const JwtVerifier* verifier_;
  std::string key_;
  NetworkList trusted_;
  bool credentials_configured_;
  bool anyone_;
};

}  // namespace herald
