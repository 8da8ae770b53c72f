// Fuzzes broker/sse_encoder.cpp and checks its frames the way a browser reads them.
//
// Input (FuzzedDataProvider strings, each ended by a backslash and another character, e.g. "\n"
// written as the two bytes '\' 'n'): the event type, an id text, a comma-separated topic
// list, then the data (the rest). The id text is the event id when it is a number, and the
// Last-Event-ID of the truncated notice in any case.
//
// Invariants:
//   - valid_event_type is false exactly when the type has CR, LF or NUL
//   - encode_event (for a valid type): the frame ends with exactly one blank line, has no CR,
//     every line starts with "id: ", "event: " or "data: ", the id line comes first, the
//     event line only for a non-empty type, and the data lines joined with LF give the data
//     with CRLF and CR turned into LF
//   - a WHATWG EventSource parser reading the frame sees exactly one event with that type
//     ("message" when empty), data and last event id; read after the stream-open bytes, a
//     comment, a truncated notice and a replay-complete notice it sees exactly those events
//     in order, and the notices leave the last event id as it was
//   - the truncated notice's data is one line of JSON with the topics and the id (exactly,
//     when they are valid UTF-8)
#include <fuzzer/FuzzedDataProvider.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "broker/sse_encoder.hpp"
#include "fuzz_common.hpp"

using herald::fuzz::escaped;
namespace sse = herald::sse;

namespace {

struct BrowserEvent {
  std::string type, data, last_event_id;
};

// The "interpret the event stream" steps of the HTML standard, on bytes.
struct Browser {
  std::vector<BrowserEvent> events;
  std::string data, type, last_id_buffer, last_event_id;
  std::optional<std::uint64_t> retry;

  void read(std::string_view stream) {
    std::size_t i = 0;
    while (i < stream.size()) {
      std::size_t end = stream.find_first_of("\r\n", i);
      FUZZ_CHECK(end != std::string_view::npos, "stream ends inside a line: '" + escaped(stream.substr(i)) + "'");
      line(stream.substr(i, end - i));
      i = end + 1;
      if (stream[end] == '\r' && i < stream.size() && stream[i] == '\n') ++i;
    }
  }

  void line(std::string_view l) {
    if (l.empty()) return dispatch();
    if (l.front() == ':') return;
    std::size_t colon = l.find(':');
    std::string_view field = l.substr(0, colon), value;
    if (colon != std::string_view::npos) {
      value = l.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "event") type = value;
    else if (field == "data") (data += value) += '\n';
    else if (field == "id") {
      if (value.find('\0') == std::string_view::npos) last_id_buffer = value;
    } else if (field == "retry") {
      std::uint64_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec == std::errc() && p == value.data() + value.size() && !value.empty()) retry = n;
    }
  }

  void dispatch() {
    last_event_id = last_id_buffer;
    if (data.empty()) {
      type.clear();
      return;
    }
    data.pop_back();
    events.push_back({type.empty() ? "message" : type, data, last_event_id});
    data.clear();
    type.clear();
  }
};

