#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/settings.hpp"

namespace herald {

/// The outcome of reading the command line: settings to run with, or a request for help.
struct LoadedSettings {
  Settings settings;
  bool help = false;
  bool version = false;
};

/// Builds the settings from defaults < JSON file (--config or HERALD_CONFIG) < environment
/// (HERALD_*) < command-line flags. Throws SettingsError naming the offending setting.
LoadedSettings load_settings(const std::vector<std::string>& args, const std::map<std::string, std::string>& env);

/// The --help text: every setting with its flag, environment variable and default.
std::string settings_help();

/// The settings in effect, for the startup log line.
nlohmann::json settings_to_json(const Settings& settings);

}  // namespace herald
