// An incremental text/event-stream parser following the WHATWG rules: CR, LF or CRLF end
// a line, a blank line dispatches, "data" lines join with LF, one space after the colon is
// dropped, comments start with ':'.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace bench {

class SseSink {
 public:
  /// A dispatched event; `id` is the last id seen on this stream (per the spec it persists).
  virtual void on_sse_event(std::string_view id, std::string_view type, std::string_view data) = 0;
  virtual void on_sse_comment(std::string_view text) = 0;

 protected:
  ~SseSink() = default;
};

class SseParser {
 public:
  void feed(const char* data, std::size_t len, SseSink& sink);
  /// Forgets a partial event (on reconnect); the last event id is kept, as a browser does.
  void reset();
  const std::string& last_id() const { return last_id_; }
  void set_last_id(std::string id) { last_id_ = std::move(id); }

 private:
  void line(std::string_view text, SseSink& sink);

  std::string partial_;   ///< a line cut by the end of a read
  bool skip_lf_ = false;  ///< the previous read ended on CR: a leading LF belongs to it
  std::string data_;
  std::string type_;
  std::string last_id_;
  bool has_data_ = false;
};

}  // namespace bench
