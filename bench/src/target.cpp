#include "target.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <stdexcept>
#include <string>

namespace bench {

TargetKind parse_target_kind(std::string_view name) {
  if (name == "herald") return TargetKind::herald;
  if (name == "nchan") return TargetKind::nchan;
  throw std::invalid_argument("unknown target kind '" + std::string(name) + "' (herald or nchan)");
}

Target Target::parse(TargetKind kind, std::string_view url) {
  Target t;
  t.kind = kind;
  std::string_view rest = url;
  if (rest.substr(0, 7) == "http://") rest.remove_prefix(7);
  if (auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  std::string_view host = rest;
  std::string_view port = "80";
  if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535)
    throw std::invalid_argument("bad port in URL '" + std::string(url) + "'");
  t.host = std::string(host);
  t.port = static_cast<std::uint16_t>(p);
  t.address.sin_family = AF_INET;
  t.address.sin_port = htons(t.port);
  if (inet_pton(AF_INET, t.host.c_str(), &t.address.sin_addr) != 1)
    throw std::invalid_argument("URL host must be a numeric IPv4 address: '" + t.host + "'");
  // This tool only ever loads servers on this machine.
  if ((ntohl(t.address.sin_addr.s_addr) >> 24) != 127)
    throw std::invalid_argument("refusing a target outside 127.0.0.0/8: " + t.host);
  return t;
}

void Target::append_publish(std::string& out, std::string_view topic, std::string_view data) const {
  out += kind == TargetKind::herald ? "POST /publish?topic=" : "POST /pub?id=";
  out += topic;
  out += " HTTP/1.1\r\nHost: ";
  out += host;
  out += "\r\nContent-Type: text/plain\r\nContent-Length: ";
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, data.size());
  (void)ec;
  out.append(digits, end);
  out += "\r\n\r\n";
  out += data;
}

std::string Target::subscribe_request(std::string_view topic, std::string_view last_event_id) const {
  std::string r = kind == TargetKind::herald ? "GET /events?topic=" : "GET /sub/";
  r += topic;
  r += " HTTP/1.1\r\nHost: ";
  r += host;
  r += "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n";
  if (!last_event_id.empty()) {
    r += "Last-Event-ID: ";
    r += last_event_id;
    r += "\r\n";
  }
  r += "\r\n";
  return r;
}

IdKey IdKey::parse(std::string_view id) {
  IdKey k;
  const char* p = id.data();
  const char* end = p + id.size();
  while (p < end) {
    if (k.count == k.parts.size()) return k;
    auto [q, ec] = std::from_chars(p, end, k.parts[k.count]);
    if (ec != std::errc()) return k;
    ++k.count;
    p = q;
    if (p == end) break;
    if (*p != ':' && *p != ',' && *p != '.') return k;
    ++p;
  }
  k.valid = k.count > 0;
  return k;
}

bool IdKey::after(const IdKey& earlier) const {
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] != earlier.parts[i]) return parts[i] > earlier.parts[i];
  }
  return false;
}

}  // namespace bench
