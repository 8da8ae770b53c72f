#include "event_loop.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include <unistd.h>

#include "clock.hpp"

namespace bench {

EventLoop::EventLoop() : epfd_(epoll_create1(EPOLL_CLOEXEC)), events_(4096) {
  if (epfd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
}

EventLoop::~EventLoop() { ::close(epfd_); }

void EventLoop::add(int fd, std::uint32_t events, Handler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0)
    throw std::runtime_error(std::string("epoll_ctl add: ") + std::strerror(errno));
}

void EventLoop::modify(int fd, std::uint32_t events, Handler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) != 0)
    throw std::runtime_error(std::string("epoll_ctl mod: ") + std::strerror(errno));
}

void EventLoop::remove(int fd) { epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::at(std::int64_t deadline_ns, std::function<void()> fn) {
  timers_.push(Timer{deadline_ns, timer_order_++, std::move(fn)});
}

void EventLoop::run_timers() {
  std::int64_t now = now_ns();
  // Bounded: timers added while running wait for the next turn.
  for (std::size_t budget = timers_.size(); budget > 0 && !timers_.empty() && timers_.top().deadline <= now; --budget) {
    auto fn = std::move(const_cast<Timer&>(timers_.top()).fn);
    timers_.pop();
    fn();
  }
}

void EventLoop::turn(int timeout_ms) {
  if (!timers_.empty()) {
    std::int64_t wait = timers_.top().deadline - now_ns();
    int timer_ms = wait <= 0 ? 0 : static_cast<int>(std::min<std::int64_t>(wait / 1'000'000 + 1, timeout_ms));
    timeout_ms = std::min(timeout_ms, timer_ms);
  }
  int n = epoll_wait(epfd_, events_.data(), static_cast<int>(events_.size()), timeout_ms);
  if (n < 0 && errno != EINTR) throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
  for (int i = 0; i < n; ++i) static_cast<Handler*>(events_[i].data.ptr)->on_io(events_[i].events);
  run_timers();
  if (on_turn) on_turn();
}

bool EventLoop::run_until(const std::function<bool()>& done, std::int64_t deadline_ns, int max_wait_ms) {
  for (;;) {
    if (done()) return true;
    std::int64_t left = deadline_ns - now_ns();
    if (left <= 0) return done();
    turn(static_cast<int>(std::clamp<std::int64_t>(left / 1'000'000, 0, max_wait_ms)));
  }
}

void EventLoop::run_for(std::int64_t duration_ns, int max_wait_ms) {
  run_until([] { return false; }, now_ns() + duration_ns, max_wait_ms);
}

}  // namespace bench
