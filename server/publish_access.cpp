#include "server/publish_access.hpp"

#include <chrono>

#include <openssl/crypto.h>

namespace herald {

std::variant<Claims, HttpResponse> verify_token(const JwtVerifier& verifier, const std::string& token) {
  auto verified = verifier.verify(token, std::chrono::system_clock::now());
  if (auto* error = std::get_if<std::string>(&verified)) return unauthorized("invalid token: " + *error, true);
  return std::get<Claims>(std::move(verified));
}

PublishAccess::PublishAccess(const Settings& settings, const JwtVerifier* verifier)
    : verifier_(verifier),
      key_(settings.publish_key),
      trusted_(settings.publish_from),
      credentials_configured_(verifier || !settings.publish_key.empty()),
      anyone_(settings.allow_anonymous_publish) {}

bool PublishAccess::is_publish_key(const std::string& token) const {
  // Constant time, so the key can't be guessed a byte at a time from response timings.
  return !key_.empty() && token.size() == key_.size() && CRYPTO_memcmp(token.data(), key_.data(), key_.size()) == 0;
}

std::variant<PublishGrant, HttpResponse> PublishAccess::check(const HttpRequest& request,
                                                              const std::optional<std::string>& token) const {
  if (token && is_publish_key(*token)) return PublishGrant{};
  if (verifier_ && token) {
    auto checked = verify_token(*verifier_, *token);
    if (auto* error = std::get_if<HttpResponse>(&checked)) return std::move(*error);
    return PublishGrant{std::get<Claims>(std::move(checked))};
  }
  if (anyone_ || trusted_.contains(request.peer)) return PublishGrant{};
  if (credentials_configured_) {
    if (token) return unauthorized("invalid publish key", true);
    return unauthorized(verifier_ ? "publishing needs a token" : "publishing needs the publish key (Authorization: Bearer KEY)",
                        false);
  }
  // Nothing configured: the machine itself only. A proxy on loopback relays other clients.
  if (is_loopback(request.peer) && !request.forwarded()) return PublishGrant{};
  return json_error(403,
                    "publishing is allowed from this machine only: set publish-key (or a JWT key) and send it as a "
                    "Bearer token, or list the publisher's network in publish-from, or set allow-anonymous-publish");
}

}  // namespace herald
