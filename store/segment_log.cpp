#include "store/segment_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <limits>

#include "store/segment_header.hpp"

namespace herald {
namespace {

constexpr std::uint64_t kNoDamage = std::numeric_limits<std::uint64_t>::max();

std::uint64_t now_us() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

std::optional<std::uint64_t> parse_segment_name(const std::string& name) {
  constexpr std::string_view prefix = "seg-", suffix = ".log";
  if (name.size() != prefix.size() + 20 + suffix.size() || !name.starts_with(prefix) || !name.ends_with(suffix))
    return std::nullopt;
  const char* first = name.data() + prefix.size();
  const char* last = first + 20;
  if (!std::all_of(first, last, [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  std::uint64_t id = 0;
  const auto [end, ec] = std::from_chars(first, last, id);
  if (ec != std::errc{} || end != last) return std::nullopt;
  return id;
}

// A torn write leaves nothing decodable behind the damage; corruption in the middle of the
// log does (the records written after it). So any valid record after `from` means corruption.
// Most garbage offsets are rejected by the length check before any checksum is computed.
bool valid_record_after(std::string_view data, std::uint64_t from) {
  LogRecord scratch;
  for (std::size_t at = static_cast<std::size_t>(from) + 1; at + kRecordPrefixBytes + kRecordMinLen <= data.size();
       ++at) {
    if (decode_record(data.substr(at), scratch).status == DecodeStatus::ok) return true;
  }
  return false;
}

std::string describe(const LogDamage& d) {
  return "history log damaged: " + d.file.string() + " at byte " + std::to_string(d.offset) + ": " + d.reason;
}

}  // namespace

LogCorruptionError::LogCorruptionError(LogDamage damage)
    : std::runtime_error(describe(damage) + " (start with repair to drop it and everything after it)"),
      damage_(std::move(damage)) {}

SegmentLog::SegmentLog(std::filesystem::path dir, SegmentLogOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {}

std::string SegmentLog::current_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  if (!(in >> id) || id.size() != kBootIdBytes) return std::string(kBootIdBytes, '0');
  return id;
}

std::string SegmentLog::segment_file_name(std::uint64_t first_id) {
  char name[32];
  std::snprintf(name, sizeof name, "seg-%020llu.log", static_cast<unsigned long long>(first_id));
  return name;
}

SegmentLog::OpenResult SegmentLog::open(const std::filesystem::path& dir, SegmentLogOptions options,
                                        const Visitor& visit) {
  if (std::filesystem::create_directories(dir)) {
    // The new directory's own entry must be durable too, or a crash can lose the whole log.
    const std::filesystem::path parent = dir.has_parent_path() ? dir.parent_path() : std::filesystem::path(".");
    sync_directory(parent);
  }
  if (options.boot_id.empty()) options.boot_id = current_boot_id();
  SegmentLog log(dir, std::move(options));
  OpenReport report;

  std::vector<std::pair<std::uint64_t, std::filesystem::path>> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    if (auto id = parse_segment_name(entry.path().filename().string())) files.emplace_back(*id, entry.path());
  }
  std::sort(files.begin(), files.end());

  bool directory_changed = false;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& [first_id, path] = files[i];
    const bool is_last = i + 1 == files.size();
    PosixFile file = PosixFile::open(path, O_RDWR);
    const std::string data = file.read_all();
    const std::string_view view(data);

    SegmentInfo info{path, first_id, 0, data.size(), data.size()};
    std::uint64_t bad = kNoDamage;
    std::string reason;
    SegmentHeader header;
    const HeaderStatus header_status = decode_segment_header(view, header);
    if (header_status == HeaderStatus::newer_format)
      throw LogFormatError("data dir was written by a newer Herald (format " + std::to_string(header.version) +
                           ", this build reads " + std::to_string(kSegmentFormatVersion) + "): " + path.string());
    if (header_status != HeaderStatus::ok) {
      bad = 0;
      reason = header_status == HeaderStatus::need_more ? "segment header cut short" : "bad segment header";
    } else if (header.first_id != first_id) {
      bad = 0;
      reason = "segment header names a different first id than the file name";
    } else {
      LogRecord record;
      std::size_t at = kSegmentHeaderBytes;
      while (at < data.size()) {
        const DecodeResult r = decode_record(view.substr(at), record);
        if (r.status != DecodeStatus::ok) {
          bad = at;
          reason = r.status == DecodeStatus::need_more ? "record cut short" : r.reason;
          break;
        }
        visit(record);
        ++report.records;
        info.last_id = std::max(info.last_id, record.id);
        if (record.kind == RecordKind::event) log.last_event_id_ = std::max(log.last_event_id_, record.id);
        at += r.size;
      }
    }

    if (bad != kNoDamage) {
      LogDamage damage{path, bad, reason};
      const bool torn = is_last && !valid_record_after(view, bad);
      if (!torn && !log.options_.repair) throw LogCorruptionError(std::move(damage));
      if (bad < kSegmentHeaderBytes) {
        file.close();
        std::filesystem::remove(path);
      } else {
        file.truncate(bad);
        file.datasync();
        info.bytes = bad;
        info.synced_bytes = bad;
      }
      directory_changed = true;
      if (torn) {
        report.torn_tail = std::move(damage);
      } else {
        report.repaired = std::move(damage);
        for (std::size_t j = i + 1; j < files.size(); ++j) {
          std::filesystem::remove(files[j].second);
          ++report.segments_removed;
        }
      }
    }
    if (bad == kNoDamage || bad >= kSegmentHeaderBytes) {
      log.last_boot_id_ = header.boot_id;
      log.last_id_ = std::max(log.last_id_, info.last_id);
      log.segments_.push_back(std::move(info));
    }
    if (report.repaired) break;
  }
  if (report.repaired) report.highest_kept_id = log.last_id_;

  if (!log.segments_.empty()) log.current_ = PosixFile::open(log.segments_.back().path, O_WRONLY | O_APPEND);
  if (directory_changed) sync_directory(dir);
  const std::uint64_t last_id = log.last_id_;
  return OpenResult{std::move(log), last_id, std::move(report)};
}

void SegmentLog::append(const std::vector<LogRecord>& records) {
  if (broken_)
    throw std::runtime_error("history log " + dir_.string() +
                             ": an earlier failed write could not be undone; reopen the log");
  std::uint64_t previous = last_event_id_;
  for (const auto& r : records) {
    if (r.kind != RecordKind::event) continue;
    if (r.id <= previous)
      throw std::invalid_argument("history log: event id " + std::to_string(r.id) + " does not exceed " +
                                  std::to_string(previous));
    previous = r.id;
  }

  encoded_.clear();
  std::vector<std::size_t> ends;
  ends.reserve(records.size());
  for (const auto& r : records) {
    encode_record(r, encoded_);
    ends.push_back(encoded_.size());
  }

  // One write per segment touched: the records that fit the current segment go out together.
  std::size_t chunk_begin = 0;  // record index
  auto flush = [&](std::size_t chunk_end) {
    if (chunk_end == chunk_begin) return;
    const std::size_t from = chunk_begin == 0 ? 0 : ends[chunk_begin - 1];
    std::uint64_t last_id = 0, last_event_id = last_event_id_;
    for (std::size_t k = chunk_begin; k < chunk_end; ++k) {
      last_id = std::max(last_id, records[k].id);
      if (records[k].kind == RecordKind::event) last_event_id = records[k].id;
    }
    write_to_current(std::string_view(encoded_).substr(from, ends[chunk_end - 1] - from), last_id);
    last_event_id_ = last_event_id;
    chunk_begin = chunk_end;
  };
  for (std::size_t i = 0; i < records.size(); ++i) {
    const std::size_t begin = i == 0 ? 0 : ends[i - 1];
    const std::size_t size = ends[i] - begin;
    if (!current_.is_open()) {
      start_segment(records[i].id);
      continue;
    }
    const std::uint64_t segment_bytes =
        segments_.back().bytes + (begin - (chunk_begin == 0 ? 0 : ends[chunk_begin - 1]));
    if (segment_bytes > kSegmentHeaderBytes && segment_bytes + size > options_.segment_bytes) {
      flush(i);
      start_segment(records[i].id);
    }
  }
  flush(records.size());
}

void SegmentLog::start_segment(std::uint64_t first_id) {
  if (current_.is_open()) {
    // The finished segment is not synced again later, so its tail is made durable now.
    current_.datasync();
    segments_.back().synced_bytes = segments_.back().bytes;
    current_.close();
  }
  const std::filesystem::path path = dir_ / segment_file_name(first_id);
  PosixFile file = PosixFile::open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0644);
  const std::string header =
      encode_segment_header(SegmentHeader{kSegmentFormatVersion, options_.boot_id, now_us(), first_id});
  try {
    file.write_all(header);
  } catch (...) {
    file = PosixFile();
    ::unlink(path.c_str());
    throw;
  }
  segments_.push_back(SegmentInfo{path, first_id, 0, header.size(), 0});
  current_ = std::move(file);
  directory_dirty_ = true;
}

void SegmentLog::write_to_current(std::string_view bytes, std::uint64_t last_id) {
  SegmentInfo& segment = segments_.back();
  try {
    current_.write_all(bytes);
  } catch (...) {
    // A partial record would read as a torn tail or, once more is appended, as corruption.
    try {
      current_.truncate(segment.bytes);
    } catch (...) {
      broken_ = true;
    }
    throw;
  }
  segment.bytes += bytes.size();
  segment.last_id = std::max(segment.last_id, last_id);
  last_id_ = std::max(last_id_, last_id);
}

void SegmentLog::sync() {
  if (current_.is_open()) {
    current_.datasync();
    segments_.back().synced_bytes = segments_.back().bytes;
  }
  if (directory_dirty_) {
    sync_directory(dir_);
    directory_dirty_ = false;
  }
}

std::size_t SegmentLog::drop_segments_before(std::uint64_t id) {
  std::size_t dropped = 0;
  while (segments_.size() > 1 && segments_.front().last_id < id) {
    std::filesystem::remove(segments_.front().path);
    segments_.erase(segments_.begin());
    ++dropped;
  }
  if (dropped > 0) directory_dirty_ = true;
  return dropped;
}

}  // namespace herald
