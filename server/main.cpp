// Wires settings, logging and the server together, turns SIGINT/SIGTERM into a graceful
// stop and SIGHUP into a reload of the TLS certificate.
#include <csignal>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <sys/resource.h>

#include <spdlog/spdlog.h>

#include <asio/version.hpp>
#include <llhttp.h>

#include "config/settings_loader.hpp"
#include "server/logging.hpp"
#include "server/server.hpp"

extern char** environ;

namespace {

std::map<std::string, std::string> environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string entry = *e;
    if (entry.rfind("HERALD_", 0) != 0) continue;
    auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return env;
}

// Whether JSON logs were asked for, read from the raw input when the settings as a whole
// could not be loaded: a log collector expecting JSON should get the error as JSON too.
bool wants_json_logs(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  bool json = false;
  if (auto it = env.find("HERALD_LOG_FORMAT"); it != env.end()) json = it->second == "json";
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--log-format=json") json = true;
    else if (args[i].rfind("--log-format=", 0) == 0) json = false;
    else if (args[i] == "--log-format" && i + 1 < args.size()) json = args[++i] == "json";
  }
  return json;
}

void raise_file_limit() {
  // Every connection is a file descriptor; take all the kernel allows us.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  herald::LoadedSettings loaded;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto env = environment();
  try {
    loaded = herald::load_settings(args, env);
  } catch (const herald::SettingsError& e) {
    if (wants_json_logs(args, env)) {
      herald::setup_logging("info", "json");
      spdlog::critical("{}", e.what());
    } else {
      std::fprintf(stderr, "herald: %s\n", e.what());
    }
    return 2;
  }
  if (loaded.help) {
    std::fputs(herald::settings_help().c_str(), stdout);
    return 0;
  }
  if (loaded.version) {
    std::printf("herald %s (commit %s, %s build, %s, Asio %d.%d.%d, llhttp %d.%d.%d)\n", HERALD_VERSION, HERALD_GIT_SHA,
                HERALD_BUILD_TYPE, "g++ " __VERSION__, ASIO_VERSION / 100000, ASIO_VERSION / 100 % 1000,
                ASIO_VERSION % 100, LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
    return 0;
  }
  const herald::Settings& settings = loaded.settings;

  herald::setup_logging(settings.log_level, settings.log_format);

  // Block the signals Herald handles in every thread; main waits for them with sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigset_t signals = stop_signals;
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  raise_file_limit();

  std::unique_ptr<herald::Server> owned;
  try {
    owned = std::make_unique<herald::Server>(settings);
  } catch (const herald::SettingsError& e) {
    spdlog::critical("{}", e.what());
    return 2;
  }
  herald::Server& server = *owned;
  try {
    server.start();
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());  // names the listener that failed
    return 1;
  }

  int signal = 0;
  for (;;) {
    sigwait(&signals, &signal);
    if (signal != SIGHUP) break;
    // Renewed certificates without a restart, which would cost every stream its history.
    if (!server.tls()) {
      spdlog::info("SIGHUP received: TLS is off, nothing to reload");
      continue;
    }
    try {
      server.reload_tls();
      spdlog::info("SIGHUP received: reloaded {} and {} for new TLS connections", settings.tls_cert, settings.tls_key);
    } catch (const herald::SettingsError& e) {
      spdlog::error("SIGHUP received: kept the current certificate: {}", e.what());
    }
  }
  server.drain();
  if (settings.drain_delay.count() > 0) {
    // Readiness goes first so load balancers move new clients elsewhere; a second signal
    // cuts the delay short.
    spdlog::info("{} received: draining for {} before stopping", signal == SIGINT ? "SIGINT" : "SIGTERM",
                 herald::format_duration(settings.drain_delay));
    timespec delay{static_cast<time_t>(settings.drain_delay.count() / 1000),
                   static_cast<long>(settings.drain_delay.count() % 1000) * 1'000'000};
    sigtimedwait(&stop_signals, nullptr, &delay);
  }
  spdlog::info("{} received: stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
  server.stop();
  server.wait();
  spdlog::info("stopped");
  return 0;
}
