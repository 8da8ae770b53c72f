// Fuzzes RequestRouter::route (server/request_router.cpp) behind a fake Hub.
//
// Input: 1 byte of settings, then either (bit 7 clear) the bytes a client sends, parsed by
// RequestParser as Connection does, every complete request routed; or (bit 7 set) a request
// built field by field (FuzzedDataProvider), reaching what the parser would not let through.
//   byte 0, bit 0: the hub is accepting publishes   bit 1: the hub is ready
//           bit 2: CORS origins "*" / a list        bit 3: small limits (2 topics per
//                  subscription, 2 events per publish, 8 data bytes per event)
//           bit 4: authorization on: HS256 with the secret "fuzz-secret", private topics
//                  "private/*" and "secret" (the seeds carry tokens signed with it)
//           bit 5: the client is at 203.0.113.9 (clear: loopback)
//           bit 6: publish key "fuzz-publish-key-0123" configured
//
// Invariants:
//   - route never throws
//   - a response has a status in {200, 204, 400, 401, 403, 404, 405, 413, 415, 503, 505} with a known
//     reason phrase; header names and values without CR, LF or NUL; "Connection: close" when
//     the request was not keep-alive; HEAD answers are headers only
//   - errors (>= 400) are application/json with a one-line body: an object with an "error"
//     string; 405 has Allow; 204 has no body; 200 from /publish carries the hub's ids
//   - the response serialises to bytes that llhttp parses back as one response with the
//     same status and body
//   - CORS: "*" when configured, else Vary: Origin and the Origin echoed (with
//     Allow-Credentials) only when listed
//   - authorization off: no private reads; on: 401 has WWW-Authenticate, a publish without
//     any token is 401, a stream gets every private topic it lists readable
//   - who may publish: the publish key always may; with no JWT and no key, a local client
//     (loopback, no forwarding header) may, anyone else gets 403; with a key and no JWT, a
//     publish without the key is 401; nothing but /publish is ever refused with 403 or 401
//     without a JWT key
//   - a stream request has 1..max valid, distinct topics (or is the stats feed), a head
//     that is a 200 status line and headers ending in a blank line, chunked exactly for HTTP/1.1
//   - the hub only ever gets messages that are valid, within the limits; publish answers 503
//     while the hub is not accepting; /readyz answers 200 exactly when the hub is ready
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include <llhttp.h>
#include <nlohmann/json.hpp>

#include "auth/jwt_verifier.hpp"
#include "broker/sse_encoder.hpp"
#include "broker/topic_name.hpp"
#include "fuzz_common.hpp"
#include "server/request_parser.hpp"
#include "server/request_router.hpp"

using herald::fuzz::escaped;

namespace {

class FakeHub : public herald::Hub {
 public:
  bool accepting_ = true, ready_ = true;
  const herald::Settings* settings = nullptr;
  std::uint64_t next_id = 1000;
  std::vector<std::uint64_t> last_ids;
  bool published = false;

