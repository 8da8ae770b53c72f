#pragma once
#include <exception>
#include <functional>
#include <string>

#include <asio/awaitable.hpp>

#include "broker/event.hpp"

namespace herald {

/// Completion handler for asio::co_spawn: logs an exception that escaped the coroutine, naming
/// what the coroutine was (`context`), instead of dropping it as asio::detached does.
/// Runs on the coroutine's thread.
class LogExceptions {
 public:
  explicit LogExceptions(std::string context) : context_(std::move(context)) {}
  void operator()(std::exception_ptr error) const;

 private:
  std::string context_;
};

/// Runs the coroutine `make_loop()` returns and, whenever it ends by throwing, logs the error
/// with `context` and starts a new one after `pause`; finishes when a run ends normally.
/// For loops that must outlive any one failure, such as accepting connections.
asio::awaitable<void> supervise(std::string context, std::function<asio::awaitable<void>()> make_loop,
                                Clock::duration pause);

/// What an exception says, for a log line (also for one that is not a std::exception).
std::string describe(std::exception_ptr error);

}  // namespace herald
