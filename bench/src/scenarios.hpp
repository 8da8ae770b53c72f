// The benchmark scenarios and the smoke test. Each run connects, loads and verifies one
// server and returns its figures, every delivery check included.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include "json.hpp"
#include "loader.hpp"

namespace bench {

struct RunConfig {
  LoaderOptions loader;
  pid_t server_pid = 0;  ///< for CPU and memory figures; 0: not measured
  bool quick = false;
  std::size_t connect_concurrency = 500;  ///< subscribers connecting at once during ramps
  // Overrides of a scenario's own counts.
  std::optional<std::size_t> subscribers, topics, publishers, pipeline, events, max_outstanding;
  std::optional<double> duration_s, rate, hold_s;
};

/// One line of the comparison table.
struct TableRow {
  std::string metric;
  std::string display;  ///< the value as shown
  double value = 0;     ///< for the ratio; NaN when a ratio makes no sense
  std::string better;   ///< "higher", "lower" or "" (informational)
};

struct ScenarioResult {
  std::string scenario;
  std::string target;
  bool ok = true;
  JsonObject params;
  JsonObject metrics;
  Delivery delivery;
  ErrorCounts errors;
  std::vector<TableRow> table;
  std::vector<std::string> problems;

  JsonObject to_json() const;
};

struct ScenarioInfo {
  const char* name;
  const char* summary;
  ScenarioResult (*run)(const RunConfig&);
};

const std::vector<ScenarioInfo>& scenarios();

/// A few seconds of publishing, subscribing and resuming; true when nothing was lost,
/// duplicated or reordered and no request failed.
ScenarioResult run_smoke(const RunConfig& config);

}  // namespace bench
