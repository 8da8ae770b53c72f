#pragma once
#include <atomic>
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <asio/ip/address.hpp>

namespace herald {

class ConnectionLimiter;

/// One counted open connection; gives its place back when destroyed. Move-only, so the
/// count follows the socket from the HTTP connection to the stream it becomes.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  ConnectionSlot(ConnectionSlot&& other) noexcept
      : limiter_(std::exchange(other.limiter_, nullptr)), client_(other.client_) {}
  ConnectionSlot& operator=(ConnectionSlot&& other) noexcept {
    std::swap(limiter_, other.limiter_);
    std::swap(client_, other.client_);
    return *this;
  }
  ~ConnectionSlot();

 private:
  friend class ConnectionLimiter;
  ConnectionSlot(ConnectionLimiter* limiter, const asio::ip::address& client) : limiter_(limiter), client_(client) {}
  ConnectionLimiter* limiter_ = nullptr;
  asio::ip::address client_;
};

/// Counts open connections, in all and per client address, and refuses those over the
/// limits. Any thread; its lock is taken once per connection opened or closed, never per event.
class ConnectionLimiter {
 public:
  enum class Verdict { accepted, server_full, client_full };

  /// `max_per_client` of 0: no per-address limit.
  ConnectionLimiter(std::size_t max_total, std::size_t max_per_client)
      : max_total_(max_total), max_per_client_(max_per_client) {}

  Verdict try_acquire(const asio::ip::address& client, ConnectionSlot& slot) {
    if (open_.fetch_add(1, std::memory_order_relaxed) >= max_total_) {
      open_.fetch_sub(1, std::memory_order_relaxed);
      return Verdict::server_full;
    }
    if (max_per_client_ > 0) {
      std::lock_guard lock(mutex_);
      std::size_t& n = per_client_[client];
      if (n >= max_per_client_) {
        if (n == 0) per_client_.erase(client);
        open_.fetch_sub(1, std::memory_order_relaxed);
        return Verdict::client_full;
      }
      ++n;
    }
    slot = ConnectionSlot(this, client);
    return Verdict::accepted;
  }

  std::size_t open() const { return open_.load(std::memory_order_relaxed); }

 private:
  friend class ConnectionSlot;
  void release(const asio::ip::address& client) {
    if (max_per_client_ > 0) {
      std::lock_guard lock(mutex_);
      auto it = per_client_.find(client);
      if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
    }
    open_.fetch_sub(1, std::memory_order_relaxed);
  }

  const std::size_t max_total_;
  const std::size_t max_per_client_;
  std::atomic<std::size_t> open_{0};
  std::mutex mutex_;
  std::unordered_map<asio::ip::address, std::size_t> per_client_;
};

inline ConnectionSlot::~ConnectionSlot() {
  if (limiter_) limiter_->release(client_);
}

}  // namespace herald
