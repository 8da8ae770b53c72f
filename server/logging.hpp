#pragma once
#include <string>

namespace herald {

/// Sends spdlog's default logger to stderr at `level`, as plain text or as one JSON object
/// per line (`format` "json": {"time","level","msg"}), for log collectors.
void setup_logging(const std::string& level, const std::string& format);

}  // namespace herald
