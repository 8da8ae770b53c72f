#include "server/publish_decoder.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "broker/sse_encoder.hpp"
#include "broker/topic_name.hpp"
#include "broker/utf8.hpp"

namespace herald {
namespace {

using Result = std::variant<DecodedPublish, PublishError>;

std::string media_type(std::string_view content_type) {
  std::string_view t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  std::string out(t);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Checks topics and type, removing repeated topics; returns an error message or "".
std::string validate(Message& m) {
  if (m.topics.empty()) return "missing topic";
  for (const std::string& t : m.topics)
    if (!valid_topic_name(t))
      return "invalid topic: names are 1 to 256 bytes with no spaces or control characters";
  std::sort(m.topics.begin(), m.topics.end());
  m.topics.erase(std::unique(m.topics.begin(), m.topics.end()), m.topics.end());
  if (!sse::valid_event_type(m.type)) return "invalid event type: it must not contain CR, LF or NUL";
  if (!valid_utf8(m.type)) return "invalid event type: not UTF-8";
  // Browsers decode streams as UTF-8 and would turn bad bytes into U+FFFD: refuse them here,
  // where the publisher can hear about it, rather than deliver something else.
  if (!valid_utf8(m.data)) return "invalid data: not UTF-8 (event streams are text; send binary as base64)";
  // Apps trust Herald's notices (history truncated, replay complete): publishers can't forge them.
  if (m.type.rfind(sse::reserved_event_prefix, 0) == 0) return "invalid event type: herald- types are reserved";
  return {};
}

// ordered_json keeps object keys in the order the publisher wrote them.
using Json = nlohmann::ordered_json;

std::variant<Message, std::string> message_from_json(const Json& j) {
  if (!j.is_object()) return std::string("each event must be a JSON object");
  Message m;
  auto topic = j.find("topic");
  if (topic == j.end()) return std::string("missing topic");
  if (topic->is_string()) {
    m.topics.push_back(topic->get<std::string>());
  } else if (topic->is_array()) {
    for (const auto& t : *topic) {
      if (!t.is_string()) return std::string("topic must be a string or an array of strings");
      m.topics.push_back(t.get<std::string>());
    }
  } else {
    return std::string("topic must be a string or an array of strings");
  }
  // Required, so a misspelt key is an error rather than an empty event; "" is fine.
  auto data = j.find("data");
  if (data == j.end()) return std::string("missing data");
  // Strings go as they are; any other JSON value as compact JSON.
  m.data = data->is_string() ? data->get<std::string>() : data->dump(-1, ' ', false, Json::error_handler_t::replace);
  if (auto type = j.find("event"); type != j.end() && !type->is_null()) {
    if (!type->is_string()) return std::string("event must be a string");
    m.type = type->get<std::string>();
  }
  if (auto priv = j.find("private"); priv != j.end() && !priv->is_null()) {
    if (!priv->is_boolean()) return std::string("private must be true or false");
    m.is_private = priv->get<bool>();
  }
  return m;
}

Result decode_json(std::string_view body) {
  // JSON text has no raw NUL; the parser would stop there and ignore the rest.
  if (body.find('\0') != std::string_view::npos) return PublishError{400, "invalid JSON body"};
  // Nesting is bounded: serialising (data that is not a string) recurses once per level.
  constexpr int max_depth = 64;
  bool too_deep = false;
  Json doc = Json::parse(
      body,
      [&](int depth, Json::parse_event_t, Json&) {
        if (depth > max_depth) too_deep = true;
        return !too_deep;
      },
      false);
  if (too_deep) return PublishError{400, "JSON nested too deeply: at most " + std::to_string(max_depth) + " levels"};
  if (doc.is_discarded()) return PublishError{400, "invalid JSON body"};
  DecodedPublish out;
  out.batch = doc.is_array();
  if (out.batch && doc.empty()) return PublishError{400, "empty array: nothing to publish"};
  auto add = [&](const Json& j) -> std::string {
    auto m = message_from_json(j);
    if (auto* error = std::get_if<std::string>(&m)) return *error;
    out.messages.push_back(std::move(std::get<Message>(m)));
    return validate(out.messages.back());
  };
  if (out.batch) {
    for (std::size_t i = 0; i < doc.size(); ++i)
      if (auto error = add(doc[i]); !error.empty())
        return PublishError{400, "event " + std::to_string(i) + ": " + error};
  } else if (auto error = add(doc); !error.empty()) {
    return PublishError{400, error};
  }
  return out;
}

// "private" as a form field or query parameter: true/1 or false/0.
bool parse_private(const std::string& value, bool& out) {
  if (value == "true" || value == "1") out = true;
  else if (value == "false" || value == "0") out = false;
  else return false;
  return true;
}

Result decode_form(std::string_view body) {
  auto params = parse_query(body);
  if (!params) return PublishError{400, "malformed form body"};
  Message m;
  bool has_data = false;
  for (auto& [key, value] : *params) {
    if (key == "topic") m.topics.push_back(value);
    else if (key == "event") m.type = value;
    else if (key == "private") {
      if (!parse_private(value, m.is_private)) return PublishError{400, "private must be true or false"};
    } else if (key == "data") {
      m.data = value;
      has_data = true;
    }
  }
  if (!has_data && !m.topics.empty()) return PublishError{400, "missing data"};
  if (auto error = validate(m); !error.empty()) return PublishError{400, error};
  DecodedPublish out;
  out.messages.push_back(std::move(m));
  return out;
}

}  // namespace

Result decode_publish(std::string_view content_type, const QueryParams& query, std::string_view body) {
  Message url_message;
  for (const auto& [key, value] : query) {
    if (key == "topic") url_message.topics.push_back(value);
    else if (key == "event") url_message.type = value;
    else if (key == "private" && !parse_private(value, url_message.is_private))
      return PublishError{400, "private must be true or false"};
  }
  if (!url_message.topics.empty()) {
    url_message.data = body;
    if (auto error = validate(url_message); !error.empty()) return PublishError{400, error};
    DecodedPublish out;
    out.messages.push_back(std::move(url_message));
    return out;
  }
  std::string type = media_type(content_type);
  if (type == "application/json") return decode_json(body);
  if (type == "application/x-www-form-urlencoded") return decode_form(body);
  if (type.empty()) return PublishError{400, "missing topic: put ?topic= in the URL or send JSON or a form"};
  return PublishError{415, "unsupported content type '" + type +
                               "': send application/json, application/x-www-form-urlencoded, or put ?topic= in the URL"};
}

}  // namespace herald
