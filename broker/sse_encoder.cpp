#include "broker/sse_encoder.hpp"

#include <cstdio>

#include <nlohmann/json.hpp>

namespace herald::sse {

std::string encode_event(std::uint64_t id, std::string_view type, std::string_view data) {
  return with_id(id, encode_event_fields(type, data));
}

std::string with_id(std::uint64_t id, std::string_view fields) {
  char digits[24];
  int n = std::snprintf(digits, sizeof digits, "%llu", static_cast<unsigned long long>(id));
  std::string out;
  out.reserve(fields.size() + 5 + static_cast<std::size_t>(n));
  out += "id: ";
  out.append(digits, static_cast<std::size_t>(n));
  out += '\n';
  out += fields;
  return out;
}

std::string encode_event_fields(std::string_view type, std::string_view data) {
  std::string out;
  out.reserve(data.size() + type.size() + 16);
  if (!type.empty()) {
    out += "event: ";
    out += type;
    out += '\n';
  }
  // Per the spec CR, LF and CRLF each end a line; every line becomes its own data field
  // so nothing in the data can start a new field or end the event early.
  std::size_t start = 0;
  for (;;) {
    std::size_t end = data.find_first_of("\r\n", start);
    out += "data: ";
    out.append(data.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    out += '\n';
    if (end == std::string_view::npos) break;
    start = end + 1;
    if (data[end] == '\r' && start < data.size() && data[start] == '\n') ++start;
  }
  out += '\n';
  return out;
}

std::string encode_stream_open(std::uint64_t retry_ms) {
  return "retry: " + std::to_string(retry_ms) + "\n: connected\n\n";
}

std::string encode_comment(std::string_view text) {
  std::string out = ": ";
  out += text;
  out += "\n\n";
  return out;
}

std::string encode_control(std::string_view type, std::string_view json_line) {
  std::string out = "event: ";
  out += type;
  out += "\ndata: ";
  out += json_line;
  out += "\n\n";
  return out;
}

std::string encode_truncated_notice(const std::vector<std::string>& topics, std::string_view last_event_id) {
  nlohmann::json body = {{"topics", topics}, {"last_event_id", std::string(last_event_id)}};
  // dump() with replacement never throws on invalid UTF-8 from a client's header.
  return encode_control(truncated_event_type, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::string encode_replay_complete(std::size_t replayed) {
  return encode_control(replay_complete_event_type, "{\"replayed\":" + std::to_string(replayed) + "}");
}

std::string encode_token_expiring(std::int64_t exp) {
  return encode_control(token_expiring_event_type, "{\"exp\":" + std::to_string(exp) + "}");
}

bool valid_event_type(std::string_view type) {
  return type.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

}  // namespace herald::sse
