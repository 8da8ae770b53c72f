// Fuzzes RequestParser (server/request_parser.cpp) the way Connection drives it: a buffer that
// grows by reads, feed(), erase what was used, next() after each complete request.
//
// Input: 3 bytes of settings, then the bytes a client sends.
//   byte 0, bits 0-1: max_header_bytes  256 / 1024 / 4096 / 16384
//           bits 2-3: max_body_bytes    1 / 16 / 1024 / 1 MiB
//           bits 4-5: how the split run cuts the stream: at one point / into chunks of sizes
//                     taken in turn from bytes 1-2 / byte by byte / at one point
//   bytes 1-2: the split point (big endian, modulo the length + 1) or the chunk sizes
//
// Invariants:
//   - the outcome (every request, field by field, then the final state) is the same whether
//     the stream arrives whole or cut; the one allowed difference is a 431 found earlier
//     (the header limit is checked after each read), and only when that many header bytes
//     really arrived
//   - consumed <= the bytes given; need_more consumes everything; an error stays an error
//   - errors are 400, 413 or 431 with a message
//   - a complete request took at most max_header_bytes (its head) + max_body_bytes +
//     max_header_bytes (chunk framing) bytes of the stream
//   - a complete request: body <= max_body_bytes; stored request line and headers <=
//     max_header_bytes; header names non-empty lower-case tokens, values without CR/LF/NUL;
//     never both Content-Length and Transfer-Encoding, never two Content-Lengths;
//     a Content-Length body has exactly that many bytes; a Transfer-Encoding ends in chunked;
//     a CONNECT (no content, tunnel data after its head) is not keep-alive; the head of an
//     HTTP/1.x request ends its lines with CRLF only
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.hpp"
#include "server/http_response.hpp"
#include "server/request_parser.hpp"

using herald::RequestParser;
using herald::fuzz::escaped;

namespace {

bool is_tchar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

std::string lower_trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  std::string out(v);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

void check_request(RequestParser& p, const RequestParser::Limits& limits) {
  const herald::HttpRequest& r = p.request();
  FUZZ_CHECK(p.started() && p.headers_complete());
  FUZZ_CHECK(r.body.size() <= limits.max_body_bytes, "body " + std::to_string(r.body.size()));
  FUZZ_CHECK(!r.method.empty());
  FUZZ_CHECK(r.version_major >= 0 && r.version_major <= 9 && r.version_minor >= 0 && r.version_minor <= 9);
  std::size_t stored = r.method.size() + r.target.size();
  const std::string* content_length = nullptr;
  int content_lengths = 0;
  std::string transfer_encoding;  // every Transfer-Encoding value, comma-joined
  bool has_te = false, some_te_chunked = false;
  for (const auto& [name, value] : r.headers) {
    stored += name.size() + value.size();
    FUZZ_CHECK(!name.empty(), "empty header name");
    for (char c : name) {
      unsigned char u = static_cast<unsigned char>(c);
      FUZZ_CHECK(is_tchar(u) && !(u >= 'A' && u <= 'Z'), "header name '" + escaped(name) + "'");
    }
    FUZZ_CHECK(value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos,
               "header value '" + escaped(value) + "'");
    if (name == "content-length") {
      content_length = &value;
      ++content_lengths;
    }
    if (name == "transfer-encoding") {
      has_te = true;
      transfer_encoding += (transfer_encoding.empty() ? "" : ",") + value;
      std::size_t comma = value.rfind(',');
      some_te_chunked |= lower_trim(std::string_view(value).substr(comma == std::string::npos ? 0 : comma + 1)) == "chunked";
    }
  }
  std::size_t comma = transfer_encoding.rfind(',');
  const std::string last_coding =
      lower_trim(std::string_view(transfer_encoding).substr(comma == std::string::npos ? 0 : comma + 1));
  // Known findings (HERALD_FUZZ_KNOWN): trailers after a chunked body are added to the
  // headers, uncounted; an empty Transfer-Encoding value is not taken for one.
  if (some_te_chunked && herald::fuzz::known("trailers")) return;
  if (has_te && lower_trim(transfer_encoding).find_first_not_of(", \t") == std::string::npos &&
      herald::fuzz::known("empty-te"))
    return;
  // Known finding: with Upgrade, llhttp skips its check that a request's Transfer-Encoding ends
  // in chunked, and reads no body.
  if (has_te && r.header("upgrade") && herald::fuzz::known("upgrade-te")) return;
  FUZZ_CHECK(stored <= limits.max_header_bytes, "stored header bytes " + std::to_string(stored));
  if (r.method == "CONNECT") {
    // CONNECT has no content: what follows the head is tunnel data, which llhttp leaves
    // unread whatever Content-Length says. Herald tunnels nothing, so the connection must
    // end after the answer rather than parse those bytes as the next request.
    FUZZ_CHECK(!r.keep_alive || herald::fuzz::known("connect"),
               "CONNECT with keep-alive: the bytes after its head would be parsed as the next request");
    return;
  }
  FUZZ_CHECK(content_lengths <= 1, "several Content-Length headers reached the router");
  FUZZ_CHECK(!(content_length && has_te), "Content-Length and Transfer-Encoding both reached the router");
  if (content_length) {
    std::string v = lower_trim(*content_length);
    FUZZ_CHECK(!v.empty() && v.find_first_not_of("0123456789") == std::string::npos,
               "Content-Length '" + escaped(*content_length) + "'");
    // At most max_body_bytes (else 413), so it fits; the body has exactly that many bytes.
    std::size_t digits = v.find_first_not_of('0');
    std::string n = digits == std::string::npos ? "0" : v.substr(digits);
    FUZZ_CHECK(n.size() <= 19 && std::stoull(n) == r.body.size(),
               "Content-Length " + v + " but body " + std::to_string(r.body.size()));
  }
  if (has_te) {
    FUZZ_CHECK(last_coding == "chunked",
               "Transfer-Encoding '" + escaped(transfer_encoding) + "' does not end in chunked");
  } else if (!content_length) {
    FUZZ_CHECK(r.body.empty(), "a body without Content-Length or Transfer-Encoding");
  }
}

// The bytes of an HTTP/1.x request head end their lines with CRLF only: a bare LF or CR is
// what a front proxy may read differently (strict mode is meant to refuse them).
void check_line_ends(std::string_view bytes, const herald::HttpRequest& r) {
  if (r.version_major != 1 || r.header("transfer-encoding") || herald::fuzz::known("bare-lf")) return;
  if (bytes.size() < r.body.size()) return;
  std::string_view head = bytes.substr(0, bytes.size() - r.body.size());
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\n') FUZZ_CHECK(i > 0 && head[i - 1] == '\r', "bare LF in the head '" + escaped(head) + "'");
    if (head[i] == '\r') FUZZ_CHECK(i + 1 < head.size() && head[i + 1] == '\n', "bare CR in the head '" + escaped(head) + "'");
  }
}

