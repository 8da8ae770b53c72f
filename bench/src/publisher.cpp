#include "publisher.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.hpp"
#include "loader.hpp"

namespace bench {

namespace {
char read_buffer[64 * 1024];

void append_number(std::string& out, std::uint64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  (void)ec;
  out.append(digits, end);
}
}  // namespace

Publisher::Publisher(Loader& loader, std::uint32_t index, std::size_t depth)
    : loader_(loader), index_(index), depth_(depth), next_seq_(loader.topic_count(), 0) {}

Publisher::~Publisher() { close_fd(); }

void Publisher::close_fd() {
  if (fd_ < 0) return;
  loader_.loop().remove(fd_);
  ::close(fd_);
  fd_ = -1;
}

void Publisher::connect() {
  close_fd();
  out_.clear();
  out_sent_ = 0;
  reader_.reset();
  state_ = State::connecting;
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    dropped();
    return;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const sockaddr_in& dest = loader_.options().target.address;
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&dest), sizeof dest) != 0 && errno != EINPROGRESS) {
    dropped();
    return;
  }
  want_write_ = true;
  loader_.loop().add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this);
}

void Publisher::dropped() {
  close_fd();
  state_ = State::idle;
  // Requests that got no answer: the server may or may not have taken them.
  for (const Pending& p : in_flight_) loader_.publish_lost(p.topic);
  in_flight_.clear();
  loader_.publisher_dropped();
  if (attempts_ < loader_.options().max_reconnects) {
    ++attempts_;
    loader_.loop().at(now_ns() + loader_.options().reconnect_delay_ns, [this] {
      if (state_ == State::idle) connect();
    });
  } else {
    gave_up_ = true;
  }
}

void Publisher::issue(std::uint32_t topic, std::int64_t now) {
  data_.clear();
  append_number(data_, topic);
  data_ += ' ';
  append_number(data_, index_);
  data_ += ' ';
  append_number(data_, next_seq_[topic]++);
  data_ += ' ';
  append_number(data_, static_cast<std::uint64_t>(now));
  if (std::size_t filler = loader_.options().payload; filler > 0) {
    data_ += ' ';
    data_.append(filler, 'x');
  }
  loader_.options().target.append_publish(out_, loader_.topic_name(topic), data_);
  in_flight_.push_back(Pending{topic, now});
}

void Publisher::update_interest() {
  bool want = out_sent_ < out_.size();
  if (want == want_write_ || fd_ < 0) return;
  want_write_ = want;
  loader_.loop().modify(fd_, EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0u), this);
}

void Publisher::flush() {
  if (state_ != State::open || fd_ < 0) return;
  while (out_sent_ < out_.size()) {
    ssize_t n = ::send(fd_, out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) break;
      dropped();
      return;
    }
    out_sent_ += static_cast<std::size_t>(n);
  }
  if (out_sent_ == out_.size()) {
    out_.clear();
    out_sent_ = 0;
  } else if (out_sent_ > (1 << 20)) {
    out_.erase(0, out_sent_);
    out_sent_ = 0;
  }
  update_interest();
}

void Publisher::on_io(std::uint32_t events) {
  if (fd_ < 0) return;
  if (state_ == State::connecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      dropped();
      return;
    }
    state_ = State::open;
    attempts_ = 0;
    flush();
    return;
  }
  if (events & EPOLLOUT) {
    flush();
    if (fd_ < 0) return;
  }
  if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
  for (int i = 0; i < 4 && fd_ >= 0; ++i) {
    ssize_t n = ::recv(fd_, read_buffer, sizeof read_buffer, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      dropped();
      return;
    }
    std::int64_t now = now_ns();
    bool close_after = false;
    bool ok = reader_.feed(read_buffer, static_cast<std::size_t>(n), [&](int status, bool close) {
      if (in_flight_.empty()) return;  // an answer to nothing: counted as a protocol error below
      Pending p = in_flight_.front();
      in_flight_.pop_front();
      loader_.publish_answered(p.topic, status, now - p.sent_ns);
      if (close) close_after = true;
    });
    if (!ok || close_after) {
      dropped();
      return;
    }
    if (static_cast<std::size_t>(n) < sizeof read_buffer) return;
  }
}

}  // namespace bench
