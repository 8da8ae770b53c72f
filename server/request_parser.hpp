#pragma once
#include <cstddef>
#include <string>
#include <string_view>

#include <llhttp.h>

#include "server/http_request.hpp"

namespace herald {

/// Incremental HTTP/1.x request parser over llhttp. Does no I/O: feed it bytes as they
/// arrive and it answers need-more, complete (one request, with how many bytes it used, so
/// pipelined requests stay in the caller's buffer) or error (with the status to answer).
/// Enforces the header-block and body limits as the bytes arrive. Every byte after the head
/// counts, chunk framing included: the bytes of a chunked body on the wire (sizes,
/// extensions, line ends, trailers) are bounded by max_body_bytes plus max_header_bytes of
/// allowance for framing, and one chunk-size line (extensions included) by max_header_bytes.
class RequestParser {
 public:
  struct Limits {
    std::size_t max_header_bytes = 16 * 1024;
    std::size_t max_body_bytes = 1024 * 1024;
  };
  enum class State { need_more, complete, error };

  explicit RequestParser(Limits limits);
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  /// Parses from `data`, stopping after one complete request. `consumed` is set to the bytes
  /// used; the rest belongs to the next request.
  State feed(std::string_view data, std::size_t& consumed);

  /// Prepares for the next request on the same connection (after `complete`).
  void next();

  HttpRequest& request() { return request_; }
  bool started() const { return started_; }
  bool headers_complete() const { return headers_complete_; }
  /// True once the headers asked for "Expect: 100-continue".
  bool expects_continue() const;
  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_message_; }

 private:
  static int on_message_begin(llhttp_t* p);
  static int on_url(llhttp_t* p, const char* at, std::size_t len);
  static int on_header_field(llhttp_t* p, const char* at, std::size_t len);
  static int on_header_value(llhttp_t* p, const char* at, std::size_t len);
  static int on_header_value_complete(llhttp_t* p);
  static int on_headers_complete(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, std::size_t len);
  static int on_message_complete(llhttp_t* p);
  static int on_chunk_header(llhttp_t* p);
  static int on_chunk_complete(llhttp_t* p);
  State fail(int status, std::string message);
  /// Counts `used` bytes after the head that llhttp took; an error state when over a bound.
  State count_body_bytes(std::size_t used, bool in_chunk_line);
  /// The bytes after the head allowed on the wire: the body plus an allowance for framing.
  std::size_t wire_limit() const;
  /// How many of `len` bytes after the head llhttp may see: one past a bound at most, so a
  /// bound trips at the same byte however the stream was cut into reads.
  std::size_t body_room(std::size_t len) const;
  bool trailer(std::size_t len);
  /// Scans head bytes for what llhttp lets through (folding, bare CR or LF); returns where
  /// the first fault is, or null.
  const char* scan_head(const char* begin, std::size_t len);

  Limits limits_;
  llhttp_settings_t settings_;
  llhttp_t parser_;
  HttpRequest request_;
  bool started_ = false;
  bool headers_complete_ = false;
  bool message_complete_ = false;
  bool need_field_ = true;
  // State of scan_head() over the request line and headers.
  char previous_byte_ = '\0';
  bool in_request_line_ = false;  ///< past any empty lines that precede the request
  bool head_scanned_ = false;     ///< reached the blank line that ends the head
  std::size_t line_length_ = 0;
  std::string scan_fault_;
  std::size_t trailer_bytes_ = 0;  ///< the next header value needs a name first
  std::size_t header_bytes_ = 0;
  // Chunk framing: llhttp pauses at the end of each chunk-size line and of each chunk's data,
  // so feed() knows which bytes of a read belong to a chunk-size line.
  std::size_t wire_body_bytes_ = 0;   ///< bytes after the head, framing included
  std::size_t chunk_line_bytes_ = 0;  ///< bytes of the current chunk-size line so far
  bool in_chunk_line_ = false;        ///< the next byte belongs to a chunk-size line
  bool last_chunk_ = false;           ///< the zero-size chunk was read: trailers follow
  int error_status_ = 0;
  std::string error_message_;
};

}  // namespace herald
