#include "subscriber.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.hpp"
#include "loader.hpp"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace bench {

namespace {

// One buffer for every read: the loop is single-threaded and parses each read at once.
char read_buffer[256 * 1024];

constexpr std::uint32_t max_publishers = 65536;

template <typename T>
bool next_number(std::string_view& text, T& value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc()) return false;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  if (!text.empty()) {
    if (text.front() != ' ') return false;
    text.remove_prefix(1);
  }
  return true;
}

}  // namespace

SeqTrack::Seen SeqTrack::see(std::uint64_t seq) {
  std::size_t word = static_cast<std::size_t>(seq >> 6);
  if (word >= bits_.size()) bits_.resize(std::max(word + 1, bits_.size() * 2), 0);
  std::uint64_t mask = std::uint64_t{1} << (seq & 63);
  if (bits_[word] & mask) return Seen::duplicate;
  bits_[word] |= mask;
  if (seq + 1 < high_) return Seen::out_of_order;
  high_ = seq + 1;
  return Seen::in_order;
}

Subscriber::Subscriber(Loader& loader, std::uint32_t index, std::uint32_t topic)
    : loader_(loader), index_(index), topic_(topic) {
  body_sink_ = [this](const char* data, std::size_t len) { sse_.feed(data, len, *this); };
}

Subscriber::~Subscriber() { close_fd(); }

void Subscriber::close_fd() {
  if (fd_ < 0) return;
  loader_.loop().remove(fd_);
  ::close(fd_);
  fd_ = -1;
}

void Subscriber::settle(bool ok) {
  if (!pending_settle_) return;
  pending_settle_ = false;
  loader_.subscriber_settled(ok);
}

void Subscriber::start(bool resume) {
  pending_settle_ = true;
  gave_up_ = false;
  connect(resume);
}

void Subscriber::connect(bool resume) {
  close_fd();
  state_ = State::connecting;
  head_.reset();
  chunks_.reset();
  sse_.reset();
  request_ = loader_.options().target.subscribe_request(loader_.topic_name(topic_), resume ? sse_.last_id() : std::string_view());
  request_sent_ = 0;

  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    dropped(&SubscriberCounts::connect_failures);
    return;
  }
  // Bind the source address only; the port is picked at connect time per destination, so
  // every source address has a whole ephemeral port range of its own.
  int one = 1;
  setsockopt(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  sockaddr_in source = loader_.source_address(index_);
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&source), sizeof source) != 0) {
    dropped(&SubscriberCounts::connect_failures);
    return;
  }
  const sockaddr_in& dest = loader_.options().target.address;
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&dest), sizeof dest) != 0 && errno != EINPROGRESS) {
    dropped(&SubscriberCounts::connect_failures);
    return;
  }
  loader_.loop().add(fd_, EPOLLOUT | EPOLLIN | EPOLLRDHUP, this);
}

void Subscriber::close() {
  ++generation_;
  settle(false);
  close_fd();
  state_ = State::idle;
}

void Subscriber::dropped(std::uint64_t SubscriberCounts::*counter) {
  ++(counts_.*counter);
  close_fd();
  state_ = State::idle;
  if (loader_.options().reconnect && attempts_ < loader_.options().max_reconnects) {
    ++attempts_;
    ++counts_.reconnects;
    // The loader outlives its loop's timers.
    loader_.loop().at(now_ns() + loader_.options().reconnect_delay_ns, [this, generation = generation_] {
      if (state_ == State::idle && generation == generation_) connect(true);
    });
    return;
  }
  gave_up_ = true;
  settle(false);
}

void Subscriber::on_io(std::uint32_t events) {
  if (fd_ < 0) return;  // closed earlier in this turn
  if (state_ == State::connecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      dropped(&SubscriberCounts::connect_failures);
      return;
    }
    on_connected();
    return;
  }
  if (request_sent_ < request_.size() && (events & EPOLLOUT)) {
    on_connected();
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable();
}

