// One keep-alive HTTP/1.1 publishing connection. Requests are pipelined up to the
// loader's window; each event's data is "<topic> <connection> <seq> <monotonic ns>".
#pragma once
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "event_loop.hpp"
#include "http_parse.hpp"

namespace bench {

class Loader;

class Publisher final : public EventLoop::Handler {
 public:
  Publisher(Loader& loader, std::uint32_t index, std::size_t depth);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  void connect();
  bool connected() const { return state_ == State::open; }
  bool gave_up() const { return gave_up_; }
  std::size_t in_flight() const { return in_flight_.size(); }
  std::size_t depth() const { return depth_; }
  std::uint32_t index() const { return index_; }

  /// Queues one publish of a new event on `topic`, stamped `now`.
  void issue(std::uint32_t topic, std::int64_t now);
  /// Writes what is queued.
  void flush();

 private:
  enum class State : std::uint8_t { idle, connecting, open };
  struct Pending {
    std::uint32_t topic;
    std::int64_t sent_ns;
  };
  void on_io(std::uint32_t events) override;
  void dropped();
  void close_fd();
  void update_interest();

  Loader& loader_;
  std::uint32_t index_;
  std::size_t depth_;
  int fd_ = -1;
  State state_ = State::idle;
  bool want_write_ = false;
  bool gave_up_ = false;
  std::uint32_t attempts_ = 0;
  std::string out_;
  std::size_t out_sent_ = 0;
  std::deque<Pending> in_flight_;
  std::vector<std::uint64_t> next_seq_;  ///< per topic
  std::string data_;
  ResponseReader reader_;
};

}  // namespace bench
