#include "server/request_parser.hpp"

#include <algorithm>
#include <cctype>
#include <limits>

namespace herald {

namespace {
RequestParser& self(llhttp_t* p) { return *static_cast<RequestParser*>(p->data); }
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

RequestParser::RequestParser(Limits limits) : limits_(limits) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = on_message_begin;
  settings_.on_url = on_url;
  settings_.on_header_field = on_header_field;
  settings_.on_header_value = on_header_value;
  settings_.on_header_value_complete = on_header_value_complete;
  settings_.on_headers_complete = on_headers_complete;
  settings_.on_body = on_body;
  settings_.on_message_complete = on_message_complete;
  settings_.on_chunk_header = on_chunk_header;
  settings_.on_chunk_complete = on_chunk_complete;
  llhttp_init(&parser_, HTTP_REQUEST, &settings_);
  parser_.data = this;
}

void RequestParser::next() {
  request_ = HttpRequest{};
  started_ = headers_complete_ = message_complete_ = in_request_line_ = head_scanned_ = false;
  previous_byte_ = '\0';
  line_length_ = 0;
  trailer_bytes_ = 0;
  need_field_ = true;
  header_bytes_ = 0;
  wire_body_bytes_ = chunk_line_bytes_ = 0;
  in_chunk_line_ = last_chunk_ = false;
}

bool RequestParser::expects_continue() const {
  const std::string* expect = request_.header("expect");
  return headers_complete_ && expect && lower(*expect) == "100-continue";
}

RequestParser::State RequestParser::fail(int status, std::string message) {
  error_status_ = status;
  error_message_ = std::move(message);
  return State::error;
}

const char* RequestParser::scan_head(const char* begin, std::size_t len) {
  // Obsolete line folding (a header line starting with a space or tab) is refused: llhttp
  // merges it into the previous header, a proxy may not, and the difference can hide a
  // Content-Length or Transfer-Encoding (RFC 9112 section 5.2 lets a server reject it).
  // Likewise a bare CR or LF ending a line: some parsers take it as a line end, some don't.
  for (std::size_t i = 0; i < len && !head_scanned_; ++i) {
    char c = begin[i];
    if (previous_byte_ == '\r' && c != '\n') return (scan_fault_ = "bare CR"), begin + i;
    if (c == '\n' && previous_byte_ != '\r') return (scan_fault_ = "bare LF line end"), begin + i;
    if (!in_request_line_) {  // empty lines (CRLF) before a request are tolerated
      previous_byte_ = c;
      if (c != '\r' && c != '\n') in_request_line_ = true, line_length_ = 1;
      continue;
    }
    if (line_length_ == 0 && (c == ' ' || c == '\t')) return (scan_fault_ = "folded header line"), begin + i;
    if (c == '\n') {
      if (line_length_ == 0) head_scanned_ = true;  // the blank line that ends the head
      line_length_ = 0;
    } else if (c != '\r') {
      ++line_length_;
    }
    previous_byte_ = c;
  }
  return nullptr;
}

std::size_t RequestParser::wire_limit() const {
  constexpr std::size_t most = std::numeric_limits<std::size_t>::max();  // saturating
  return limits_.max_body_bytes > most - limits_.max_header_bytes ? most
                                                                   : limits_.max_body_bytes + limits_.max_header_bytes;
}

std::size_t RequestParser::body_room(std::size_t len) const {
  auto one_more = [](std::size_t n) { return n == std::numeric_limits<std::size_t>::max() ? n : n + 1; };
  std::size_t room = one_more(wire_limit() - wire_body_bytes_);
  if (in_chunk_line_) room = std::min(room, one_more(limits_.max_header_bytes - chunk_line_bytes_));
  return std::min(len, room);
}

RequestParser::State RequestParser::count_body_bytes(std::size_t used, bool in_chunk_line) {
  wire_body_bytes_ += used;
  if (in_chunk_line) chunk_line_bytes_ += used;
  // A size line of endless leading zeros or extensions carries no body byte, so only its
  // own bound stops it early; the wire bound stops many tiny chunks.
  if (chunk_line_bytes_ > limits_.max_header_bytes) return fail(413, "chunk-size line too long");
  if (!in_chunk_line_) chunk_line_bytes_ = 0;
  if (wire_body_bytes_ > wire_limit())
    return fail(413, "request body too large (chunk framing included)");
  return State::need_more;
}

RequestParser::State RequestParser::feed(std::string_view data, std::size_t& consumed) {
  consumed = 0;
  if (error_status_) return State::error;
  // After the pause at the end of the headers, run once more even with no bytes left: a
  // request without a body completes without consuming input.
  bool resumed = false;
  while (consumed < data.size() || resumed) {
    resumed = false;
    const char* begin = data.data() + consumed;
    bool in_headers = !headers_complete_;
    std::size_t len = data.size() - consumed;
    // Herald's own checks of the head run first, and llhttp sees only the bytes before a
    // fault they find: whatever is wrong first in the byte stream is what gets reported,
    // however the stream was cut into reads.
    const char* fault = in_headers ? scan_head(begin, len) : nullptr;
    if (fault) len = static_cast<std::size_t>(fault - begin);
    if (!in_headers) len = body_room(len);
    const bool in_chunk_line = in_chunk_line_;
    llhttp_errno_t err = fault && len == 0 ? HPE_OK : llhttp_execute(&parser_, begin, len);
    std::size_t used = len;
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
      used = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - begin);
      if (err == HPE_PAUSED_UPGRADE) llhttp_resume_after_upgrade(&parser_);
      else llhttp_resume(&parser_);
      resumed = !message_complete_;
    } else if (err != HPE_OK) {
      if (error_status_) return State::error;  // a limit set it from a callback
      return fail(400, std::string("malformed request: ") + llhttp_get_error_reason(&parser_));
    }
    if (in_headers) header_bytes_ += used;
    else if (count_body_bytes(used, in_chunk_line) == State::error) return State::error;
    consumed += used;
    if (header_bytes_ > limits_.max_header_bytes) return fail(431, "request header block too large");
    if (fault) return fail(400, "malformed request: " + scan_fault_);
    if (message_complete_) return State::complete;
  }
  return State::need_more;
}

