#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "config/settings_loader.hpp"

using namespace herald;

namespace {
std::string temp_file(const std::string& content) {
  std::string path = "/tmp/herald_settings_test_" + std::to_string(::getpid()) + ".json";
  std::ofstream(path) << content;
  return path;
}
}  // namespace

TEST_CASE("durations and sizes parse with units") {
  CHECK(parse_duration("250ms") == Millis(250));
  CHECK(parse_duration("15s") == Millis(15000));
  CHECK(parse_duration("15") == Millis(15000));
  CHECK(parse_duration("2m") == Millis(120000));
  CHECK(parse_duration("1h") == Millis(3600000));
  CHECK_THROWS(parse_duration("abc"));
  CHECK_THROWS(parse_duration("5x"));
  CHECK(parse_size("64k") == 65536);
  CHECK(parse_size("1m") == 1048576);
  CHECK(parse_size("100") == 100);
  CHECK_THROWS(parse_size("1q"));
  CHECK_THROWS(parse_size("99999999999999999999"));
}

TEST_CASE("defaults apply with no input") {
  auto s = load_settings({}, {}).settings;
  CHECK(s.port == 8080);
  CHECK(s.history_size == 1000);
  CHECK(s.heartbeat_interval == Millis(15000));
  CHECK(s.cors_origins == std::vector<std::string>{"*"});
  CHECK(s.max_topics == 100'000);
  CHECK(s.max_topics_per_event == 64);
}

TEST_CASE("topic limits come from flags, environment and file; 0 lifts max-topics only") {
  CHECK(load_settings({"--max-topics", "500"}, {}).settings.max_topics == 500);
  CHECK(load_settings({"--max-topics", "0"}, {}).settings.max_topics == 0);
  CHECK(load_settings({}, {{"HERALD_MAX_TOPICS_PER_EVENT", "8"}}).settings.max_topics_per_event == 8);
  std::string path = temp_file(R"({"max_topics": 7, "max_topics_per_event": 3})");
  auto s = load_settings({"--config", path}, {}).settings;
  CHECK(s.max_topics == 7);
  CHECK(s.max_topics_per_event == 3);
  std::remove(path.c_str());
  CHECK_THROWS_WITH_AS(load_settings({"--max-topics-per-event", "0"}, {}), doctest::Contains("max-topics-per-event"),
                       SettingsError);
  CHECK_THROWS_WITH_AS(load_settings({"--max-topics", "many"}, {}), doctest::Contains("max-topics"), SettingsError);
}

TEST_CASE("file < environment < flags") {
  std::string path = temp_file(R"({"history_size": 10, "port": 9000, "cors_origins": ["https://a", "https://b"]})");
  auto s = load_settings({"--config", path}, {}).settings;
  CHECK(s.history_size == 10);
  CHECK(s.port == 9000);
  CHECK(s.cors_origins == std::vector<std::string>{"https://a", "https://b"});

  s = load_settings({"--config", path}, {{"HERALD_HISTORY_SIZE", "20"}}).settings;
  CHECK(s.history_size == 20);
  CHECK(s.port == 9000);

  s = load_settings({"--config", path, "--history-size=30"}, {{"HERALD_HISTORY_SIZE", "20"}}).settings;
  CHECK(s.history_size == 30);

  s = load_settings({}, {{"HERALD_CONFIG", path}}).settings;
  CHECK(s.history_size == 10);
  std::remove(path.c_str());
}

TEST_CASE("switches stand alone or take true and false") {
  CHECK(load_settings({"--demo"}, {}).settings.demo);
  CHECK(load_settings({"--demo", "--port", "1"}, {}).settings.demo);
  CHECK_FALSE(load_settings({"--demo=false"}, {}).settings.demo);
  CHECK(load_settings({}, {{"HERALD_DEMO", "true"}}).settings.demo);
  std::string path = temp_file(R"({"demo": true})");
  CHECK(load_settings({"--config", path}, {}).settings.demo);
  std::remove(path.c_str());
  CHECK_THROWS_AS(load_settings({"--demo=maybe"}, {}), SettingsError);
}

TEST_CASE("invalid values name the setting") {
  auto message = [](std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    try {
      load_settings(args, env);
    } catch (const SettingsError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message({"--port", "abc"}).find("port") != std::string::npos);
  CHECK(message({"--port", "70000"}).find("port") != std::string::npos);
  CHECK(message({"--history-size", "0"}).find("history-size") != std::string::npos);
  CHECK(message({"--heartbeat-interval", "soon"}).find("heartbeat-interval") != std::string::npos);
  CHECK(message({"--log-level", "loud"}).find("log-level") != std::string::npos);
  CHECK(message({"--nope", "1"}).find("--nope") != std::string::npos);
  CHECK(message({"--port"}).find("--port") != std::string::npos);
  CHECK(message({}, {{"HERALD_RETRY", "x"}}).find("HERALD_RETRY") != std::string::npos);
  std::string path = temp_file(R"({"histroy_size": 5})");
  CHECK(message({"--config", path}).find("histroy_size") != std::string::npos);
  std::remove(path.c_str());
  CHECK(message({"--config", "/nonexistent/herald.json"}).find("cannot read") != std::string::npos);
}

TEST_CASE("help lists every setting with its environment variable") {
  CHECK(load_settings({"--help"}, {}).help);
  std::string help = settings_help();
  for (const char* name : {"--host", "--port", "--threads", "--history-size", "--history-max-age",
                           "--heartbeat-interval", "--retry", "--max-connections", "--max-header-bytes",
                           "--max-body-bytes", "--max-pending-bytes", "--header-timeout", "--idle-timeout",
                           "--cors-origins", "--log-level", "HERALD_MAX_PENDING_BYTES", "--max-topics",
                           "--max-topics-per-event", "HERALD_MAX_TOPICS"})
    CHECK_MESSAGE(help.find(name) != std::string::npos, name);
}

TEST_CASE("who may publish: a key, trusted networks and the open switch") {
  auto s = load_settings({}, {}).settings;
  CHECK(s.publish_key.empty());
  CHECK(s.publish_from.empty());
  CHECK_FALSE(s.allow_anonymous_publish);

  s = load_settings({"--publish-from", "10.0.0.0/8, fd00::/8", "--allow-anonymous-publish"},
                    {{"HERALD_PUBLISH_KEY", "0123456789abcdef"}})
          .settings;
  CHECK(s.publish_from == std::vector<std::string>{"10.0.0.0/8", "fd00::/8"});
  CHECK(s.allow_anonymous_publish);
  CHECK(s.publish_key == "0123456789abcdef");
  // The key is a secret: the startup log shows that one is set, not what it is.
  CHECK(settings_to_json(s)["publish_key"] == "(hidden)");

  auto message = [](std::vector<std::string> args) {
    try {
      load_settings(args, {});
    } catch (const SettingsError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(message({"--publish-key", "short"}).find("publish-key") != std::string::npos);
  // Empty means no key, as settings_to_json shows an unset one (a config file written from it loads).
  CHECK(load_settings({"--publish-key", ""}, {}).settings.publish_key.empty());
  CHECK(message({"--publish-key", "0123456789abcdef with space"}).find("publish-key") != std::string::npos);
  std::string bad = message({"--publish-from", "10.0.0.0/8,10.0.0.0/40"});
  CHECK(bad.find("publish-from") != std::string::npos);
  CHECK(bad.find("10.0.0.0/40") != std::string::npos);
}

TEST_CASE("write timeout: default, every source, and a floor") {
  CHECK(load_settings({}, {}).settings.write_timeout == Millis(30000));
  CHECK(load_settings({"--write-timeout", "5s"}, {}).settings.write_timeout == Millis(5000));
  CHECK(load_settings({}, {{"HERALD_WRITE_TIMEOUT", "2m"}}).settings.write_timeout == Millis(120000));
  std::string path = temp_file(R"({"write_timeout": "750ms"})");
  CHECK(load_settings({"--config", path}, {}).settings.write_timeout == Millis(750));
  std::remove(path.c_str());
  try {
    load_settings({"--write-timeout", "0"}, {});
    FAIL("a zero write timeout was accepted");
  } catch (const SettingsError& e) {
    CHECK(std::string(e.what()).find("write-timeout") != std::string::npos);
  }
  CHECK(settings_help().find("HERALD_WRITE_TIMEOUT") != std::string::npos);
}
