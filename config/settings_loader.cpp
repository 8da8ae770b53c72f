#include "config/settings_loader.hpp"

#include "auth/network_list.hpp"
#include "broker/utf8.hpp"

#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>

namespace herald {
namespace {

/// One setting: its name (the flag without dashes; the JSON key and HERALD_ variable are
/// derived from it), what it means, and how to read and show it.
struct Option {
  std::string name;
  std::string help;
  std::function<void(Settings&, std::string_view)> parse;  // throws std::exception on bad input
  std::function<std::string(const Settings&)> show;
  bool is_switch = false;  // a flag that may stand alone: --demo means --demo=true
};

std::uint64_t parse_uint(std::string_view text, std::uint64_t min, std::uint64_t max) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) throw std::invalid_argument("not a whole number");
  if (n < min || n > max)
    throw std::invalid_argument("must be between " + std::to_string(min) + " and " + std::to_string(max));
  return n;
}

template <typename T>
Option number(std::string name, std::string help, T Settings::*field, std::uint64_t min, std::uint64_t max) {
  return {std::move(name), std::move(help),
          [=](Settings& s, std::string_view v) { s.*field = static_cast<T>(parse_uint(v, min, max)); },
          [=](const Settings& s) { return std::to_string(s.*field); }};
}

Option size(std::string name, std::string help, std::size_t Settings::*field, std::size_t min) {
  return {std::move(name), std::move(help),
          [=](Settings& s, std::string_view v) {
            std::size_t n = parse_size(v);
            if (n < min) throw std::invalid_argument("must be at least " + std::to_string(min) + " bytes");
            s.*field = n;
          },
          [=](const Settings& s) { return std::to_string(s.*field); }};
}

Option duration(std::string name, std::string help, Millis Settings::*field, Millis min) {
  return {std::move(name), std::move(help),
          [=](Settings& s, std::string_view v) {
            Millis d = parse_duration(v);
            if (d < min) throw std::invalid_argument("must be at least " + format_duration(min));
            s.*field = d;
          },
          [=](const Settings& s) { return format_duration(s.*field); }};
}

Option boolean(std::string name, std::string help, bool Settings::*field, bool is_switch) {
  return {std::move(name), std::move(help),
          [=](Settings& s, std::string_view v) {
            if (v == "true" || v == "1" || v == "yes") s.*field = true;
            else if (v == "false" || v == "0" || v == "no") s.*field = false;
            else throw std::invalid_argument("must be true or false");
          },
          [=](const Settings& s) { return std::string(s.*field ? "true" : "false"); }, is_switch};
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = end + 1;
  }
  return out;
}

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

