#include "proc_stats.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace bench {

namespace {

struct StatLine {
  pid_t ppid = 0;
  double cpu_s = 0;
  double user_s = 0;
  bool ok = false;
};

StatLine read_stat(pid_t pid) {
  StatLine s;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return s;
  // The command name is in parentheses and may hold spaces: fields resume after the last ')'.
  auto close = text.rfind(')');
  if (close == std::string::npos) return s;
  std::istringstream fields(text.substr(close + 2));
  std::string state;
  long ppid = 0;
  fields >> state >> ppid;
  std::string skip;
  for (int i = 0; i < 9; ++i) fields >> skip;  // pgrp .. cmajflt (fields 5..13)
  unsigned long long utime = 0, stime = 0;
  fields >> utime >> stime;                   // fields 14, 15
  if (!fields) return s;
  s.ppid = static_cast<pid_t>(ppid);
  s.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  s.user_s = static_cast<double>(utime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  s.ok = true;
  return s;
}

long read_rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return 0;
}

}  // namespace

ProcSample ProcStats::sample() const {
  ProcSample total;
  if (pid_ <= 0) return total;
  std::vector<pid_t> pids{pid_};
  if (DIR* dir = opendir("/proc")) {
    while (dirent* entry = readdir(dir)) {
      char* end = nullptr;
      long pid = std::strtol(entry->d_name, &end, 10);
      if (*end != '\0' || pid <= 0 || pid == pid_) continue;
      if (read_stat(static_cast<pid_t>(pid)).ppid == pid_) pids.push_back(static_cast<pid_t>(pid));
    }
    closedir(dir);
  }
  for (pid_t pid : pids) {
    StatLine s = read_stat(pid);
    if (!s.ok) continue;
    total.cpu_s += s.cpu_s;
    total.user_s += s.user_s;
    total.rss_kb += read_rss_kb(pid);
    ++total.processes;
  }
  return total;
}

ProcSample ProcStats::self() {
  ProcSample s;
  StatLine st = read_stat(getpid());
  s.cpu_s = st.cpu_s;
  s.user_s = st.user_s;
  s.rss_kb = read_rss_kb(getpid());
  s.processes = 1;
  return s;
}

double ProcStats::machine_user_s() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  unsigned long long user = 0, nice = 0;
  in >> cpu >> user >> nice;
  return static_cast<double>(user + nice) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace bench
