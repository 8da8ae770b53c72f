#include "server/log_exceptions.hpp"

#include <chrono>

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace herald {

std::string describe(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

void LogExceptions::operator()(std::exception_ptr error) const {
  if (error) spdlog::error("{} ended by an unexpected error: {}", context_, describe(error));
}

asio::awaitable<void> supervise(std::string context, std::function<asio::awaitable<void>()> make_loop,
                                Clock::duration pause) {
  for (;;) {
    std::exception_ptr error;
    try {
      co_await make_loop();
      co_return;
    } catch (...) {
      error = std::current_exception();
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(pause).count();
    spdlog::error("{} failed: {}; restarting it in {} ms", context, describe(error), ms);
    // A pause, so a loop that fails at once every time costs a log line per pause, not a core.
    asio::steady_timer timer(co_await asio::this_coro::executor, pause);
    auto [ec] = co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
}

}  // namespace herald