struct Outcome {
  std::string text;  // every request and the final state, serialised for comparison
  int error = 0;
  std::size_t requests = 0;
};

void append_field(std::string& out, std::string_view s) {
  out += std::to_string(s.size());
  out += ':';
  out += s;
  out += ';';
}

// Feeds `stream` in the chunks `next_chunk(pos)` cuts, exactly as Connection does.
template <typename NextChunk>
Outcome run(std::string_view stream, const RequestParser::Limits& limits, NextChunk next_chunk) {
  Outcome out;
  RequestParser p(limits);
  std::string buffer;
  std::size_t pos = 0;          // bytes of the stream read so far
  std::size_t request_start = 0;  // stream offset where the current request began
  for (;;) {
    RequestParser::State state = RequestParser::State::need_more;
    for (;;) {
      if (!buffer.empty()) {
        std::size_t used = 12345678;
        state = p.feed(buffer, used);
        FUZZ_CHECK(used <= buffer.size(), "consumed " + std::to_string(used) + " of " + std::to_string(buffer.size()));
        if (state == RequestParser::State::need_more) FUZZ_CHECK(used == buffer.size(), "need_more left bytes");
        buffer.erase(0, used);
        if (state != RequestParser::State::need_more) break;
      }
      if (pos == stream.size()) {
        out.text += "need_more started=" + std::to_string(p.started()) +
                    " headers_complete=" + std::to_string(p.headers_complete()) +
                    " body=" + std::to_string(p.request().body.size());
        return out;
      }
      std::size_t n = next_chunk(pos);
      if (n == 0 || n > stream.size() - pos) n = stream.size() - pos;
      buffer.append(stream.substr(pos, n));
      pos += n;
    }
    if (state == RequestParser::State::error) {
      int status = p.error_status();
      FUZZ_CHECK(status == 400 || status == 413 || status == 431 || status == 501, "error status " + std::to_string(status));
      FUZZ_CHECK(herald::reason_phrase(status) != "Unknown", "no reason phrase for " + std::to_string(status));
      FUZZ_CHECK(!p.error_message().empty());
      FUZZ_CHECK(p.error_message().find('\n') == std::string::npos);
      if (status == 431) {
        // Every byte read since this request began was shown to feed(). Not the bytes it
        // reported as used: on an error that count stops before the llhttp_execute() that
        // failed, so a trailer over the limit (refused from a callback in the read that
        // brought it) would seem to come with only the head's bytes.
        std::size_t arrived = pos - request_start;
        FUZZ_CHECK(arrived > limits.max_header_bytes, "431 after " + std::to_string(arrived) + " bytes");
      }
      // An error is final.
      std::size_t used = 99;
      FUZZ_CHECK(p.feed("GET / HTTP/1.1\r\n\r\n", used) == RequestParser::State::error && used == 0);
      FUZZ_CHECK(p.error_status() == status);
      out.error = status;
      out.text += "error " + std::to_string(status) + " " + p.error_message();
      return out;
    }
    check_request(p, limits);
    const herald::HttpRequest& r = p.request();
    const std::size_t request_bytes = pos - buffer.size() - request_start;
    FUZZ_CHECK(request_bytes <= 2 * limits.max_header_bytes + limits.max_body_bytes,
               "a request of " + std::to_string(request_bytes) + " bytes on the wire");
    check_line_ends(stream.substr(request_start, pos - buffer.size() - request_start), r);
    ++out.requests;
    std::string& t = out.text;
    append_field(t, r.method);
    append_field(t, r.target);
    t += std::to_string(r.version_major) + "." + std::to_string(r.version_minor) + ";";
    for (const auto& [name, value] : r.headers) {
      append_field(t, name);
      append_field(t, value);
    }
    append_field(t, r.body);
    t += r.keep_alive ? "keep-alive;" : "close;";
    t += p.expects_continue() ? "continue;\n" : "\n";
    if (!r.keep_alive) {  // the router answers with Connection: close and the connection ends
      t += "closed";
      return out;
    }
    request_start = pos - buffer.size();
    p.next();
    FUZZ_CHECK(!p.started() && !p.headers_complete() && p.request().headers.empty() && p.request().body.empty());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  static constexpr std::size_t header_limits[] = {256, 1024, 4096, 16384};
  static constexpr std::size_t body_limits[] = {1, 16, 1024, 1024 * 1024};
  RequestParser::Limits limits{header_limits[data[0] & 3], body_limits[(data[0] >> 2) & 3]};
  int mode = (data[0] >> 4) & 3;
  std::size_t param = (std::size_t(data[1]) << 8) | data[2];
  std::string_view stream(reinterpret_cast<const char*>(data) + 3, size - 3);

  Outcome whole = run(stream, limits, [&](std::size_t) { return stream.size(); });

  Outcome split;
  if (mode == 1) {
    // Chunk sizes 1..16 and 1..256 in turn, from bytes 1 and 2.
    std::size_t sizes[2] = {std::size_t(data[1] % 16) + 1, std::size_t(data[2]) + 1};
    std::size_t turn = 0;
    split = run(stream, limits, [&](std::size_t) { return sizes[turn++ % 2]; });
  } else if (mode == 2) {
    split = run(stream, limits, [&](std::size_t) { return std::size_t(1); });
  } else {
    std::size_t cut = param % (stream.size() + 1);
    split = run(stream, limits, [&](std::size_t pos) { return pos < cut ? cut - pos : stream.size() - pos; });
  }

  if (whole.text != split.text) {
    // The header limit is checked once per read, so a stream that is both over the limit
    // and malformed (or over the body limit) may be refused as 431 when cut, and as 400/413
    // when whole, or the other way round. Everything before must agree.
    // Likewise two refusals with the same status may name different faults: Herald's own
    // checks (folded lines, bare LF) see the bytes llhttp accepted in each read, so where the
    // input is cut decides whether llhttp's complaint or Herald's comes first.
    bool limit_timing = ((whole.error == 431) != (split.error == 431) || whole.error == split.error) &&
                        whole.error && split.error &&
                        whole.requests == split.requests &&
                        whole.text.substr(0, whole.text.rfind('\n') + 1) == split.text.substr(0, split.text.rfind('\n') + 1);
    FUZZ_CHECK(limit_timing, "whole and split runs differ:\n--- whole:\n" + escaped(whole.text, 2000) +
                                 "\n--- split (mode " + std::to_string(mode) + ", param " + std::to_string(param) +
                                 "):\n" + escaped(split.text, 2000));
  }
  return 0;
}