const std::vector<Option>& options() {
  static const std::vector<Option> all = {
      {"host", "address to listen on (0.0.0.0, ::, 127.0.0.1, ...)",
       [](Settings& s, std::string_view v) {
         if (v.empty()) throw std::invalid_argument("must not be empty");
         s.host = v;
       },
       [](const Settings& s) { return s.host; }},
      number("port", "TCP port to listen on (0 picks a free one)", &Settings::port, 0, 65535),
      number("threads", "I/O threads (0: one per core)", &Settings::threads, 0, 1024),
      number("history-size", "events kept per topic for replay", &Settings::history_size, 1, 10'000'000),
      duration("history-max-age", "drop events older than this from history (0: keep until displaced)",
               &Settings::history_max_age, Millis(0)),
      duration("heartbeat-interval", "send a comment on streams idle this long", &Settings::heartbeat_interval,
               Millis(10)),
      duration("retry", "reconnect delay announced to clients (the SSE retry field)", &Settings::retry, Millis(0)),
      number("max-connections", "open connections at most; extra ones get 503", &Settings::max_connections, 1,
             10'000'000),
      number("max-connections-per-client",
             "open connections from one address at most, extra ones get 429 (0: no limit; behind a proxy every "
             "client has the proxy's address)",
             &Settings::max_connections_per_client, 0, 10'000'000),
      number("max-events-per-publish", "events one publish request may carry (413 beyond)",
             &Settings::max_events_per_publish, 1, 1'000'000),
      size("max-data-bytes", "data of one event at most (413 beyond)", &Settings::max_data_bytes, 1),
      size("max-header-bytes", "request line and headers at most (431 beyond)", &Settings::max_header_bytes, 256),
      size("max-body-bytes", "request body at most (413 beyond)", &Settings::max_body_bytes, 1),
      size("max-pending-bytes", "bytes queued for a stream behind its write in progress before the slow client is "
           "disconnected",
           &Settings::max_pending_bytes, 1024),
      duration("write-timeout",
               "close a stream whose write has made no progress (the client took no bytes) for this long",
               &Settings::write_timeout, Millis(10)),
      duration("write-batch-window",
               "while events keep arriving, write to streams at most once per this window, many events per "
               "write (0: write at once; a lone event is always written at once)",
               &Settings::write_batch_window, Millis(0)),
      number("max-topics-per-subscription", "topics one /events request may list", &Settings::max_topics_per_subscription,
             1, 100'000),
      number("max-topics",
             "topics held at once (with subscribers or retained events); a publish or subscription that would "
             "create more gets 503 (0: no limit)",
             &Settings::max_topics, 0, 100'000'000),
      number("max-topics-per-event", "topics one published event may name (413 beyond)",
             &Settings::max_topics_per_event, 1, 100'000),
      duration("header-timeout", "time allowed to send a request's headers (408 beyond)", &Settings::header_timeout,
               Millis(10)),
      duration("body-timeout", "time allowed to send a request's body after its headers", &Settings::body_timeout,
               Millis(10)),
      duration("idle-timeout", "keep-alive connections idle this long between requests are closed",
               &Settings::idle_timeout, Millis(10)),
      {"cors-origins", "origins allowed by CORS, comma separated, or *",
       [](Settings& s, std::string_view v) {
         auto list = split_list(v);
         if (list.empty()) throw std::invalid_argument("must list at least one origin, or *");
         s.cors_origins = std::move(list);
       },
       [](const Settings& s) { return join_list(s.cors_origins); }},
      duration("drain-delay",
               "after SIGTERM, answer /readyz with 503 for this long while still serving, then stop",
               &Settings::drain_delay, Millis(0)),
      {"log-level", "trace, debug, info, warn, error or off",
       [](Settings& s, std::string_view v) {
         static const char* levels[] = {"trace", "debug", "info", "warn", "error", "off"};
         for (const char* l : levels)
           if (v == l) {
             s.log_level = v;
             return;
           }
         throw std::invalid_argument("must be one of trace, debug, info, warn, error, off");
       },
       [](const Settings& s) { return s.log_level; }},
      {"log-format", "plain, or json for one JSON object per line",
       [](Settings& s, std::string_view v) {
         if (v != "plain" && v != "json") throw std::invalid_argument("must be plain or json");
         s.log_format = v;
       },
       [](const Settings& s) { return s.log_format; }},
      {"metrics-topics", "comma-separated topics that get per-topic series in /metrics (keep it short)",
       [](Settings& s, std::string_view v) { s.metrics_topics = split_list(v); },
       [](const Settings& s) { return join_list(s.metrics_topics); }},
      {"jwt-secret", "HS256 secret that turns on authorization (prefer the environment variable: flags show in ps)",
       [](Settings& s, std::string_view v) { s.jwt_secret = v; },
       [](const Settings& s) { return std::string(s.jwt_secret.empty() ? "" : "(hidden)"); }},
      {"jwt-public-key", "PEM public key file (RSA for RS256, EC P-256 for ES256) that turns on authorization",
       [](Settings& s, std::string_view v) { s.jwt_public_key = v; },
       [](const Settings& s) { return s.jwt_public_key; }},
      duration("jwt-leeway", "clock skew allowed when checking a token's exp and nbf", &Settings::jwt_leeway, Millis(0)),
      {"private-topics", "topic patterns that need a token to subscribe, comma separated (name, prefix*, or *)",
       [](Settings& s, std::string_view v) { s.private_topics = split_list(v); },
       [](const Settings& s) { return join_list(s.private_topics); }},
      {"auth-cookie", "name of the cookie that may carry the token",
       [](Settings& s, std::string_view v) {
         if (v.empty()) throw std::invalid_argument("must not be empty");
         s.auth_cookie = v;
       },
       [](const Settings& s) { return s.auth_cookie; }},
      {"publish-key",
       "static key that may publish to every topic, sent as Authorization: Bearer KEY (16 or more characters; "
       "prefer the environment variable: flags show in ps)",
       [](Settings& s, std::string_view v) {
         if (v.size() < 16 && !v.empty()) throw std::invalid_argument("use at least 16 characters (empty: no key)");
         for (char c : v)
           if (c <= ' ' || c > '~') throw std::invalid_argument("printable ASCII without spaces only");
         s.publish_key = v;
       },
       [](const Settings& s) { return std::string(s.publish_key.empty() ? "" : "(hidden)"); }},
      {"publish-from",
       "networks that may publish without a key, comma separated (10.0.0.0/8, fd00::/8, 192.0.2.7); with no key "
       "configured, loopback may publish too",
       [](Settings& s, std::string_view v) {
         auto list = split_list(v);
         NetworkList check(list);  // throws, naming the bad entry
         s.publish_from = std::move(list);
       },
       [](const Settings& s) { return join_list(s.publish_from); }},
      boolean("allow-anonymous-publish",
              "anyone who can reach Herald may publish, from any address, without a key (true or false; "
              "--allow-anonymous-publish alone: true)",
              &Settings::allow_anonymous_publish, true),
      {"tls-cert", "PEM certificate chain file; with tls-key, turns on HTTPS on tls-port",
       [](Settings& s, std::string_view v) { s.tls_cert = v; },
       [](const Settings& s) { return s.tls_cert; }},
      {"tls-key", "PEM private key file for tls-cert",
       [](Settings& s, std::string_view v) { s.tls_key = v; },
       [](const Settings& s) { return s.tls_key; }},
      number("tls-port", "TCP port for HTTPS when TLS is on (0 picks a free one)", &Settings::tls_port, 0, 65535),
      boolean("plain-http", "with TLS on, also serve plain HTTP on port (false: HTTPS only)", &Settings::plain_http,
              false),
      boolean("demo", "publish the server time to topic \"time\" every 2 seconds (true or false; --demo alone: true)",
              &Settings::demo, true),
  };
  return all;
}

std::string env_name(const std::string& name) {
  std::string out = "HERALD_";
  for (char c : name) out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string json_key(const std::string& name) {
  std::string out = name;
  for (char& c : out)
    if (c == '-') c = '_';
  return out;
}

void apply(Settings& s, const Option& o, std::string_view value, const std::string& source) {
  if (!valid_utf8(value)) throw SettingsError("invalid " + o.name + " from " + source + ": not UTF-8");
  try {
    o.parse(s, value);
  } catch (const std::exception& e) {
    throw SettingsError("invalid " + o.name + " '" + std::string(value) + "' from " + source + ": " + e.what());
  }
}

void apply_file(Settings& s, const std::string& path) {
  std::ifstream in(path);
  if (!in) throw SettingsError("config: cannot read '" + path + "'");
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw SettingsError("config: '" + path + "' is not valid JSON: " + e.what());
  }
  if (!doc.is_object()) throw SettingsError("config: '" + path + "' must hold a JSON object");
  for (auto& [key, value] : doc.items()) {
    const Option* found = nullptr;
    for (const Option& o : options())
      if (json_key(o.name) == key || o.name == key) found = &o;
    if (!found) throw SettingsError("config: unknown setting '" + key + "' in " + path);
    std::string text;
    if (value.is_string()) text = value.get<std::string>();
    else if (value.is_number_unsigned()) text = std::to_string(value.get<std::uint64_t>());
    else if (value.is_boolean()) text = value.get<bool>() ? "true" : "false";
    else if (value.is_array()) {
      for (const auto& item : value) {
        if (!item.is_string()) throw SettingsError("invalid " + found->name + " in " + path + ": list items must be strings");
        text += (text.empty() ? "" : ",") + item.get<std::string>();
      }
    } else
      throw SettingsError("invalid " + found->name + " in " + path + ": expected a string or a non-negative number");
    apply(s, *found, text, path);
  }
}

}  // namespace

LoadedSettings load_settings(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  LoadedSettings out;

  // Flags are read first (so --help and --config are known) but applied last.
  std::vector<std::pair<const Option*, std::string>> flags;
  std::string config_path;
  if (auto it = env.find("HERALD_CONFIG"); it != env.end()) config_path = it->second;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out.help = true;
      return out;
    }
    if (arg == "--version") {
      out.version = true;
      return out;
    }
    if (arg.rfind("--", 0) != 0) throw SettingsError("unexpected argument '" + arg + "' (see --help)");
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    const Option* found = nullptr;
    for (const Option& o : options())
      if (o.name == name) found = &o;
    if (!has_value) {
      if (found && found->is_switch) value = "true";
      else if (i + 1 >= args.size()) throw SettingsError("--" + name + " needs a value");
      else value = args[++i];
    }
    if (name == "config") {
      config_path = value;
      continue;
    }
    if (!found) throw SettingsError("unknown option '--" + name + "' (see --help)");
    flags.emplace_back(found, value);
  }

  if (!config_path.empty()) apply_file(out.settings, config_path);
  for (const Option& o : options())
    if (auto it = env.find(env_name(o.name)); it != env.end()) apply(out.settings, o, it->second, env_name(o.name));
  for (auto& [o, value] : flags) apply(out.settings, *o, value, "--" + o->name);
  if (!out.settings.jwt_secret.empty() && !out.settings.jwt_public_key.empty())
    throw SettingsError("invalid jwt-secret and jwt-public-key: set one of them, not both");
  if (!out.settings.private_topics.empty() && out.settings.jwt_secret.empty() && out.settings.jwt_public_key.empty())
    throw SettingsError("invalid private-topics: needs jwt-secret or jwt-public-key to verify tokens");
  const Settings& s = out.settings;
  if (s.tls_cert.empty() != s.tls_key.empty())
    throw SettingsError(s.tls_cert.empty() ? "invalid tls-key: needs tls-cert too" : "invalid tls-cert: needs tls-key too");
  if (!s.tls() && !s.plain_http) throw SettingsError("invalid plain-http: false needs tls-cert and tls-key");
  if (s.tls() && s.plain_http && s.port == s.tls_port && s.port != 0)
    throw SettingsError("invalid tls-port: " + std::to_string(s.port) + " is already port (plain HTTP)");
  return out;
}

std::string settings_help() {
  std::ostringstream out;
  out << "Usage: herald [--config FILE] [--SETTING VALUE ...]\n\n"
         "Herald broadcasts published events to browsers over Server-Sent Events.\n"
         "Settings come from defaults < JSON file (--config, HERALD_CONFIG) < environment < flags.\n"
         "Durations: 250ms, 15s, 2m, 1h (a bare number is seconds). Sizes: bytes, or 64k, 1m.\n\n";
  Settings defaults;
  for (const Option& o : options()) {
    out << "  --" << o.name << " (" << env_name(o.name) << ", \"" << json_key(o.name) << "\")\n"
        << "      " << o.help << " [default: " << o.show(defaults) << "]\n";
  }
  out << "  --config FILE (HERALD_CONFIG)\n      JSON object of settings, keys as above\n"
         "  --version\n      print the version and build information\n"
         "  --help\n      this text\n";
  return out.str();
}

nlohmann::json settings_to_json(const Settings& settings) {
  nlohmann::json out = nlohmann::json::object();
  for (const Option& o : options()) out[json_key(o.name)] = o.show(settings);
  return out;
}

}  // namespace herald
