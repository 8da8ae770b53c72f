#include "http_parse.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

namespace bench {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

bool icontains(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i)
    if (iequals(haystack.substr(i, needle.size()), needle)) return true;
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

constexpr std::size_t max_head_bytes = 64 * 1024;

}  // namespace

void ResponseHead::reset() {
  status = 0;
  chunked = close = false;
  content_length = -1;
  content_type.clear();
  buf_.clear();
}

ResponseHead::Result ResponseHead::feed(std::string_view data, std::size_t& used) {
  // The end marker may straddle reads: search from a little before the new bytes.
  std::size_t old = buf_.size();
  buf_.append(data.data(), std::min(data.size(), max_head_bytes + 4 - std::min(old, max_head_bytes)));
  std::size_t from = old >= 3 ? old - 3 : 0;
  std::size_t end = buf_.find("\r\n\r\n", from);
  if (end == std::string::npos) {
    used = data.size();
    return buf_.size() > max_head_bytes ? Result::error : Result::need_more;
  }
  used = end + 4 - old;
  buf_.resize(end + 2);
  return parse() ? Result::done : Result::error;
}

bool ResponseHead::parse() {
  std::string_view text(buf_);
  std::size_t eol = text.find("\r\n");
  std::string_view line = text.substr(0, eol);
  // "HTTP/1.1 200 OK"
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/") return false;
  bool http10 = line.substr(5, 3) == "1.0";
  auto [p, ec] = std::from_chars(line.data() + 9, line.data() + 12, status);
  if (ec != std::errc() || p != line.data() + 12) return false;
  close = http10;
  std::size_t pos = eol + 2;
  while (pos < text.size()) {
    std::size_t next = text.find("\r\n", pos);
    if (next == std::string_view::npos) next = text.size();
    std::string_view header = text.substr(pos, next - pos);
    pos = next + 2;
    std::size_t colon = header.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = header.substr(0, colon);
    std::string_view value = trim(header.substr(colon + 1));
    if (iequals(name, "content-length")) {
      std::int64_t n = 0;
      auto [q, e] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (e != std::errc() || q != value.data() + value.size() || n < 0) return false;
      content_length = n;
    } else if (iequals(name, "transfer-encoding")) {
      chunked = icontains(value, "chunked");
    } else if (iequals(name, "connection")) {
      if (icontains(value, "close")) close = true;
      else if (icontains(value, "keep-alive")) close = false;
    } else if (iequals(name, "content-type")) {
      content_type = value;
    }
  }
  return true;
}

void ChunkDecoder::reset() {
  state_ = State::size;
  remaining_ = 0;
  size_digits_ = false;
  trailer_empty_ = true;
}

ChunkDecoder::Result ChunkDecoder::feed(const char* data, std::size_t len, const Sink& sink) {
  const char* p = data;
  const char* end = data + len;
  while (p < end) {
    switch (state_) {
      case State::size: {
        char c = *p++;
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (digit >= 0) {
          if (remaining_ > (UINT64_MAX >> 4)) return Result::error;
          remaining_ = remaining_ * 16 + static_cast<unsigned>(digit);
          size_digits_ = true;
        } else if (c == '\r' && size_digits_) {
          state_ = State::size_lf;
        } else if ((c == ';' || c == ' ' || c == '\t') && size_digits_) {
          state_ = State::extension;
        } else {
          return Result::error;
        }
        break;
      }
      case State::extension:
        if (*p++ == '\r') state_ = State::size_lf;
        break;
      case State::size_lf:
        if (*p++ != '\n') return Result::error;
        size_digits_ = false;
        if (remaining_ == 0) {
          state_ = State::trailer;
          trailer_empty_ = true;
        } else {
          state_ = State::data;
        }
        break;
      case State::data: {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, static_cast<std::uint64_t>(end - p)));
        sink(p, n);
        p += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::data_cr;
        break;
      }
      case State::data_cr:
        if (*p++ != '\r') return Result::error;
        state_ = State::data_lf;
        break;
      case State::data_lf:
        if (*p++ != '\n') return Result::error;
        state_ = State::size;
        break;
      case State::trailer:
        if (*p++ == '\r') state_ = State::trailer_lf;
        else trailer_empty_ = false;
        break;
      case State::trailer_lf:
        if (*p++ != '\n') return Result::error;
        if (trailer_empty_) {
          state_ = State::done;
          return Result::finished;
        }
        state_ = State::trailer;
        trailer_empty_ = true;
        break;
      case State::done:
        return Result::finished;
    }
  }
  return state_ == State::done ? Result::finished : Result::ok;
}

void ResponseReader::reset() {
  state_ = State::head;
  head_.reset();
  chunks_.reset();
  body_left_ = 0;
}

bool ResponseReader::feed(const char* data, std::size_t len, const OnResponse& on_response) {
  std::string_view rest(data, len);
  static const ChunkDecoder::Sink discard = [](const char*, std::size_t) {};
  while (!rest.empty() || state_ == State::body_length) {
    switch (state_) {
      case State::head: {
        std::size_t used = 0;
        auto r = head_.feed(rest, used);
        rest.remove_prefix(used);
        if (r == ResponseHead::Result::error) return false;
        if (r == ResponseHead::Result::need_more) return true;
        if (head_.status == 100) {  // interim response: the real one follows
          head_.reset();
          break;
        }
        if (head_.chunked) {
          state_ = State::body_chunked;
          chunks_.reset();
        } else {
          state_ = State::body_length;
          body_left_ = std::max<std::int64_t>(head_.content_length, 0);
        }
        break;
      }
      case State::body_length: {
        std::size_t n = static_cast<std::size_t>(std::min<std::int64_t>(body_left_, static_cast<std::int64_t>(rest.size())));
        rest.remove_prefix(n);
        body_left_ -= n;
        if (body_left_ > 0) return true;
        int status = head_.status;
        bool close = head_.close;
        state_ = State::head;
        head_.reset();
        on_response(status, close);
        break;
      }
      case State::body_chunked: {
        // Feed byte ranges until the decoder finishes; it stops exactly at the end.
        std::size_t n = 0;
        ChunkDecoder::Result r = ChunkDecoder::Result::ok;
        // Find how much the decoder consumes: feed one byte at a time past the payload.
        while (n < rest.size()) {
          r = chunks_.feed(rest.data() + n, 1, discard);
          ++n;
          if (r != ChunkDecoder::Result::ok) break;
        }
        rest.remove_prefix(n);
        if (r == ChunkDecoder::Result::error) return false;
        if (r == ChunkDecoder::Result::finished) {
          int status = head_.status;
          bool close = head_.close;
          state_ = State::head;
          head_.reset();
          on_response(status, close);
        }
        break;
      }
    }
  }
  return true;
}

}  // namespace bench
