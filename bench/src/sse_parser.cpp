#include "sse_parser.hpp"

#include <cstring>

namespace bench {

void SseParser::reset() {
  partial_.clear();
  skip_lf_ = false;
  data_.clear();
  type_.clear();
  has_data_ = false;
}

void SseParser::feed(const char* data, std::size_t len, SseSink& sink) {
  const char* p = data;
  const char* end = data + len;
  if (skip_lf_ && p < end) {
    skip_lf_ = false;
    if (*p == '\n') ++p;
  }
  while (p < end) {
    // The servers under test end lines with LF; look for that fast, then for a CR in the line.
    const char* lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const char* limit = lf ? lf : end;
    const char* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(limit - p)));
    const char* eol = cr ? cr : lf;
    if (!eol) {
      partial_.append(p, static_cast<std::size_t>(end - p));
      return;
    }
    const char* next = eol + 1;
    if (cr) {
      if (next < end && *next == '\n') ++next;
      else if (next == end) skip_lf_ = true;
    }
    if (partial_.empty()) {
      line(std::string_view(p, static_cast<std::size_t>(eol - p)), sink);
    } else {
      partial_.append(p, static_cast<std::size_t>(eol - p));
      std::string whole;
      whole.swap(partial_);
      line(whole, sink);
      whole.clear();
      if (partial_.empty()) partial_.swap(whole);  // keep the capacity
    }
    p = next;
  }
}

void SseParser::line(std::string_view text, SseSink& sink) {
  if (text.empty()) {
    if (has_data_) sink.on_sse_event(last_id_, type_, data_);
    data_.clear();
    type_.clear();
    has_data_ = false;
    return;
  }
  if (text.front() == ':') {
    text.remove_prefix(1);
    if (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    sink.on_sse_comment(text);
    return;
  }
  std::string_view field = text;
  std::string_view value;
  if (std::size_t colon = text.find(':'); colon != std::string_view::npos) {
    field = text.substr(0, colon);
    value = text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_ += '\n';
    data_.append(value);
    has_data_ = true;
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_.assign(value);
  } else if (field == "event") {
    type_.assign(value);
  }
  // "retry" and unknown fields are ignored.
}

}  // namespace bench
