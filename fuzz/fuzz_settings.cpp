// Fuzzes load_settings (config/settings_loader.cpp).
//
// The input is used three ways:
//   1. as the JSON settings file (written to a temp file, loaded with --config FILE)
//   2. split on '\n' into command-line arguments
//   3. its "NAME=VALUE" lines as the environment
// (--config/HERALD_CONFIG from the input are dropped: they would read arbitrary files.)
//
// Invariants:
//   - each load either returns or throws SettingsError, never anything else
//   - loaded settings respect every documented bound (port, history size >= 1, durations,
//     sizes, non-empty host and CORS list, known log level and format)
//   - settings_to_json() works, its dump (the startup log line) never throws, and loading it
//     back as a settings file gives the same settings
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/settings_loader.hpp"
#include "fuzz_common.hpp"

using herald::fuzz::escaped;

namespace {

const std::string& temp_path() {
  static const std::string path = [] {
    // One file per process, rewritten for every input; in memory when /dev/shm is there.
    const char* dir = std::getenv("TMPDIR");
    std::string base = dir && *dir ? dir : access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string p = base + "/herald-fuzz-settings-XXXXXX";
    int fd = mkstemp(p.data());
    if (fd < 0) {
      std::perror("mkstemp");
      std::abort();
    }
    close(fd);
    std::atexit([] { std::remove(temp_path().c_str()); });
    return p;
  }();
  return path;
}

void write_file(const std::string& path, std::string_view bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
  std::fclose(f);
}

// Loads or throws SettingsError; anything else is a finding.
std::optional<herald::LoadedSettings> load(const std::vector<std::string>& args,
                                           const std::map<std::string, std::string>& env, const std::string& what) {
  try {
    return herald::load_settings(args, env);
  } catch (const herald::SettingsError& e) {
    FUZZ_CHECK(std::string_view(e.what()).size() > 0);
    return std::nullopt;
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string("load_settings threw a non-SettingsError: ") + e.what() + " for " + what);
  } catch (...) {
    FUZZ_CHECK(false, "load_settings threw a non-exception for " + what);
  }
  return std::nullopt;
}

void check_settings(const herald::LoadedSettings& loaded, const std::string& what) {
  if (loaded.help || loaded.version) return;
  const herald::Settings& s = loaded.settings;
  using herald::Millis;
  FUZZ_CHECK(!s.host.empty(), what);
  FUZZ_CHECK(s.threads <= 1024, what);
  FUZZ_CHECK(s.history_size >= 1 && s.history_size <= 10'000'000, what);
  FUZZ_CHECK(s.history_max_age >= Millis(0), what);
  FUZZ_CHECK(s.heartbeat_interval >= Millis(10), what);
  FUZZ_CHECK(s.retry >= Millis(0), what);
  FUZZ_CHECK(s.max_connections >= 1 && s.max_connections <= 10'000'000, what);
  FUZZ_CHECK(s.max_connections_per_client <= 10'000'000, what);
  FUZZ_CHECK(s.max_events_per_publish >= 1 && s.max_events_per_publish <= 1'000'000, what);
  FUZZ_CHECK(s.max_data_bytes >= 1, what);
  FUZZ_CHECK(s.max_header_bytes >= 256, what);
  FUZZ_CHECK(s.max_body_bytes >= 1, what);
  FUZZ_CHECK(s.max_pending_bytes >= 1024, what);
  FUZZ_CHECK(s.max_topics_per_subscription >= 1 && s.max_topics_per_subscription <= 100'000, what);
  FUZZ_CHECK(s.header_timeout >= Millis(10) && s.body_timeout >= Millis(10) && s.idle_timeout >= Millis(10), what);
  FUZZ_CHECK(s.drain_delay >= Millis(0), what);
  FUZZ_CHECK(!s.cors_origins.empty(), what);
  for (const auto& o : s.cors_origins) FUZZ_CHECK(!o.empty(), what);
  for (const auto& t : s.metrics_topics) FUZZ_CHECK(!t.empty(), what);
  FUZZ_CHECK(s.log_level == "trace" || s.log_level == "debug" || s.log_level == "info" || s.log_level == "warn" ||
                 s.log_level == "error" || s.log_level == "off",
             what);
  FUZZ_CHECK(s.log_format == "plain" || s.log_format == "json", what);

  // The startup log line and a round trip through a settings file.
  nlohmann::json shown;
  std::string text;
  try {
    shown = herald::settings_to_json(s);
    text = shown.dump();
  } catch (const std::exception& e) {
    // Known finding: a setting with invalid UTF-8 (from a flag or the environment) makes
    // the startup log line throw.
    if (herald::fuzz::known("utf8-dump")) return;
    FUZZ_CHECK(false, std::string("settings_to_json(...).dump() threw ") + e.what() + " for " + what);
  }
  // Secrets show as "(hidden)": the round trip covers everything else.
  auto without_secrets = [](nlohmann::json j) {
    for (auto it = j.begin(); it != j.end();) it = *it == "(hidden)" ? j.erase(it) : std::next(it);
    return j;
  };
  shown = without_secrets(shown);
  text = shown.dump();
  write_file(temp_path(), text);
  auto again = load({"--config", temp_path()}, {}, "the settings_to_json of " + what);
  FUZZ_CHECK(again.has_value(), "settings_to_json output " + escaped(text) + " does not load back, for " + what);
  auto back = without_secrets(herald::settings_to_json(again->settings));
  FUZZ_CHECK(back == shown, "round trip changed " + escaped(text) + " into " + escaped(back.dump()));
}

bool mentions_config(std::string_view s) {
  std::string lower(s);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return lower.find("config") != std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  // 1. The settings file.
  write_file(temp_path(), input);
  if (auto loaded = load({"--config", temp_path()}, {}, "file '" + escaped(input) + "'"))
    check_settings(*loaded, "file '" + escaped(input) + "'");

  // 2. and 3. Lines as arguments, NAME=VALUE lines as the environment.
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  for (std::size_t start = 0; start < input.size();) {
    std::size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    std::string line(input.substr(start, end - start));
    start = end + 1;
    if (mentions_config(line)) continue;
    args.push_back(line);
    if (std::size_t eq = line.find('='); eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  if (auto loaded = load(args, {}, "args from '" + escaped(input) + "'"))
    check_settings(*loaded, "args from '" + escaped(input) + "'");
  if (auto loaded = load({}, env, "environment from '" + escaped(input) + "'"))
    check_settings(*loaded, "environment from '" + escaped(input) + "'");
  return 0;
}
