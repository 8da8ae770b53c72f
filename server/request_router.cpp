#include "server/request_router.hpp"

#include <algorithm>
#include <charconv>

#include <nlohmann/json.hpp>

#include "broker/topic_name.hpp"
#include "server/publish_decoder.hpp"
#include "server/url.hpp"
#include "server/web_assets.hpp"

namespace herald {
namespace {

std::optional<std::uint64_t> parse_id(std::string_view text) {
  std::uint64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return id;
}

HttpResponse method_not_allowed(std::string_view allow) {
  HttpResponse r = json_error(405, "method not allowed");
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

}  // namespace

RequestRouter::RequestRouter(const Settings& settings, Hub& hub, const JwtVerifier* verifier)
    : settings_(settings), hub_(hub), verifier_(verifier), publish_access_(settings, verifier) {}

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

std::optional<std::string> RequestRouter::token(const HttpRequest& request, const QueryParams* query) const {
  if (const std::string* auth = request.header("authorization")) {
    std::string_view value = trim(*auth);
    if (value.size() > 7 && (value.substr(0, 7) == "Bearer " || value.substr(0, 7) == "bearer "))
      return std::string(trim(value.substr(7)));
  }
  for (const auto& [name, value] : request.headers) {
    if (name != "cookie") continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      std::size_t end = rest.find(';');
      std::string_view pair = trim(rest.substr(0, end));
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      std::size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == settings_.auth_cookie)
        return std::string(pair.substr(eq + 1));
    }
  }
  if (query)
    if (const std::string* t = find_param(*query, "access_token")) return *t;
  return std::nullopt;
}

std::variant<Claims, HttpResponse> RequestRouter::claims_of(const std::string& token) const {
  return verify_token(*verifier_, token);
}

void RequestRouter::add_cors(const HttpRequest& request, std::vector<std::pair<std::string, std::string>>& headers) const {
  const auto& origins = settings_.cors_origins;
  if (std::find(origins.begin(), origins.end(), "*") != origins.end()) {
    headers.emplace_back("Access-Control-Allow-Origin", "*");
    return;
  }
  headers.emplace_back("Vary", "Origin");
  const std::string* origin = request.header("origin");
  if (origin && std::find(origins.begin(), origins.end(), *origin) != origins.end()) {
    headers.emplace_back("Access-Control-Allow-Origin", *origin);
    // A listed origin may send the auth cookie (EventSource with withCredentials: true).
    headers.emplace_back("Access-Control-Allow-Credentials", "true");
  }
}

