#include <doctest/doctest.h>

#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "store/segment_header.hpp"
#include "store/segment_log.hpp"

using namespace herald;
namespace fs = std::filesystem;

namespace {

/// A fresh directory under /tmp, removed with everything in it at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "herald-segment-log-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path log_dir() const { return path / "history"; }
};

LogRecord event(std::uint64_t id, std::string topic = "t", std::string body = "data: x\n\n") {
  LogRecord r;
  r.id = id;
  r.publish_us = 1'700'000'000'000'000 + id;
  r.topics = {std::move(topic)};
  r.body = std::move(body);
  return r;
}

std::vector<LogRecord> events(std::uint64_t first, std::uint64_t last) {
  std::vector<LogRecord> out;
  for (std::uint64_t id = first; id <= last; ++id) out.push_back(event(id, "topic-" + std::to_string(id % 3)));
  return out;
}

struct Reopened {
  SegmentLog::OpenResult result;
  std::vector<LogRecord> records;
};

Reopened open_log(const fs::path& dir, SegmentLogOptions options = {}) {
  std::vector<LogRecord> records;
  auto result = SegmentLog::open(dir, std::move(options), [&](const LogRecord& r) { records.push_back(r); });
  return Reopened{std::move(result), std::move(records)};
}

std::vector<std::uint64_t> ids(const std::vector<LogRecord>& records) {
  std::vector<std::uint64_t> out;
  for (const auto& r : records) out.push_back(r.id);
  return out;
}

std::vector<std::uint64_t> id_range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t id = first; id <= last; ++id) out.push_back(id);
  return out;
}

void append_bytes(const fs::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::app);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

void flip_byte(const fs::path& file, std::uint64_t offset) {
  std::fstream f(file, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x40));
  REQUIRE(f.good());
}

// The offset of record `index` (0-based) in a segment holding `records` from its start.
std::uint64_t offset_of(const std::vector<LogRecord>& records, std::size_t index) {
  std::uint64_t at = kSegmentHeaderBytes;
  for (std::size_t i = 0; i < index; ++i) at += encoded_size(records[i]);
  return at;
}

// Three segments of 10 records each (ids 1-10, 11-20, 21-30).
void write_three_segments(const fs::path& dir) {
  SegmentLogOptions options;
  const std::uint64_t ten_records = kSegmentHeaderBytes + 10 * encoded_size(event(1, "topic-1"));
  options.segment_bytes = ten_records;
  auto log = SegmentLog::open(dir, options, [](const LogRecord&) {}).log;
  for (std::uint64_t first : {1, 11, 21}) log.append(events(first, first + 9));
  log.sync();
  REQUIRE(log.segments().size() == 3);
}

}  // namespace

TEST_CASE("segment log reopens with exactly the records appended, in order") {
  TempDir tmp;
  std::vector<LogRecord> written;
  {
    auto opened = open_log(tmp.log_dir());
    CHECK(opened.records.empty());
    CHECK(opened.result.last_id == 0);
    auto& log = opened.result.log;
    for (std::uint64_t batch = 0; batch < 5; ++batch) {
      auto records = events(batch * 10 + 1, batch * 10 + 10);
      records[3].is_private = true;
      records[4].topics = {"a", "b", "ü"};
      records[5].body.clear();
      log.append(records);
      written.insert(written.end(), records.begin(), records.end());
    }
    log.append({make_floor_record("a", 7, 99)});
    written.push_back(make_floor_record("a", 7, 99));
    log.sync();
    CHECK(log.last_id() == 50);
  }
  auto reopened = open_log(tmp.log_dir());
  CHECK(reopened.records == written);
  CHECK(reopened.result.last_id == 50);
  CHECK_FALSE(reopened.result.report.torn_tail);
  CHECK_FALSE(reopened.result.report.repaired);
  CHECK(reopened.result.report.records == written.size());
}

