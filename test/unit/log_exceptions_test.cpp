#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <stdexcept>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "server/log_exceptions.hpp"

using namespace herald;

namespace {

/// Sends spdlog's default logger to a string for the test's lifetime.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(text_);
    sink->set_pattern("%l %v");
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string text() const { return text_.str(); }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::logger> previous_;
};

asio::awaitable<void> throws(const char* what) {
  throw std::runtime_error(what);
  co_return;
}

asio::awaitable<void> returns() { co_return; }

}  // namespace

TEST_CASE("a coroutine that throws is logged with its context") {
  CapturedLog log;
  asio::io_context context;
  asio::co_spawn(context, throws("disk on fire"), LogExceptions("test loop"));
  context.run();
  CHECK(log.text() == "error test loop ended by an unexpected error: disk on fire\n");
}

TEST_CASE("a coroutine that ends normally logs nothing") {
  CapturedLog log;
  asio::io_context context;
  asio::co_spawn(context, returns(), LogExceptions("test loop"));
  context.run();
  CHECK(log.text().empty());
}

TEST_CASE("a supervised loop that throws is logged and restarted after the pause") {
  CapturedLog log;
  asio::io_context context;
  int runs = 0;
  auto loop = [&runs]() -> asio::awaitable<void> {
    // Fails twice, then ends normally, which ends the supervision.
    if (++runs <= 2) throw std::runtime_error("accept exploded " + std::to_string(runs));
    co_return;
  };
  auto started = std::chrono::steady_clock::now();
  asio::co_spawn(context, supervise("accept loop", loop, std::chrono::milliseconds(20)), LogExceptions("supervisor"));
  context.run();
  CHECK(runs == 3);
  CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(40));  // two pauses
  CHECK(log.text() ==
        "error accept loop failed: accept exploded 1; restarting it in 20 ms\n"
        "error accept loop failed: accept exploded 2; restarting it in 20 ms\n");
}

TEST_CASE("a supervised loop that ends normally is not restarted") {
  CapturedLog log;
  asio::io_context context;
  int runs = 0;
  auto loop = [&runs]() -> asio::awaitable<void> {
    ++runs;
    co_return;
  };
  asio::co_spawn(context, supervise("accept loop", loop, std::chrono::milliseconds(1)), LogExceptions("supervisor"));
  context.run();
  CHECK(runs == 1);
  CHECK(log.text().empty());
}
