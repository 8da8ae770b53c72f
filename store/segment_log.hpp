#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "store/log_record.hpp"
#include "store/posix_file.hpp"

namespace herald {

/// How a SegmentLog is opened and grows. A plain value; any thread.
struct SegmentLogOptions {
  /// A segment is closed and a new one begun before a record would take it past this size
  /// (a single larger record still gets a segment of its own).
  std::uint64_t segment_bytes = 64u << 20;
  /// Corruption drops the bad record and everything after it instead of failing open.
  bool repair = false;
  /// Written into new segment headers; empty: this boot's, from /proc/sys/kernel/random/boot_id.
  std::string boot_id;
};

/// One segment file as the log knows it. A plain value.
struct SegmentInfo {
  std::filesystem::path path;
  std::uint64_t first_id = 0;  ///< from the file name
  std::uint64_t last_id = 0;   ///< the highest record id in it; 0 when it holds none
  std::uint64_t bytes = 0;     ///< file size, header included
  /// How much of the file a completed sync made durable (all of it for a segment found at
  /// open): where power loss could cut it, for crash tests that emulate one.
  std::uint64_t synced_bytes = 0;
};

/// A damaged spot in a segment: the file and the byte offset of the first bad record.
struct LogDamage {
  std::filesystem::path file;
  std::uint64_t offset = 0;
  std::string reason;
};

/// What opening the log found and changed, for the caller to log and act on (raise floors
/// up to `highest_kept_id` after a repair). A plain value.
struct OpenReport {
  std::uint64_t records = 0;  ///< records read and passed to the visitor
  /// The last segment ended in a partial or damaged record with nothing valid after it (a
  /// write cut short); the file was truncated there (removed when even its header was cut).
  std::optional<LogDamage> torn_tail;
  /// With options.repair: the corruption found. The file was truncated at the offset and
  /// every later segment removed; `highest_kept_id` says up to where history survived.
  std::optional<LogDamage> repaired;
  std::uint64_t highest_kept_id = 0;
  std::uint64_t segments_removed = 0;
};

/// Opening found damage that is not a torn tail (a bad record in an earlier segment, or one
/// with valid records after it). Names the file and offset; the log is left untouched.
class LogCorruptionError : public std::runtime_error {
 public:
  explicit LogCorruptionError(LogDamage damage);
  const LogDamage& damage() const { return damage_; }

 private:
  LogDamage damage_;
};

/// A segment was written by a newer Herald with a format this build cannot read.
class LogFormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The durable history: a directory of append-only segment files `seg-<first id, 20
/// digits>.log`, each a SegmentHeader followed by encoded LogRecords, in id order across files.
///
/// Single-threaded: one thread at a time may use an object (the future store writer thread).
/// Durability is explicit: `append` only write()s (surviving a process crash through the page
/// cache); `sync` makes what was appended survive an OS crash or power loss.
class SegmentLog {
 public:
  using Visitor = std::function<void(const LogRecord&)>;

  struct OpenResult;

  /// Opens (creating if missing) the log in `dir`, passing every record to `visit` in order.
  /// A torn tail in the last segment is truncated and reported. Throws LogCorruptionError for
  /// other damage unless options.repair (then the damage is cut off and reported),
  /// LogFormatError for a newer format, std::system_error for failed I/O. When it throws,
  /// the records already visited must be discarded.
  static OpenResult open(const std::filesystem::path& dir, SegmentLogOptions options, const Visitor& visit);

  SegmentLog(SegmentLog&&) noexcept = default;
  SegmentLog& operator=(SegmentLog&&) noexcept = default;

  /// Encodes `records` and writes them, one write() per segment touched, starting a new
  /// segment as the current one fills. Event ids must exceed every event id before them
  /// (std::invalid_argument otherwise, with nothing written). On a failed write the segment
  /// is cut back to its previous end and std::system_error thrown (when the batch spanned
  /// segments, the whole records already written to earlier ones stay); when even the cut
  /// fails, the log refuses further appends. Floor records are not checked: segment names
  /// assume a batch does not start with a floor below the ids already written.
  void append(const std::vector<LogRecord>& records);

  /// Makes everything appended so far durable: fdatasync of the current segment, and fsync of
  /// the directory when a segment was created or removed since the last sync.
  void sync();

  /// Removes the oldest segments whose records all have ids below `id` (never the segment
  /// being written). Returns how many were removed.
  std::size_t drop_segments_before(std::uint64_t id);

  const std::filesystem::path& dir() const { return dir_; }
  /// Oldest first; the last one is where appends go.
  const std::vector<SegmentInfo>& segments() const { return segments_; }
  /// The highest record id in the log; 0 when empty.
  std::uint64_t last_id() const { return last_id_; }
  /// The boot_id in the newest segment header found at open (the boot that wrote the tail
  /// of the log); empty when there was none. Compare with `current_boot_id()`.
  const std::string& last_boot_id() const { return last_boot_id_; }

  /// This boot's id from /proc/sys/kernel/random/boot_id (36 characters); all zeros when it
  /// cannot be read.
  static std::string current_boot_id();

  /// The file name of the segment starting at `first_id`.
  static std::string segment_file_name(std::uint64_t first_id);

 private:
  SegmentLog(std::filesystem::path dir, SegmentLogOptions options);

  void start_segment(std::uint64_t first_id);
  void write_to_current(std::string_view bytes, std::uint64_t last_id);

  std::filesystem::path dir_;
  SegmentLogOptions options_;
  std::vector<SegmentInfo> segments_;
  PosixFile current_;
  std::uint64_t last_id_ = 0;
  std::uint64_t last_event_id_ = 0;
  std::string last_boot_id_;
  std::string encoded_;  // reused across appends
  bool directory_dirty_ = false;
  bool broken_ = false;
};

struct SegmentLog::OpenResult {
  SegmentLog log;
  std::uint64_t last_id = 0;  ///< the highest record id; 0 when the log is empty
  OpenReport report;
};

}  // namespace herald
