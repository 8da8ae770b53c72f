// herald_bench: a load generator and delivery checker for SSE hubs (Herald and nchan).
// One thread and one epoll loop hold thousands of streams; every event carries its
// publisher's sequence number and send time, so each subscriber checks that it got every
// event once and in order, and measures publish-to-receive latency. See bench/README.md.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sys/resource.h>

#include "scenarios.hpp"

namespace {

const char* usage = R"(usage:
  herald_bench --scenario NAME --target herald|nchan --url http://127.0.0.1:PORT [options]
  herald_bench --smoke --url http://127.0.0.1:PORT [--target herald|nchan]
  herald_bench --list

Runs one scenario against one server and prints its result as one JSON object on stdout
(progress goes to stderr). Exits 1 when any event was lost, duplicated or reordered, or a
request failed; 2 on bad usage.

options:
  --server-pid PID          measure this process (and its children) for CPU and RSS
  --quick                   small counts and short durations
  --json-out FILE           also append the result to FILE (one JSON object per line)
  --subscribers N --topics N --publishers N --pipeline N --events N
  --duration S --rate R --hold S --max-outstanding N
                            override the scenario's own figures
  --payload BYTES           filler added to each event's data (default 0)
  --connect-concurrency N   subscribers connecting at once during ramps (default 500)
  --sources A-B             subscriber source addresses 127.0.0.A..127.0.0.B (default 2-50)
  --no-reconnect            do not resume dropped streams
  --lazy-ack                subscribers delay their ACKs (TCP_QUICKACK 0 after each read)
  --verbose
)";

void raise_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::size_t to_size(const std::string& s) { return static_cast<std::size_t>(std::stoull(s)); }

}  // namespace

int main(int argc, char** argv) {
  using namespace bench;
  std::signal(SIGPIPE, SIG_IGN);
  raise_file_limit();

  RunConfig config;
  std::string scenario, url = "http://127.0.0.1:8080", json_out;
  TargetKind kind = TargetKind::herald;
  bool smoke = false;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string_view arg = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(std::string(arg) + " needs a value");
        return argv[++i];
      };
      if (arg == "--help" || arg == "-h") {
        std::fputs(usage, stdout);
        return 0;
      } else if (arg == "--list") {
        for (const auto& s : scenarios()) std::printf("%-12s %s\n", s.name, s.summary);
        return 0;
      } else if (arg == "--scenario") scenario = value();
      else if (arg == "--smoke") smoke = true;
      else if (arg == "--target") kind = parse_target_kind(value());
      else if (arg == "--url") url = value();
      else if (arg == "--server-pid") config.server_pid = static_cast<pid_t>(std::stol(value()));
      else if (arg == "--quick") config.quick = true;
      else if (arg == "--json-out") json_out = value();
      else if (arg == "--subscribers") config.subscribers = to_size(value());
      else if (arg == "--topics") config.topics = to_size(value());
      else if (arg == "--publishers") config.publishers = to_size(value());
      else if (arg == "--pipeline") config.pipeline = to_size(value());
      else if (arg == "--events") config.events = to_size(value());
      else if (arg == "--max-outstanding") config.max_outstanding = to_size(value());
      else if (arg == "--duration") config.duration_s = std::stod(value());
      else if (arg == "--rate") config.rate = std::stod(value());
      else if (arg == "--hold") config.hold_s = std::stod(value());
      else if (arg == "--payload") config.loader.payload = to_size(value());
      else if (arg == "--connect-concurrency") config.connect_concurrency = std::max<std::size_t>(1, to_size(value()));
      else if (arg == "--sources") {
        std::string v = value();
        auto dash = v.find('-');
        if (dash == std::string::npos) throw std::invalid_argument("--sources wants A-B");
        config.loader.source_first = std::stoi(v.substr(0, dash));
        config.loader.source_last = std::stoi(v.substr(dash + 1));
        if (config.loader.source_first < 1 || config.loader.source_last > 254 ||
            config.loader.source_first > config.loader.source_last)
          throw std::invalid_argument("--sources: 1 <= A <= B <= 254");
      } else if (arg == "--no-reconnect") config.loader.reconnect = false;
      else if (arg == "--lazy-ack") config.loader.lazy_ack = true;
      else if (arg == "--verbose") config.loader.verbose = true;
      else throw std::invalid_argument("unknown option " + std::string(arg));
    }
    config.loader.target = Target::parse(kind, url);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "herald_bench: %s\n%s", e.what(), usage);
    return 2;
  }

  ScenarioResult result;
  try {
    if (smoke) {
      result = run_smoke(config);
    } else {
      const ScenarioInfo* info = nullptr;
      for (const auto& s : scenarios())
        if (scenario == s.name) info = &s;
      if (!info) {
        std::fprintf(stderr, "herald_bench: unknown or missing --scenario '%s' (try --list)\n", scenario.c_str());
        return 2;
      }
      result = info->run(config);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "herald_bench: %s\n", e.what());
    return 1;
  }
  result.target = std::string(config.loader.target.name());
  std::string line = result.to_json().dump();
  std::printf("%s\n", line.c_str());
  if (!json_out.empty()) {
    std::ofstream out(json_out, std::ios::app);
    out << line << '\n';
  }
  for (const auto& row : result.table)
    std::fprintf(stderr, "  %-40s %s\n", row.metric.c_str(), row.display.c_str());
  for (const auto& p : result.problems) std::fprintf(stderr, "  problem: %s\n", p.c_str());
  std::fprintf(stderr, "%s %s: %s\n", result.scenario.c_str(), result.target.c_str(), result.ok ? "OK" : "FAILED");
  return result.ok ? 0 : 1;
}