TEST_CASE("segment log names its first segment after the first id and writes the header") {
  TempDir tmp;
  SegmentLogOptions options;
  options.boot_id = "01234567-89ab-cdef-0123-456789abcdef";
  {
    auto log = SegmentLog::open(tmp.log_dir(), options, [](const LogRecord&) {}).log;
    CHECK(log.segments().empty());
    CHECK(log.last_boot_id().empty());
    log.append(events(1234, 1236));
    REQUIRE(log.segments().size() == 1);
    CHECK(log.segments()[0].path == tmp.log_dir() / "seg-00000000000000001234.log");
    CHECK(log.segments()[0].first_id == 1234);
    CHECK(log.segments()[0].last_id == 1236);
  }
  auto reopened = open_log(tmp.log_dir());
  CHECK(reopened.result.log.last_boot_id() == options.boot_id);
  CHECK(reopened.result.log.segments()[0].bytes == fs::file_size(tmp.log_dir() / "seg-00000000000000001234.log"));
  CHECK(SegmentLog::current_boot_id().size() == 36);
}

TEST_CASE("segment log rolls over to new segments when one fills") {
  TempDir tmp;
  SegmentLogOptions options;
  options.segment_bytes = 300;
  const std::uint64_t record_bytes = encoded_size(event(1, "topic-1"));
  {
    auto log = SegmentLog::open(tmp.log_dir(), options, [](const LogRecord&) {}).log;
    for (std::uint64_t first = 1; first <= 100; first += 7) log.append(events(first, first + 6));
    log.sync();
    REQUIRE(log.segments().size() > 3);
    std::uint64_t expected_first = 1;
    for (const auto& segment : log.segments()) {
      CHECK(segment.first_id == expected_first);
      CHECK(segment.bytes <= options.segment_bytes);
      CHECK(segment.bytes == fs::file_size(segment.path));
      CHECK(segment.path.filename() == SegmentLog::segment_file_name(segment.first_id));
      expected_first = segment.last_id + 1;
    }
    CHECK(log.segments().back().last_id == 105);
    // Every segment but the last is full: the next record would not have fitted.
    for (std::size_t i = 0; i + 1 < log.segments().size(); ++i)
      CHECK(log.segments()[i].bytes + record_bytes > options.segment_bytes);
  }
  auto reopened = open_log(tmp.log_dir(), options);
  CHECK(ids(reopened.records) == id_range(1, 105));
}

