// A single-threaded epoll loop with one-shot timers. Handlers are long-lived objects (the
// loader owns every connection for a whole scenario), so a stale event for a socket that a
// handler already closed reaches the same handler, which ignores it.
#pragma once
#include <cstdint>
#include <functional>
#include <queue>
#include <vector>

#include <sys/epoll.h>

namespace bench {

class EventLoop {
 public:
  class Handler {
   public:
    virtual void on_io(std::uint32_t events) = 0;

   protected:
    ~Handler() = default;
  };

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  void add(int fd, std::uint32_t events, Handler* handler);
  void modify(int fd, std::uint32_t events, Handler* handler);
  void remove(int fd);

  /// Runs `fn` once, at or after `deadline_ns` (monotonic).
  void at(std::int64_t deadline_ns, std::function<void()> fn);

  /// Called after every turn of the loop (publishers use it to top up their windows).
  std::function<void()> on_turn;

  /// Turns the loop until `done()` holds or `deadline_ns` passes; returns `done()`.
  /// `max_wait_ms` bounds each epoll_wait, i.e. how late a timer or on_turn may run.
  bool run_until(const std::function<bool()>& done, std::int64_t deadline_ns, int max_wait_ms = 5);

  /// Turns the loop for `duration_ns`.
  void run_for(std::int64_t duration_ns, int max_wait_ms = 5);

 private:
  void turn(int timeout_ms);
  void run_timers();

  struct Timer {
    std::int64_t deadline;
    std::uint64_t order;
    std::function<void()> fn;
    bool operator>(const Timer& o) const { return deadline != o.deadline ? deadline > o.deadline : order > o.order; }
  };

  int epfd_;
  std::vector<epoll_event> events_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::uint64_t timer_order_ = 0;
};

}  // namespace bench
