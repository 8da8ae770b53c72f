// CPU time and resident memory of a server process and its direct children (nginx's
// workers), read from /proc.
#pragma once
#include <string>
#include <sys/types.h>
#include <vector>

namespace bench {

struct ProcSample {
  double cpu_s = 0;        ///< utime + stime, summed over the processes
  double user_s = 0;       ///< utime alone
  long rss_kb = 0;         ///< VmRSS, summed over the processes
  int processes = 0;
};

class ProcStats {
 public:
  ProcStats() = default;
  explicit ProcStats(pid_t pid) : pid_(pid) {}
  bool enabled() const { return pid_ > 0; }
  /// Samples `pid` and every process whose parent it is.
  ProcSample sample() const;
  /// This process (the load generator).
  static ProcSample self();
  /// User-mode CPU seconds of the whole machine (all processes, all cores) since boot.
  static double machine_user_s();

 private:
  pid_t pid_ = 0;
};

}  // namespace bench