TEST_CASE("segment log gives a record larger than a segment a segment of its own") {
  TempDir tmp;
  SegmentLogOptions options;
  options.segment_bytes = 200;
  {
    auto log = SegmentLog::open(tmp.log_dir(), options, [](const LogRecord&) {}).log;
    log.append({event(1), event(2, "t", std::string(1000, 'x')), event(3)});
    CHECK(log.segments().size() == 3);
  }
  auto reopened = open_log(tmp.log_dir(), options);
  CHECK(ids(reopened.records) == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(reopened.records[1].body.size() == 1000);
}

TEST_CASE("segment log truncates a torn tail, reports it and appends after it") {
  TempDir tmp;
  fs::path last_file;
  std::uint64_t good_size = 0;
  {
    auto log = SegmentLog::open(tmp.log_dir(), {}, [](const LogRecord&) {}).log;
    log.append(events(1, 20));
    log.sync();
    last_file = log.segments().back().path;
    good_size = log.segments().back().bytes;
  }
  std::string half;
  encode_record(event(21), half);
  half.resize(half.size() / 2);
  SUBCASE("garbage bytes") { append_bytes(last_file, std::string("\x5a\x13\x00\x07", 4) + std::string(33, 'g')); }
  SUBCASE("half a record") { append_bytes(last_file, half); }
  SUBCASE("garbage and then half a record") {
    append_bytes(last_file, std::string(37, '\x7f'));
    append_bytes(last_file, half);
  }
  SUBCASE("zeros, as a crash can leave") { append_bytes(last_file, std::string(4096, '\0')); }
  {
    auto reopened = open_log(tmp.log_dir());
    CHECK(ids(reopened.records) == id_range(1, 20));
    const auto& torn = reopened.result.report.torn_tail;
    REQUIRE(torn);
    CHECK(torn->file == last_file);
    CHECK(torn->offset == good_size);
    CHECK(fs::file_size(last_file) == good_size);
    reopened.result.log.append(events(21, 25));
    reopened.result.log.sync();
  }
  auto again = open_log(tmp.log_dir());
  CHECK(ids(again.records) == id_range(1, 25));
  CHECK_FALSE(again.result.report.torn_tail);
}

TEST_CASE("segment log removes a last segment whose header was cut short") {
  TempDir tmp;
  write_three_segments(tmp.log_dir());
  const fs::path cut = tmp.log_dir() / SegmentLog::segment_file_name(31);
  append_bytes(cut, encode_segment_header(SegmentHeader{1, SegmentLog::current_boot_id(), 1, 31}).substr(0, 20));
  auto reopened = open_log(tmp.log_dir());
  CHECK(ids(reopened.records) == id_range(1, 30));
  REQUIRE(reopened.result.report.torn_tail);
  CHECK(reopened.result.report.torn_tail->file == cut);
  CHECK(reopened.result.report.torn_tail->offset == 0);
  CHECK_FALSE(fs::exists(cut));
  CHECK(reopened.result.log.segments().size() == 3);
  reopened.result.log.append(events(31, 31));  // the removed name is free again
  CHECK(reopened.result.log.segments().size() == 3);
}

TEST_CASE("segment log refuses corruption in an earlier segment, naming file and offset") {
  TempDir tmp;
  write_three_segments(tmp.log_dir());
  const fs::path second = tmp.log_dir() / SegmentLog::segment_file_name(11);
  const std::uint64_t bad = offset_of(events(11, 20), 4);
  flip_byte(second, bad + 12);  // inside the id of the fifth record (id 15)
  const auto before = fs::file_size(second);
  try {
    open_log(tmp.log_dir());
    FAIL("open succeeded on a corrupt log");
  } catch (const LogCorruptionError& e) {
    CHECK(e.damage().file == second);
    CHECK(e.damage().offset == bad);
    const std::string what = e.what();
    CHECK(what.find(second.string()) != std::string::npos);
    CHECK(what.find("at byte " + std::to_string(bad)) != std::string::npos);
  }
  CHECK(fs::file_size(second) == before);  // nothing changed without repair
  CHECK(fs::exists(tmp.log_dir() / SegmentLog::segment_file_name(21)));
}

TEST_CASE("segment log calls a bad record followed by valid ones in the last segment corruption") {
  TempDir tmp;
  write_three_segments(tmp.log_dir());
  const fs::path third = tmp.log_dir() / SegmentLog::segment_file_name(21);
  const std::uint64_t bad = offset_of(events(21, 30), 7);
  flip_byte(third, bad + 30);
  CHECK_THROWS_AS(open_log(tmp.log_dir()), LogCorruptionError);
  SUBCASE("a damaged length is no excuse either") {
    flip_byte(third, bad + 30);   // undo
    flip_byte(third, bad + 1);    // the record's len now reaches past the end of the file
    CHECK_THROWS_AS(open_log(tmp.log_dir()), LogCorruptionError);
  }
}

TEST_CASE("segment log with repair keeps the prefix before corruption and reports the highest kept id") {
  TempDir tmp;
  write_three_segments(tmp.log_dir());
  const fs::path second = tmp.log_dir() / SegmentLog::segment_file_name(11);
  const std::uint64_t bad = offset_of(events(11, 20), 4);
  flip_byte(second, bad + 12);
  SegmentLogOptions options;
  options.repair = true;
  {
    auto repaired = open_log(tmp.log_dir(), options);
    CHECK(ids(repaired.records) == id_range(1, 14));
    const auto& report = repaired.result.report;
    REQUIRE(report.repaired);
    CHECK(report.repaired->file == second);
    CHECK(report.repaired->offset == bad);
    CHECK(report.highest_kept_id == 14);
    CHECK(report.segments_removed == 1);
    CHECK(repaired.result.last_id == 14);
    CHECK(fs::file_size(second) == bad);
    CHECK_FALSE(fs::exists(tmp.log_dir() / SegmentLog::segment_file_name(21)));
    repaired.result.log.append(events(40, 41));
    repaired.result.log.sync();
  }
  auto reopened = open_log(tmp.log_dir());
  auto expected = id_range(1, 14);
  expected.push_back(40);
  expected.push_back(41);
  CHECK(ids(reopened.records) == expected);
  CHECK_FALSE(reopened.result.report.repaired);
}

TEST_CASE("segment log refuses a segment of a newer format version") {
  TempDir tmp;
  fs::create_directories(tmp.log_dir());
  SegmentHeader header{2, SegmentLog::current_boot_id(), 1, 1};
  append_bytes(tmp.log_dir() / SegmentLog::segment_file_name(1), encode_segment_header(header));
  try {
    open_log(tmp.log_dir(), SegmentLogOptions{.segment_bytes = 64u << 20, .repair = true, .boot_id = {}});
    FAIL("open accepted a newer format");
  } catch (const LogFormatError& e) {
    CHECK(std::string(e.what()).find("data dir was written by a newer Herald (format 2") != std::string::npos);
  }
  CHECK(fs::exists(tmp.log_dir() / SegmentLog::segment_file_name(1)));
}

TEST_CASE("segment log drops whole segments below an id, never the current one") {
  TempDir tmp;
  write_three_segments(tmp.log_dir());
  auto opened = open_log(tmp.log_dir());
  auto& log = opened.result.log;
  CHECK(log.drop_segments_before(10) == 0);  // the first segment still holds id 10
  CHECK(log.drop_segments_before(11) == 1);
  CHECK(log.segments().front().first_id == 11);
  CHECK_FALSE(fs::exists(tmp.log_dir() / SegmentLog::segment_file_name(1)));
  CHECK(log.drop_segments_before(1000) == 1);  // the last segment stays
  REQUIRE(log.segments().size() == 1);
  CHECK(log.segments().front().first_id == 21);
  log.sync();
  auto reopened = open_log(tmp.log_dir());
  CHECK(ids(reopened.records) == id_range(21, 30));
}

TEST_CASE("segment log refuses event ids that do not increase, writing nothing") {
  TempDir tmp;
  auto opened = open_log(tmp.log_dir());
  auto& log = opened.result.log;
  log.append(events(1, 5));
  const auto bytes = log.segments().back().bytes;
  CHECK_THROWS_AS(log.append({event(6), event(5)}), std::invalid_argument);
  CHECK_THROWS_AS(log.append({event(5)}), std::invalid_argument);
  CHECK(log.segments().back().bytes == bytes);
  log.append({event(6)});
  auto reopened = open_log(tmp.log_dir());
  CHECK(ids(reopened.records) == id_range(1, 6));
}

TEST_CASE("segment log cuts a failed write back to whole records") {
  TempDir tmp;
  auto opened = open_log(tmp.log_dir());
  auto& log = opened.result.log;
  log.append(events(1, 5));
  const std::uint64_t good_size = log.segments().back().bytes;
  {
    // A file size limit makes write() stop part way through the batch (EFBIG), as a full disk
    // would; SIGXFSZ is ignored so the process survives to see the error.
    struct rlimit old_limit {};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = old_limit;
    small.rlim_cur = good_size + 100;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    CHECK_THROWS_AS(log.append(events(6, 20)), std::system_error);
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    std::signal(SIGXFSZ, old_handler);
  }
  CHECK(log.segments().back().bytes == good_size);
  CHECK(fs::file_size(log.segments().back().path) == good_size);
  log.append(events(6, 7));  // the failed ids were never written, so they may be used again
  auto reopened = open_log(tmp.log_dir());
  CHECK(ids(reopened.records) == id_range(1, 7));
  CHECK_FALSE(reopened.result.report.torn_tail);
}

TEST_CASE("segment log tells how much of each segment a sync made durable") {
  TempDir tmp;
  SegmentLogOptions options;
  options.segment_bytes = 300;
  std::vector<SegmentInfo> segments;
  {
    auto log = SegmentLog::open(tmp.log_dir(), options, [](const LogRecord&) {}).log;
    log.append(events(1, 10));
    log.sync();
    for (const auto& s : log.segments()) CHECK(s.synced_bytes == s.bytes);
    log.append(events(11, 13));
    segments = log.segments();
  }
  REQUIRE(segments.size() >= 2);
  CHECK(segments.back().synced_bytes < segments.back().bytes);
  // Power loss emulated: every segment cut back to what was synced; only unsynced ids go.
  for (const auto& s : segments) {
    if (s.synced_bytes == 0) {
      fs::remove(s.path);
    } else {
      fs::resize_file(s.path, s.synced_bytes);
    }
  }
  auto reopened = open_log(tmp.log_dir(), options);
  // Four records fit a segment: 11 and 12 went into the third one, synced when 13 started
  // the fourth, so only 13 was never durable.
  CHECK(ids(reopened.records) == id_range(1, 12));
  CHECK_FALSE(reopened.result.report.torn_tail);
  for (const auto& s : reopened.result.log.segments()) CHECK(s.synced_bytes == s.bytes);
}
