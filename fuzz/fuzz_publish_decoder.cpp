// Fuzzes decode_publish (server/publish_decoder.cpp).
//
// Input (FuzzedDataProvider strings, each ended by a backslash and another character, e.g. the
// two bytes '\' 'n'): the Content-Type header, the URL query string, then the body (the rest).
// A query that parse_query refuses is answered 400 by the router before decode_publish, so
// such inputs stop there.
//
// Invariants:
//   - it returns (never throws); an error is 400 or 415 with a one-line message; 415 only
//     without ?topic= and with a content type other than JSON or a form
//   - a success has at least one message; every message has topics, all valid_topic_name,
//     sorted and without repeats; a type that passes valid_event_type and is not herald-*
//   - with ?topic=: one message, the body as its data, the URL's topics and last event type
//   - JSON: nested more than 64 levels is refused; as many messages as the array (or one),
//     "batch" exactly for an array; string data as is, any other data as JSON that parses back
//     to the same value; "private" as sent (false when absent or null)
//   - form and URL: "private" as the last true/1/false/0 value
//   - every message encodes as an SSE frame a browser reads as exactly one event; its data
//     and type are UTF-8
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "broker/sse_encoder.hpp"
#include "broker/topic_name.hpp"
#include "broker/utf8.hpp"
#include "fuzz_common.hpp"
#include "server/publish_decoder.hpp"

using herald::fuzz::escaped;