void Subscriber::on_connected() {
  while (request_sent_ < request_.size()) {
    ssize_t n = ::send(fd_, request_.data() + request_sent_, request_.size() - request_sent_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) {
        state_ = State::head;
        loader_.loop().modify(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
        return;
      }
      dropped(&SubscriberCounts::connect_failures);
      return;
    }
    request_sent_ += static_cast<std::size_t>(n);
  }
  state_ = State::head;
  loader_.loop().modify(fd_, EPOLLIN | EPOLLRDHUP, this);
}

void Subscriber::on_readable() {
  // A few reads per wake-up at most, so one busy stream cannot starve the others.
  for (int i = 0; i < 4 && fd_ >= 0; ++i) {
    ssize_t n = ::recv(fd_, read_buffer, sizeof read_buffer, 0);
    if (n > 0) {
      now_ = now_ns();
      if (loader_.options().lazy_ack) {
        // Let the kernel delay this socket's ACKs (re-armed after every read, as the kernel
        // clears it), the way a busy or distant client acknowledges: shows what a server's
        // Nagle setting does to latency.
        int zero = 0;
        setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof zero);
      }
      on_bytes(read_buffer, static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) < sizeof read_buffer) return;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    // EOF or a reset: the stream is over.
    dropped(state_ == State::stream ? &SubscriberCounts::disconnects
            : state_ == State::head ? &SubscriberCounts::disconnects
                                    : &SubscriberCounts::connect_failures);
    return;
  }
}

void Subscriber::on_bytes(const char* data, std::size_t len) {
  if (state_ == State::head) {
    std::size_t used = 0;
    auto r = head_.feed(std::string_view(data, len), used);
    if (r == ResponseHead::Result::need_more) return;
    if (r == ResponseHead::Result::error) {
      dropped(&SubscriberCounts::protocol_errors);
      return;
    }
    if (head_.status != 200) {
      dropped(&SubscriberCounts::http_errors);
      return;
    }
    chunked_ = head_.chunked;
    state_ = State::stream;
    ready_at_ = now_;
    settle(true);
    data += used;
    len -= used;
    if (len == 0) return;
  }
  if (state_ != State::stream) return;
  on_body(data, len);
}

void Subscriber::on_body(const char* data, std::size_t len) {
  if (!chunked_) {
    sse_.feed(data, len, *this);
    return;
  }
  auto r = chunks_.feed(data, len, body_sink_);
  if (r == ChunkDecoder::Result::error) dropped(&SubscriberCounts::protocol_errors);
  else if (r == ChunkDecoder::Result::finished) dropped(&SubscriberCounts::disconnects);
}

void Subscriber::on_sse_comment(std::string_view text) {
  if (text.find("heartbeat") != std::string_view::npos) ++counts_.heartbeats;
}

void Subscriber::on_sse_event(std::string_view id, std::string_view type, std::string_view data) {
  if (!type.empty() && type != "message") {
    if (type == "herald-history-truncated") ++counts_.truncated;
    else if (type == "ping") ++counts_.heartbeats;
    else ++counts_.other_events;
    return;
  }
  // "<topic> <publisher connection> <seq> <monotonic ns>[ filler]"
  std::uint32_t topic = 0, publisher = 0;
  std::uint64_t seq = 0;
  std::int64_t stamp = 0;
  std::string_view rest = data;
  if (!next_number(rest, topic) || !next_number(rest, publisher) || !next_number(rest, seq) || !next_number(rest, stamp) ||
      topic != topic_ || publisher >= max_publishers) {
    ++counts_.foreign;
    return;
  }
  ++counts_.received;
  IdKey key = IdKey::parse(id);
  if (!key.valid || (previous_id_.valid && !key.after(previous_id_))) ++counts_.id_order_errors;
  if (key.valid) previous_id_ = key;
  if (publisher >= tracks_.size()) tracks_.resize(publisher + 1);
  switch (tracks_[publisher].see(seq)) {
    case SeqTrack::Seen::duplicate:
      ++counts_.duplicated;
      return;
    case SeqTrack::Seen::out_of_order:
      ++counts_.out_of_order;
      break;
    case SeqTrack::Seen::in_order:
      break;
  }
  ++counts_.unique;
  loader_.delivered(now_, stamp);
}

}  // namespace bench