int RequestParser::on_message_begin(llhttp_t* p) {
  self(p).started_ = true;
  return 0;
}

int RequestParser::on_url(llhttp_t* p, const char* at, std::size_t len) {
  self(p).request_.target.append(at, len);
  return 0;
}

// Trailer fields (after a chunked body) are counted against the header limit and dropped:
// nothing Herald does depends on them, and merging them would let them override headers.
bool RequestParser::trailer(std::size_t len) {
  if (!headers_complete_) return false;
  trailer_bytes_ += len;
  return true;
}

int RequestParser::on_header_field(llhttp_t* p, const char* at, std::size_t len) {
  auto& s = self(p);
  if (s.trailer(len)) return s.trailer_bytes_ > s.limits_.max_header_bytes ? (s.fail(431, "trailer fields too large"), -1) : 0;
  if (s.need_field_) {
    s.request_.headers.emplace_back();
    s.need_field_ = false;
  }
  for (std::size_t i = 0; i < len; ++i)
    s.request_.headers.back().first += static_cast<char>(std::tolower(static_cast<unsigned char>(at[i])));
  return 0;
}

int RequestParser::on_header_value(llhttp_t* p, const char* at, std::size_t len) {
  auto& s = self(p);
  if (s.trailer(len)) return s.trailer_bytes_ > s.limits_.max_header_bytes ? (s.fail(431, "trailer fields too large"), -1) : 0;
  if (s.need_field_) {  // llhttp lets ": value" (an empty name) through
    s.fail(400, "malformed request: empty header name");
    return -1;
  }
  s.request_.headers.back().second.append(at, len);
  return 0;
}

int RequestParser::on_header_value_complete(llhttp_t* p) {
  auto& s = self(p);
  if (s.headers_complete_) return 0;  // a trailer
  if (s.need_field_ || s.request_.headers.back().first.empty()) {
    s.fail(400, "malformed request: empty header name");
    return -1;
  }
  s.need_field_ = true;
  return 0;
}

int RequestParser::on_headers_complete(llhttp_t* p) {
  auto& s = self(p);
  auto& r = s.request_;
  r.method = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_get_method(p)));
  r.version_major = llhttp_get_http_major(p);
  r.version_minor = llhttp_get_http_minor(p);
  r.keep_alive = llhttp_should_keep_alive(p) != 0;
  s.headers_complete_ = true;
  // Herald speaks nothing but HTTP/1.x: no protocol upgrade, no CONNECT tunnel. Left on,
  // llhttp would hand the bytes after the headers over as "another protocol", and the next
  // request would be parsed out of what was sent as a body.
  p->upgrade = 0;
  if (llhttp_get_method(p) == HTTP_CONNECT) {
    s.fail(501, "CONNECT is not supported");
    return -1;
  }
  const std::string* te = r.header("transfer-encoding");
  if (te && r.header("content-length")) {
    s.fail(400, "malformed request: both Transfer-Encoding and Content-Length");
    return -1;
  }
  if (te) {  // a request's framing is chunked or nothing: the last coding must be chunked
    std::string_view codings = *te;
    std::string_view last = codings.substr(codings.rfind(',') == std::string_view::npos ? 0 : codings.rfind(',') + 1);
    while (!last.empty() && (last.front() == ' ' || last.front() == '\t')) last.remove_prefix(1);
    while (!last.empty() && (last.back() == ' ' || last.back() == '\t')) last.remove_suffix(1);
    if (lower(std::string(last)) != "chunked") {
      s.fail(400, "malformed request: Transfer-Encoding must end in chunked");
      return -1;
    }
  }
  // HTTP/1.0 has no chunked framing: a Transfer-Encoding there is a smuggling attempt.
  if (r.version_major == 1 && r.version_minor == 0 && r.header("transfer-encoding")) {
    s.fail(400, "malformed request: Transfer-Encoding in an HTTP/1.0 request");
    return -1;
  }
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > s.limits_.max_body_bytes) {
    s.fail(413, "request body too large");
    return -1;
  }
  s.in_chunk_line_ = (p->flags & F_CHUNKED) != 0;
  // Pause so feed() learns exactly where the header block ended, for the header limit.
  return HPE_PAUSED;
}

int RequestParser::on_body(llhttp_t* p, const char* at, std::size_t len) {
  auto& s = self(p);
  if (s.request_.body.size() + len > s.limits_.max_body_bytes) {
    s.fail(413, "request body too large");
    return -1;
  }
  s.request_.body.append(at, len);
  return 0;
}

// Pauses at both ends of a chunk-size line, so feed() can count that line's bytes.
int RequestParser::on_chunk_header(llhttp_t* p) {
  auto& s = self(p);
  s.in_chunk_line_ = false;
  s.last_chunk_ = p->content_length == 0;
  return HPE_PAUSED;
}

int RequestParser::on_chunk_complete(llhttp_t* p) {
  auto& s = self(p);
  if (s.last_chunk_) return 0;  // after the trailers: the message is complete
  s.in_chunk_line_ = true;
  return HPE_PAUSED;
}

int RequestParser::on_message_complete(llhttp_t* p) {
  self(p).message_complete_ = true;
  return HPE_PAUSED;  // one request at a time: pipelined bytes wait in the caller's buffer
}

}  // namespace herald