namespace {

std::string media_type(std::string_view ct) {
  ct = ct.substr(0, ct.find(';'));
  while (!ct.empty() && (ct.front() == ' ' || ct.front() == '\t')) ct.remove_prefix(1);
  while (!ct.empty() && (ct.back() == ' ' || ct.back() == '\t')) ct.remove_suffix(1);
  std::string out(ct);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Counts the events of a frame as a browser would (blank lines ending non-empty data).
std::size_t frame_events(std::string_view frame) {
  std::size_t events = 0;
  bool data = false;
  std::size_t i = 0;
  while (i < frame.size()) {
    std::size_t end = frame.find_first_of("\r\n", i);
    if (end == std::string_view::npos) return 1000;  // an unterminated line
    std::string_view line = frame.substr(i, end - i);
    if (line.empty()) {
      events += data;
      data = false;
    } else if (line.substr(0, line.find(':')) == "data") {
      data = true;
    }
    i = end + 1;
    if (frame[end] == '\r' && i < frame.size() && frame[i] == '\n') ++i;
  }
  return events;
}

// How deeply arrays and objects nest (serialising deep "data" once overflowed the stack).
std::size_t json_depth(std::string_view s) {
  std::size_t depth = 0, max = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max = std::max(max, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return max;
}

// The last "private" value decides (all of them are true/1/false/0 in an accepted request).
bool last_private(const herald::QueryParams& params) {
  bool value = false;
  for (const auto& [k, v] : params)
    if (k == "private") value = v == "true" || v == "1";
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  FuzzedDataProvider fdp(bytes, size);
  std::string content_type = fdp.ConsumeRandomLengthString(128);
  std::string query_text = fdp.ConsumeRandomLengthString(1024);
  std::string body = fdp.ConsumeRemainingBytesAsString();
  // A header value never holds CR, LF or NUL: the parser refuses them.
  content_type.erase(std::remove_if(content_type.begin(), content_type.end(),
                                    [](char c) { return c == '\r' || c == '\n' || c == '\0'; }),
                     content_type.end());
  auto query = herald::parse_query(query_text);
  if (!query) return 0;

  std::string where = "content type '" + escaped(content_type) + "', query '" + escaped(query_text) + "', body '" +
                      escaped(body) + "'";
  std::variant<herald::DecodedPublish, herald::PublishError> result;
  try {
    result = herald::decode_publish(content_type, *query, body);
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string("decode_publish threw ") + e.what() + ": " + where);
  }

  std::vector<std::string> url_topics;
  std::string url_type;
  for (const auto& [k, v] : *query) {
    if (k == "topic") url_topics.push_back(v);
    else if (k == "event") url_type = v;
  }
  const std::string type = media_type(content_type);

  if (auto* error = std::get_if<herald::PublishError>(&result)) {
    FUZZ_CHECK(error->status == 400 || error->status == 415, "status " + std::to_string(error->status) + ": " + where);
    FUZZ_CHECK(!error->message.empty() && error->message.find_first_of("\r\n") == std::string::npos,
               "message '" + escaped(error->message) + "': " + where);
    if (error->status == 415)
      FUZZ_CHECK(url_topics.empty() && !type.empty() && type != "application/json" &&
                     type != "application/x-www-form-urlencoded",
                 "415 for " + where);
    if (!url_topics.empty() || type == "application/json" || type == "application/x-www-form-urlencoded")
      FUZZ_CHECK(error->status == 400, where);
    return 0;
  }

  const herald::DecodedPublish& d = std::get<herald::DecodedPublish>(result);
  FUZZ_CHECK(!d.messages.empty(), "no messages: " + where);
  for (const herald::Message& m : d.messages) {
    FUZZ_CHECK(!m.topics.empty(), "a message without topics: " + where);
    for (const std::string& t : m.topics)
      FUZZ_CHECK(herald::valid_topic_name(t), "invalid topic '" + escaped(t) + "' accepted: " + where);
    FUZZ_CHECK(std::is_sorted(m.topics.begin(), m.topics.end()) &&
                   std::adjacent_find(m.topics.begin(), m.topics.end()) == m.topics.end(),
               "topics not sorted and unique: " + where);
    FUZZ_CHECK(herald::sse::valid_event_type(m.type), "invalid type '" + escaped(m.type) + "' accepted: " + where);
    FUZZ_CHECK(m.type.rfind("herald-", 0) != 0, "reserved type '" + escaped(m.type) + "' accepted: " + where);
    FUZZ_CHECK(herald::valid_utf8(m.data) && herald::valid_utf8(m.type), "data or type not UTF-8: " + where);
    std::string frame = herald::sse::encode_event(1, m.type, m.data);
    FUZZ_CHECK(frame_events(frame) == 1, "frame '" + escaped(frame) + "' is not one event: " + where);
  }

  if (!url_topics.empty()) {
    FUZZ_CHECK(d.messages.size() == 1 && !d.batch, where);
    const herald::Message& m = d.messages[0];
    FUZZ_CHECK(m.data == body && m.type == url_type, where);
    FUZZ_CHECK(m.is_private == last_private(*query), where);
    std::sort(url_topics.begin(), url_topics.end());
    url_topics.erase(std::unique(url_topics.begin(), url_topics.end()), url_topics.end());
    FUZZ_CHECK(m.topics == url_topics, where);
    return 0;
  }

  if (type == "application/json") {
    auto doc = nlohmann::ordered_json::parse(body, nullptr, false);
    FUZZ_CHECK(!doc.is_discarded(), "invalid JSON accepted: " + where);
    // Raw NUL is never valid JSON text (nlohmann's lexer takes it for the end of input).
    FUZZ_CHECK(body.find('\0') == std::string::npos || herald::fuzz::known("json-nul"),
               "JSON body with a NUL byte accepted (what follows it is ignored): " + where);
    std::string_view text = std::string_view(body).substr(0, body.find('\0'));
    FUZZ_CHECK(json_depth(text) <= 65, "JSON nested " + std::to_string(json_depth(text)) + " deep accepted: " + where);
    FUZZ_CHECK(d.batch == doc.is_array(), where);
    std::vector<nlohmann::ordered_json> items;
    if (doc.is_array()) items.assign(doc.begin(), doc.end());
    else items.push_back(doc);
    FUZZ_CHECK(items.size() == d.messages.size(), where);
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& j = items[i];
      FUZZ_CHECK(j.is_object() && j.contains("data") && j.contains("topic"), where);
      const auto& data = j["data"];
      const std::string& got = d.messages[i].data;
      if (data.is_string()) {
        FUZZ_CHECK(got == data.get<std::string>(), where);
      } else {
        auto back = nlohmann::ordered_json::parse(got, nullptr, false);
        FUZZ_CHECK(!back.is_discarded() && back == data, "data '" + escaped(got) + "' is not the JSON sent: " + where);
        FUZZ_CHECK(got.find_first_of("\r\n") == std::string::npos, "compact JSON has a line break: " + where);
      }
      const auto& event = j.contains("event") ? j["event"] : nlohmann::ordered_json();
      FUZZ_CHECK(event.is_null() ? d.messages[i].type.empty() : d.messages[i].type == event.get<std::string>(), where);
      const auto& priv = j.contains("private") ? j["private"] : nlohmann::ordered_json();
      FUZZ_CHECK(d.messages[i].is_private == (priv.is_boolean() && priv.get<bool>()), where);
    }
    return 0;
  }

  FUZZ_CHECK(type == "application/x-www-form-urlencoded", "accepted content type '" + escaped(type) + "': " + where);
  FUZZ_CHECK(d.messages.size() == 1 && !d.batch, where);
  auto form = herald::parse_query(body);
  FUZZ_CHECK(form.has_value(), "malformed form accepted: " + where);
  const std::string* data = herald::find_param(*form, "data");
  FUZZ_CHECK(data != nullptr, "form without data accepted: " + where);
  // The last data and event win.
  std::string last_data, last_event;
  for (const auto& [k, v] : *form) {
    if (k == "data") last_data = v;
    if (k == "event") last_event = v;
  }
  FUZZ_CHECK(d.messages[0].data == last_data && d.messages[0].type == last_event, where);
  FUZZ_CHECK(d.messages[0].is_private == last_private(*form), where);
  return 0;
}
