#include "server/logging.hpp"

#include <memory>

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace herald {

namespace {

/// Formats a record as one JSON line; the message is escaped, so any text is safe in it.
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    time_.format(msg, dest);  // {"time":"...",
    nlohmann::json rest = {{"level", std::string(spdlog::level::to_string_view(msg.level).data())},
                           {"msg", std::string(msg.payload.data(), msg.payload.size())}};
    std::string text = rest.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data() + 1, text.data() + text.size());  // drop the opening brace
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }

 private:
  spdlog::pattern_formatter time_{"{\"time\":\"%Y-%m-%dT%H:%M:%S.%fZ\",", spdlog::pattern_time_type::utc, ""};
};

}  // namespace

void setup_logging(const std::string& level, const std::string& format) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  if (format == "json") sink->set_formatter(std::make_unique<JsonFormatter>());
  else sink->set_formatter(std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%e %l %v"));
  auto logger = std::make_shared<spdlog::logger>("herald", sink);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace herald
