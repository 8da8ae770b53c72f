// Incremental HTTP/1.x response parsing: the status line and headers, chunked framing,
// and whole responses on a keep-alive connection (for publishers).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace bench {

/// Collects a response head ("HTTP/1.1 200 OK ... \r\n\r\n") across reads.
class ResponseHead {
 public:
  enum class Result { need_more, done, error };

  /// Consumes bytes of `data` up to the end of the head (`used` says how many).
  Result feed(std::string_view data, std::size_t& used);
  void reset();

  int status = 0;
  bool chunked = false;
  bool close = false;  ///< "Connection: close" or HTTP/1.0 without keep-alive
  std::int64_t content_length = -1;
  std::string content_type;

 private:
  bool parse();
  std::string buf_;
};

/// Removes chunked framing; hands the payload to `sink`.
class ChunkDecoder {
 public:
  enum class Result { ok, finished, error };
  using Sink = std::function<void(const char*, std::size_t)>;

  Result feed(const char* data, std::size_t len, const Sink& sink);
  void reset();

 private:
  enum class State { size, extension, size_lf, data, data_cr, data_lf, trailer, trailer_lf, done } state_ = State::size;
  std::uint64_t remaining_ = 0;
  bool size_digits_ = false;
  bool trailer_empty_ = true;
};

/// Frames whole responses on a keep-alive connection; bodies are skipped.
class ResponseReader {
 public:
  /// (status, server asked to close). Return false to stop reading.
  using OnResponse = std::function<void(int status, bool close)>;
  /// Returns false on a protocol error.
  bool feed(const char* data, std::size_t len, const OnResponse& on_response);
  void reset();

 private:
  enum class State { head, body_length, body_chunked } state_ = State::head;
  ResponseHead head_;
  ChunkDecoder chunks_;
  std::int64_t body_left_ = 0;
};

}  // namespace bench
