#pragma once
#include <atomic>
#include <cstddef>
#include <utility>

namespace herald {

/// One counted open connection; gives its place back when destroyed. Move-only, so the
/// count follows the socket from the HTTP connection to the stream it becomes.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  explicit ConnectionSlot(std::atomic<std::size_t>& counter) : counter_(&counter) {}
  ConnectionSlot(ConnectionSlot&& other) noexcept : counter_(std::exchange(other.counter_, nullptr)) {}
  ConnectionSlot& operator=(ConnectionSlot&& other) noexcept {
    std::swap(counter_, other.counter_);
    return *this;
  }
  ~ConnectionSlot() {
    if (counter_) counter_->fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::size_t>* counter_ = nullptr;
};

}  // namespace herald