  std::optional<std::vector<std::uint64_t>> publish(const std::vector<herald::Message>& messages) override {
    FUZZ_CHECK(accepting_, "publish while not accepting");
    FUZZ_CHECK(!messages.empty(), "publish of nothing");
    FUZZ_CHECK(messages.size() <= settings->max_events_per_publish, "too many events reached the hub");
    for (const herald::Message& m : messages) {
      FUZZ_CHECK(!m.topics.empty());
      for (const std::string& t : m.topics) FUZZ_CHECK(herald::valid_topic_name(t), "topic '" + escaped(t) + "'");
      FUZZ_CHECK(herald::sse::valid_event_type(m.type) && m.type.rfind("herald-", 0) != 0, "type '" + escaped(m.type) + "'");
      FUZZ_CHECK(m.data.size() <= settings->max_data_bytes, "data of " + std::to_string(m.data.size()) + " bytes");
      FUZZ_CHECK(m.topics.size() <= settings->max_topics_per_event,
                 "an event on " + std::to_string(m.topics.size()) + " topics");
    }
    last_ids.clear();
    for (std::size_t i = 0; i < messages.size(); ++i) last_ids.push_back(next_id++);
    published = true;
    return last_ids;
  }
  bool accepting() const override { return accepting_; }
  bool ready() const override { return ready_; }
  std::string metrics() const override { return "# HELP herald_up 1\nherald_up 1\n"; }
  std::string stats() const override { return R"({"connections":1,"topics":[]})"; }
  herald::EventPtr stats_frame() const override {
    auto e = std::make_shared<herald::Event>();
    e->frame = herald::sse::encode_control("stats", stats());
    return e;
  }
};

const std::string* header(const std::vector<std::pair<std::string, std::string>>& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (k == name) return &v;
  return nullptr;
}

bool clean(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos; }

void check_cors(const herald::Settings& settings, const herald::HttpRequest& request,
                const std::vector<std::pair<std::string, std::string>>& headers, const std::string& where) {
  bool star = std::find(settings.cors_origins.begin(), settings.cors_origins.end(), "*") != settings.cors_origins.end();
  const std::string* allow = header(headers, "Access-Control-Allow-Origin");
  if (star) {
    FUZZ_CHECK(allow && *allow == "*", where);
    return;
  }
  const std::string* vary = header(headers, "Vary");
  FUZZ_CHECK(vary && *vary == "Origin", where);
  const std::string* origin = request.header("origin");
  bool listed = origin && std::find(settings.cors_origins.begin(), settings.cors_origins.end(), *origin) !=
                              settings.cors_origins.end();
  FUZZ_CHECK(listed ? allow && *allow == *origin : allow == nullptr, where);
  const std::string* credentials = header(headers, "Access-Control-Allow-Credentials");
  FUZZ_CHECK(listed ? credentials && *credentials == "true" : credentials == nullptr, where);
}

struct ParsedResponse {
  int status = 0;
  std::string body;
  int messages = 0;
};

// Reads the serialised response back with llhttp.
ParsedResponse parse_response(const std::string& bytes) {
  ParsedResponse out;
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_body = [](llhttp_t* p, const char* at, std::size_t len) {
    static_cast<ParsedResponse*>(p->data)->body.append(at, len);
    return 0;
  };
  s.on_message_complete = [](llhttp_t* p) {
    ++static_cast<ParsedResponse*>(p->data)->messages;
    return 0;
  };
  llhttp_t p;
  llhttp_init(&p, HTTP_RESPONSE, &s);
  p.data = &out;
  llhttp_errno_t err = llhttp_execute(&p, bytes.data(), bytes.size());
  FUZZ_CHECK(err == HPE_OK, std::string("llhttp cannot read the response: ") + llhttp_errno_name(err) + " in '" +
                                escaped(bytes, 4000) + "'");
  out.status = p.status_code;
  return out;
}

const char* const publish_key = "fuzz-publish-key-0123";

// Exactly "Bearer KEY" in the first Authorization header: what the router must accept.
bool sent_publish_key(const herald::HttpRequest& request) {
  const std::string* auth = request.header("authorization");
  return auth && (*auth == std::string("Bearer ") + publish_key || *auth == std::string("bearer ") + publish_key);
}

// The key anywhere a token may come from (other spellings may be accepted too).
bool mentions_publish_key(const herald::HttpRequest& request) {
  for (const auto& [name, value] : request.headers)
    if ((name == "authorization" || name == "cookie") && value.find(publish_key) != std::string::npos) return true;
  return false;
}

bool has_token(const herald::Settings& settings, const herald::HttpRequest& request) {
  for (const auto& [name, value] : request.headers) {
    if (name == "authorization") return true;
    if (name == "cookie" && value.find(settings.auth_cookie) != std::string::npos) return true;
  }
  return false;
}

void check_response(const herald::Settings& settings, FakeHub& hub, const herald::HttpRequest& request,
                    const herald::HttpResponse& r, bool auth, const std::string& where) {
  static const int known[] = {200, 204, 400, 401, 403, 404, 405, 413, 415, 503, 505};
  FUZZ_CHECK(std::find(std::begin(known), std::end(known), r.status) != std::end(known),
             "status " + std::to_string(r.status) + ": " + where);
  FUZZ_CHECK(herald::reason_phrase(r.status) != "Unknown", where);
  for (const auto& [name, value] : r.headers) {
    FUZZ_CHECK(!name.empty() && clean(name) && name.find(':') == std::string::npos, "header name: " + where);
    FUZZ_CHECK(clean(value), "header value '" + escaped(value) + "': " + where);
  }
  if (!request.keep_alive) FUZZ_CHECK(r.close, "no Connection: close for a non-keep-alive request: " + where);
  FUZZ_CHECK(r.head == (request.method == "HEAD"), where);
  check_cors(settings, request, r.headers, where);

  auto [path, query] = herald::split_target(request.target);
  bool readyz = path == "/readyz" && r.status == 503;  // {"status":"draining"}, as documented
  if (r.status >= 400 && !readyz) {
    const std::string* type = header(r.headers, "Content-Type");
    FUZZ_CHECK(type && *type == "application/json", where);
    FUZZ_CHECK(!r.body.empty() && r.body.back() == '\n' && r.body.find('\n') == r.body.size() - 1,
               "error body '" + escaped(r.body) + "' is not one line: " + where);
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    FUZZ_CHECK(!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string(),
               "error body '" + escaped(r.body) + "': " + where);
    if (r.status == 405) FUZZ_CHECK(header(r.headers, "Allow") != nullptr, where);
  }
  if (r.status == 204) FUZZ_CHECK(r.body.empty(), where);
  if (r.status == 401) FUZZ_CHECK(header(r.headers, "WWW-Authenticate") != nullptr, where);

  if (path == "/readyz" && (request.method == "GET" || request.method == "HEAD") && request.version_major == 1 &&
      herald::parse_query(query))
    FUZZ_CHECK(r.status == (hub.ready_ ? 200 : 503), where);
  bool publishing = path == "/publish" && request.method == "POST" && request.version_major == 1 &&
                    herald::parse_query(query);
  bool keyed = !settings.publish_key.empty();
  if (!auth && (!publishing || !keyed)) FUZZ_CHECK(r.status != 401, where);
  if (!auth && !publishing) FUZZ_CHECK(r.status != 403, where);
  if (publishing) {
    bool local = herald::is_loopback(request.peer) && !request.forwarded();
    if (!hub.accepting_) FUZZ_CHECK(r.status == 503, where);
    else if (keyed && sent_publish_key(request)) FUZZ_CHECK(r.status != 401 && r.status != 403, "the publish key: " + where);
    else if (auth && !has_token(settings, request)) FUZZ_CHECK(r.status == 401, "publish without a token: " + where);
    else if (!auth && keyed && !mentions_publish_key(request)) FUZZ_CHECK(r.status == 401, "publish without the key: " + where);
    else if (!auth && !keyed) FUZZ_CHECK(local ? r.status != 403 : r.status == 403, "who may publish: " + where);
    FUZZ_CHECK(hub.published == (r.status == 200), where);
    if (r.status == 200) {
      auto j = nlohmann::json::parse(r.body);
      if (hub.last_ids.size() == 1 && j.contains("id")) FUZZ_CHECK(j["id"] == hub.last_ids[0], where);
      else FUZZ_CHECK(j["ids"] == hub.last_ids, where);
    }
  } else {
    FUZZ_CHECK(!hub.published, "published from " + where);
  }

  for (bool http10 : {false, true}) {
    std::string bytes = r.to_string(http10);
    if (r.head) {
      // Headers only: what is sent is exactly the head of the full response.
      herald::HttpResponse full = r;
      full.head = false;
      std::string all = full.to_string(http10);
      FUZZ_CHECK(all.size() == bytes.size() + r.body.size() && all.compare(0, bytes.size(), bytes) == 0, where);
      bytes = all;
    }
    ParsedResponse back = parse_response(bytes);
    FUZZ_CHECK(back.messages == 1 && back.status == r.status && back.body == r.body,
               "serialised response reads back differently: '" + escaped(bytes, 4000) + "'");
  }
}

void check_stream(const herald::Settings& settings, const herald::HttpRequest& request, const herald::StreamRequest& s,
                  bool auth, const std::string& where) {
  FUZZ_CHECK(request.method == "GET", where);
  auto [path, query] = herald::split_target(request.target);
  FUZZ_CHECK(path == "/events" || path == "/stats/stream", where);
  FUZZ_CHECK(s.stats == (path == "/stats/stream"), where);
  if (s.stats) {
    FUZZ_CHECK(s.topics.empty(), where);
  } else {
    FUZZ_CHECK(!s.topics.empty() && s.topics.size() <= settings.max_topics_per_subscription, where);
    for (std::size_t i = 0; i < s.topics.size(); ++i) {
      FUZZ_CHECK(herald::valid_topic_name(s.topics[i]), "topic '" + escaped(s.topics[i]) + "': " + where);
      for (std::size_t k = 0; k < i; ++k) FUZZ_CHECK(s.topics[k] != s.topics[i], "repeated topic: " + where);
    }
  }
  if (!s.stats) FUZZ_CHECK(s.may_read_private.size() == s.topics.size(), where);
  for (std::size_t i = 0; i < s.may_read_private.size(); ++i) {
    if (!auth) FUZZ_CHECK(!s.may_read_private[i], "private reads without authorization: " + where);
    if (herald::topic_allowed(settings.private_topics, s.topics[i]))
      FUZZ_CHECK(s.may_read_private[i], "private topic '" + escaped(s.topics[i]) + "' opened unreadable: " + where);
  }
  if (s.unusable_last_id) {
    FUZZ_CHECK(!s.after && !s.unusable_last_id->empty(), where);
    const std::string* h = request.header("last-event-id");
    FUZZ_CHECK(h && *h == *s.unusable_last_id, where);
  }
  FUZZ_CHECK(s.chunked == !request.http10(), where);
  const std::string& head = s.response_head;
  FUZZ_CHECK(head.rfind(s.chunked ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.0 200 OK\r\n", 0) == 0, where);
  FUZZ_CHECK(head.size() >= 4 && head.compare(head.size() - 4, 4, "\r\n\r\n") == 0, where);
  FUZZ_CHECK(head.find("\r\n\r\n") == head.size() - 4, "blank line inside the head: " + where);
  // Every line ends with CRLF; no bare CR or LF, no NUL.
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\r') FUZZ_CHECK(i + 1 < head.size() && head[i + 1] == '\n', where);
    if (head[i] == '\n') FUZZ_CHECK(i > 0 && head[i - 1] == '\r', where);
    FUZZ_CHECK(head[i] != '\0', where);
  }
  FUZZ_CHECK(head.find("Content-Type: text/event-stream; charset=utf-8\r\n") != std::string::npos, where);
  FUZZ_CHECK(head.find(s.chunked ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n") != std::string::npos,
             where);
}

void route_and_check(const herald::Settings& settings, FakeHub& hub, const herald::JwtVerifier* verifier,
                     const herald::HttpRequest& request) {
  herald::RequestRouter router(settings, hub, verifier);
  std::string where = "request " + escaped(request.method) + " '" + escaped(request.target) + "' " +
                      std::to_string(request.version_major) + "." + std::to_string(request.version_minor);
  for (const auto& [k, v] : request.headers) where += " [" + escaped(k) + ": " + escaped(v) + "]";
  where += " body '" + escaped(request.body) + "'";
  hub.published = false;
  herald::RouteResult result;
  try {
    result = router.route(request);
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string("route threw ") + e.what() + ": " + where);
  } catch (...) {
    FUZZ_CHECK(false, "route threw: " + where);
  }
  if (auto* s = std::get_if<herald::StreamRequest>(&result)) {
    FUZZ_CHECK(!hub.published, where);
    check_stream(settings, request, *s, verifier != nullptr, where);
  } else {
    check_response(settings, hub, request, std::get<herald::HttpResponse>(result), verifier != nullptr, where);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  std::uint8_t config = data[0];
  herald::Settings settings;
  if (config & 4) settings.cors_origins = {"https://app.example.com", "http://localhost:3000"};
  if (config & 8) {
    settings.max_topics_per_subscription = 2;
    settings.max_events_per_publish = 2;
    settings.max_topics_per_event = 2;
    settings.max_data_bytes = 8;
  }
  static const std::unique_ptr<herald::JwtVerifier> hs256 =
      herald::JwtVerifier::with_secret("fuzz-secret", std::chrono::seconds(10));
  const herald::JwtVerifier* verifier = nullptr;
  if (config & 16) {
    verifier = hs256.get();
    settings.jwt_secret = "fuzz-secret";
    settings.private_topics = {"private/*", "secret"};
  }
  if (config & 64) settings.publish_key = publish_key;
  const herald::IpAddress peer = *herald::parse_ip(config & 32 ? "203.0.113.9" : "127.0.0.1");
  FakeHub hub;
  hub.accepting_ = config & 1;
  hub.ready_ = config & 2;
  hub.settings = &settings;

  if (!(config & 0x80)) {
    // A client's bytes, through the parser, as Connection does.
    herald::RequestParser parser({settings.max_header_bytes, 64 * 1024});
    std::string buffer(reinterpret_cast<const char*>(data) + 1, size - 1);
    while (!buffer.empty()) {
      std::size_t used = 0;
      auto state = parser.feed(buffer, used);
      buffer.erase(0, used);
      if (state != herald::RequestParser::State::complete) break;
      parser.request().peer = peer;
      route_and_check(settings, hub, verifier, parser.request());
      if (!parser.request().keep_alive) break;
      parser.next();
    }
    return 0;
  }

  // A request built field by field.
  FuzzedDataProvider fdp(data + 1, size - 1);
  static const char* methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "get", ""};
  herald::HttpRequest r;
  r.method = methods[fdp.ConsumeIntegralInRange<int>(0, 9)];
  r.version_major = fdp.ConsumeIntegralInRange<int>(0, 3);
  r.version_minor = fdp.ConsumeIntegralInRange<int>(0, 9);
  r.keep_alive = fdp.ConsumeBool();
  r.target = fdp.ConsumeRandomLengthString(512);
  int headers = fdp.ConsumeIntegralInRange<int>(0, 6);
  static const char* names[] = {"content-type", "origin", "last-event-id", "authorization", "cookie", "x-other"};
  for (int i = 0; i < headers; ++i) {
    std::string value = fdp.ConsumeRandomLengthString(128);
    // The parser never lets CR, LF or NUL into a value.
    value.erase(std::remove_if(value.begin(), value.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; }),
                value.end());
    r.headers.emplace_back(names[fdp.ConsumeIntegralInRange<int>(0, 5)], value);
  }
  r.body = fdp.ConsumeRemainingBytesAsString();
  r.peer = peer;
  route_and_check(settings, hub, verifier, r);
  return 0;
}