RouteResult RequestRouter::route(const HttpRequest& request) const {
  auto finish = [&](HttpResponse r) -> RouteResult {
    add_cors(request, r.headers);
    if (!request.keep_alive) r.close = true;
    if (request.method == "HEAD") r.head = true;
    return r;
  };
  if (request.version_major != 1) return finish(json_error(505, "only HTTP/1.0 and HTTP/1.1 are supported"));
  auto [path, query_text] = split_target(request.target);
  auto query = parse_query(query_text);
  if (!query) return finish(json_error(400, "malformed query string"));

  const WebAsset* asset = find_web_asset(path);
  std::string_view allow;
  if (path == "/events" || path == "/stats/stream") allow = "GET, OPTIONS";
  else if (path == "/publish") allow = "POST, OPTIONS";
  else if (path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/stats" || asset)
    allow = "GET, HEAD, OPTIONS";
  else return finish(json_error(404, "not found"));

  const std::string& m = request.method;
  if (m == "OPTIONS") {
    HttpResponse r;
    r.status = 204;
    r.headers.emplace_back("Allow", std::string(allow));
    r.headers.emplace_back("Access-Control-Allow-Methods", std::string(allow));
    r.headers.emplace_back("Access-Control-Allow-Headers", "Content-Type, Authorization, Last-Event-ID");
    r.headers.emplace_back("Access-Control-Max-Age", "86400");
    return finish(std::move(r));
  }
  if (path == "/publish") {
    if (m != "POST") return finish(method_not_allowed(allow));
    return finish(publish(request, *query));
  }
  if (path == "/events" || path == "/stats/stream") {
    if (m != "GET") return finish(method_not_allowed(allow));
    StreamRequest feed;
    feed.stats = true;
    RouteResult result = path == "/events" ? events(request, *query) : stream(request, std::move(feed));
    if (auto* r = std::get_if<HttpResponse>(&result)) return finish(std::move(*r));
    return result;
  }
  if (m != "GET" && m != "HEAD") return finish(method_not_allowed(allow));
  if (path == "/healthz") return finish(json_response(200, R"({"status":"ok"})"));
  if (path == "/readyz") {
    if (!hub_.ready()) return finish(json_response(503, R"({"status":"draining"})"));
    return finish(json_response(200, R"({"status":"ready"})"));
  }
  if (path == "/metrics") {
    HttpResponse r;
    r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    r.body = hub_.metrics();
    return finish(std::move(r));
  }
  if (path == "/stats") return finish(json_response(200, hub_.stats()));
  HttpResponse page;
  page.headers.emplace_back("Content-Type", std::string(asset->content_type));
  page.headers.emplace_back("Cache-Control", "no-cache");
  page.body = asset->body;
  return finish(std::move(page));
}

RouteResult RequestRouter::events(const HttpRequest& request, const QueryParams& query) const {
  StreamRequest s;
  for (const auto& [key, value] : query) {
    if (key != "topic") continue;
    if (!valid_topic_name(value))
      return json_error(400, "invalid topic: names are 1 to 256 bytes with no spaces or control characters");
    if (std::find(s.topics.begin(), s.topics.end(), value) == s.topics.end()) s.topics.push_back(value);
  }
  if (s.topics.empty()) return json_error(400, "missing topic: use /events?topic=NAME (repeat for more)");
  if (s.topics.size() > settings_.max_topics_per_subscription)
    return json_error(400, "too many topics: at most " + std::to_string(settings_.max_topics_per_subscription));

  s.may_read_private.assign(s.topics.size(), false);
  if (verifier_) {
    std::optional<Claims> claims;
    if (auto t = token(request, &query)) {
      auto checked = claims_of(*t);
      if (auto* error = std::get_if<HttpResponse>(&checked)) return std::move(*error);
      claims = std::get<Claims>(std::move(checked));
    }
    for (std::size_t i = 0; i < s.topics.size(); ++i) {
      const std::string& topic = s.topics[i];
      bool allowed = claims && topic_allowed(claims->subscribe, topic);
      if (topic_allowed(settings_.private_topics, topic) && !allowed) {
        if (!claims) return unauthorized("topic '" + topic + "' is private: subscribing needs a token", false);
        return json_error(403, "the token does not allow reading topic '" + topic + "'");
      }
      s.may_read_private[i] = allowed;
    }
    // Only what the token granted has to stop with it: a stream it granted nothing could
    // have been opened without it, and ending that would only make the client reconnect.
    if (claims && std::find(s.may_read_private.begin(), s.may_read_private.end(), true) != s.may_read_private.end())
      s.token_exp = claims->exp;
  }

  // The header (sent by a reconnecting browser) wins over the query parameter (the app's
  // starting point, which stays in the URL across reconnects).
  if (const std::string* header = request.header("last-event-id")) {
    if (auto id = parse_id(*header)) s.after = id;
    else if (!header->empty()) s.unusable_last_id = *header;
  } else if (const std::string* param = find_param(query, "lastEventId")) {
    s.after = parse_id(*param);
    if (!s.after) return json_error(400, "invalid lastEventId: expected an event id");
  }
  if (const std::string* notify = find_param(query, "notifyReplay")) s.notify_replay = *notify != "0" && *notify != "false";
  return stream(request, std::move(s));
}

RouteResult RequestRouter::stream(const HttpRequest& request, StreamRequest s) const {
  s.chunked = !request.http10();
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", "text/event-stream; charset=utf-8"},
      {"Cache-Control", "no-cache"},
      {"X-Accel-Buffering", "no"},
  };
  add_cors(request, s.cors_headers);
  headers.insert(headers.end(), s.cors_headers.begin(), s.cors_headers.end());
  s.response_head = s.chunked ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.0 200 OK\r\n";
  for (const auto& [name, value] : headers) s.response_head += name + ": " + value + "\r\n";
  s.response_head += s.chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "Connection: close\r\n\r\n";
  return s;
}

HttpResponse RequestRouter::publish(const HttpRequest& request, const QueryParams& query) const {
  if (!hub_.accepting()) return json_error(503, "shutting down");
  // Who is asking comes before what they ask: no parsing feedback without leave to publish.
  auto access = publish_access_.check(request, token(request, nullptr));
  if (auto* refused = std::get_if<HttpResponse>(&access)) return std::move(*refused);
  const std::optional<Claims>& claims = std::get<PublishGrant>(access).claims;
  const std::string* content_type = request.header("content-type");
  auto decoded = decode_publish(content_type ? *content_type : std::string_view(), query, request.body);
  if (auto* error = std::get_if<PublishError>(&decoded)) return json_error(error->status, error->message);
  auto& d = std::get<DecodedPublish>(decoded);
  if (claims)
    for (const Message& m : d.messages)
      for (const std::string& topic : m.topics)
        if (!topic_allowed(claims->publish, topic))
          return json_error(403, "the token does not allow publishing to topic '" + topic + "'");
  if (d.messages.size() > settings_.max_events_per_publish)
    return json_error(413, "too many events in one request: at most " + std::to_string(settings_.max_events_per_publish));
  auto which = [&](std::size_t i) { return d.batch ? "event " + std::to_string(i) + ": " : std::string(); };
  for (std::size_t i = 0; i < d.messages.size(); ++i) {
    if (d.messages[i].data.size() > settings_.max_data_bytes)
      return json_error(413, which(i) + "data too large: at most " + std::to_string(settings_.max_data_bytes) +
                                 " bytes per event");
    if (d.messages[i].topics.size() > settings_.max_topics_per_event)
      return json_error(413, which(i) + "too many topics in one event: at most " +
                                 std::to_string(settings_.max_topics_per_event) + " (--max-topics-per-event)");
  }
  auto ids = hub_.publish(d.messages);
  if (!ids)
    return json_error(503, "too many topics: the server holds its --max-topics limit (" +
                               std::to_string(settings_.max_topics) + ") and this publish would create more");
  nlohmann::json body = d.batch ? nlohmann::json{{"ids", *ids}} : nlohmann::json{{"id", ids->front()}};
  return json_response(200, body.dump());
}

}  // namespace herald
