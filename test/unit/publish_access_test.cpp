#include <doctest/doctest.h>

#include <chrono>
#include <memory>

#include "server/publish_access.hpp"

using namespace herald;

namespace {

HttpRequest from(const char* address, bool forwarded = false) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/publish";
  r.peer = *parse_ip(address);
  if (forwarded) r.headers.emplace_back("x-forwarded-for", "203.0.113.5");
  return r;
}

// 0: granted for every topic; otherwise the refusal's status.
int verdict(const PublishAccess& access, const HttpRequest& request, std::optional<std::string> token = std::nullopt) {
  auto result = access.check(request, token);
  if (auto* refused = std::get_if<HttpResponse>(&result)) return refused->status;
  return std::get<PublishGrant>(result).claims ? -1 : 0;
}

constexpr const char* key = "0123456789abcdef-publisher";

}  // namespace

TEST_CASE("with nothing configured, only the machine itself may publish") {
  Settings s;
  PublishAccess access(s, nullptr);
  CHECK(verdict(access, from("127.0.0.1")) == 0);
  CHECK(verdict(access, from("::1")) == 0);
  CHECK(verdict(access, from("::ffff:127.0.0.1")) == 0);
  CHECK(verdict(access, from("10.0.0.8")) == 403);
  CHECK(verdict(access, from("2001:db8::1")) == 403);
  CHECK(verdict(access, HttpRequest{}) == 403);  // unknown peer
  // A proxy on this machine relays clients from anywhere.
  CHECK(verdict(access, from("127.0.0.1", true)) == 403);
  auto refused = std::get<HttpResponse>(access.check(from("10.0.0.8"), std::nullopt));
  for (const char* setting : {"publish-key", "publish-from", "allow-anonymous-publish"})
    CHECK(refused.body.find(setting) != std::string::npos);
}

TEST_CASE("publish-from networks may publish, relayed or not") {
  Settings s;
  s.publish_from = {"10.0.0.0/8", "127.0.0.1"};
  PublishAccess access(s, nullptr);
  CHECK(verdict(access, from("10.9.8.7")) == 0);
  CHECK(verdict(access, from("127.0.0.1", true)) == 0);  // the operator trusts the proxy
  CHECK(verdict(access, from("11.0.0.1")) == 403);
}

TEST_CASE("allow-anonymous-publish opens publishing to everyone") {
  Settings s;
  s.allow_anonymous_publish = true;
  PublishAccess access(s, nullptr);
  CHECK(verdict(access, from("203.0.113.9")) == 0);
  CHECK(verdict(access, from("127.0.0.1", true)) == 0);
}

TEST_CASE("with a publish key, the key is needed, from loopback too") {
  Settings s;
  s.publish_key = key;
  s.publish_from = {"10.0.0.0/8"};
  PublishAccess access(s, nullptr);
  CHECK(verdict(access, from("203.0.113.9"), std::string(key)) == 0);
  CHECK(verdict(access, from("127.0.0.1")) == 401);
  CHECK(verdict(access, from("127.0.0.1"), std::string("0123456789abcdef-publishex")) == 401);
  CHECK(verdict(access, from("127.0.0.1"), std::string(key).substr(0, 10)) == 401);
  CHECK(verdict(access, from("10.1.1.1")) == 0);  // listed networks need no key
  auto refused = std::get<HttpResponse>(access.check(from("127.0.0.1"), std::nullopt));
  bool challenged = false;
  for (const auto& [name, value] : refused.headers) challenged |= name == "WWW-Authenticate";
  CHECK(challenged);
}

TEST_CASE("with a JWT key, the publish key still publishes everywhere and tokens keep their grants") {
  Settings s;
  s.publish_key = key;
  auto verifier = JwtVerifier::with_secret("a-secret-of-at-least-thirty-two-bytes!!", std::chrono::seconds(10));
  PublishAccess access(s, verifier.get());
  CHECK(verdict(access, from("203.0.113.9"), std::string(key)) == 0);
  CHECK(verdict(access, from("127.0.0.1")) == 401);
  CHECK(verdict(access, from("127.0.0.1"), std::string("not.a.token")) == 401);
}