std::string normalise_newlines(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out += '\n';
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool valid_utf8(std::string_view s) {
  try {
    (void)nlohmann::json(std::string(s)).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

void check_event_frame(std::string_view frame, std::uint64_t id, std::string_view type, std::string_view data) {
  std::string where = "encode_event(" + std::to_string(id) + ", '" + escaped(type) + "', '" + escaped(data) +
                      "') = '" + escaped(frame) + "'";
  FUZZ_CHECK(frame.size() >= 2 && frame.substr(frame.size() - 2) == "\n\n", where);
  FUZZ_CHECK(frame.find('\r') == std::string_view::npos, where);
  FUZZ_CHECK(frame.find("\n\n") == frame.size() - 2, "a blank line before the end: " + where);

  std::vector<std::string_view> lines;
  for (std::size_t i = 0; i < frame.size() - 1;) {
    std::size_t end = frame.find('\n', i);
    lines.push_back(frame.substr(i, end - i));
    i = end + 1;
  }
  FUZZ_CHECK(!lines.empty() && lines[0] == "id: " + std::to_string(id), where);
  std::size_t k = 1;
  if (!type.empty()) {
    FUZZ_CHECK(lines.size() > 1 && lines[1] == "event: " + std::string(type), where);
    k = 2;
  }
  FUZZ_CHECK(k < lines.size(), "no data line: " + where);
  std::string joined;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    FUZZ_CHECK(l.rfind("id: ", 0) == 0 || l.rfind("event: ", 0) == 0 || l.rfind("data: ", 0) == 0,
               "line " + std::to_string(i) + ": " + where);
    if (i >= k) {
      FUZZ_CHECK(l.rfind("data: ", 0) == 0, "line " + std::to_string(i) + " is not data: " + where);
      if (i > k) joined += '\n';
      joined += l.substr(6);
    }
  }
  FUZZ_CHECK(joined == normalise_newlines(data), "data lines give '" + escaped(joined) + "': " + where);

  Browser browser;
  browser.read(frame);
  FUZZ_CHECK(browser.events.size() == 1, "browser saw " + std::to_string(browser.events.size()) + " events: " + where);
  const BrowserEvent& e = browser.events[0];
  FUZZ_CHECK(e.type == (type.empty() ? std::string("message") : std::string(type)), where);
  FUZZ_CHECK(e.data == normalise_newlines(data), where);
  FUZZ_CHECK(e.last_event_id == std::to_string(id), where);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  FuzzedDataProvider fdp(bytes, size);
  std::string type = fdp.ConsumeRandomLengthString(256);
  std::string id_text = fdp.ConsumeRandomLengthString(64);
  std::string topic_list = fdp.ConsumeRandomLengthString(512);
  std::string data = fdp.ConsumeRemainingBytesAsString();

  std::uint64_t id = id_text.size();
  {
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), n);
    if (ec == std::errc() && p == id_text.data() + id_text.size()) id = n;
  }
  std::vector<std::string> topics;
  for (std::size_t start = 0; start <= topic_list.size();) {
    std::size_t comma = topic_list.find(',', start);
    if (comma == std::string::npos) comma = topic_list.size();
    if (comma > start) topics.push_back(topic_list.substr(start, comma - start));
    start = comma + 1;
  }

  bool type_ok = sse::valid_event_type(type);
  FUZZ_CHECK(type_ok == (type.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos),
             "valid_event_type('" + escaped(type) + "')");
  if (!type_ok) type.clear();  // encode_event's precondition; the decoder refuses such types

  std::string frame = sse::encode_event(id, type, data);
  check_event_frame(frame, id, type, data);

  // The truncated notice: one line of JSON, no id line.
  std::string notice = sse::encode_truncated_notice(topics, id_text);
  FUZZ_CHECK(notice.rfind("event: herald-history-truncated\ndata: ", 0) == 0, escaped(notice));
  FUZZ_CHECK(notice.size() >= 2 && notice.find('\n', 38) == notice.size() - 2 && notice.back() == '\n',
             "notice is not one data line: " + escaped(notice));
  FUZZ_CHECK(notice.find('\r') == std::string::npos, escaped(notice));
  nlohmann::json body = nlohmann::json::parse(notice.substr(38, notice.size() - 40), nullptr, false);
  FUZZ_CHECK(!body.is_discarded() && body.is_object() && body["topics"].is_array() &&
                 body["topics"].size() == topics.size() && body["last_event_id"].is_string(),
             "notice data: " + escaped(notice));
  if (valid_utf8(id_text)) FUZZ_CHECK(body["last_event_id"].get<std::string>() == id_text, escaped(notice));
  for (std::size_t i = 0; i < topics.size(); ++i)
    if (valid_utf8(topics[i])) FUZZ_CHECK(body["topics"][i].get<std::string>() == topics[i], escaped(notice));

  // A whole stream: open, comment, the event, the notice, the replay-complete notice, the event again.
  std::string comment_text = topic_list;
  for (char& c : comment_text)
    if (c == '\r' || c == '\n') c = ' ';
  std::size_t replayed = data.size();
  std::string stream = sse::encode_stream_open(id % 100000) + sse::encode_comment(comment_text) + frame + notice +
                       sse::encode_replay_complete(replayed) + frame;
  Browser browser;
  browser.read(stream);
  FUZZ_CHECK(browser.retry == id % 100000);
  FUZZ_CHECK(browser.events.size() == 4, "browser saw " + std::to_string(browser.events.size()) +
                                             " events in '" + escaped(stream, 4000) + "'");
  const std::string expected_type = type.empty() ? "message" : type;
  const std::string expected_data = normalise_newlines(data);
  const std::string id_string = std::to_string(id);
  FUZZ_CHECK(browser.events[0].type == expected_type && browser.events[0].data == expected_data &&
             browser.events[0].last_event_id == id_string);
  FUZZ_CHECK(browser.events[1].type == "herald-history-truncated" && browser.events[1].last_event_id == id_string);
  FUZZ_CHECK(nlohmann::json::parse(browser.events[1].data) == body);
  FUZZ_CHECK(browser.events[2].type == "herald-replay-complete" && browser.events[2].last_event_id == id_string);
  FUZZ_CHECK((nlohmann::json::parse(browser.events[2].data) == nlohmann::json{{"replayed", replayed}}));
  FUZZ_CHECK(browser.events[3].type == expected_type && browser.events[3].data == expected_data &&
             browser.events[3].last_event_id == id_string);
  return 0;
}
