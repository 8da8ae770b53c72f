#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herald {

/// What a LogRecord holds (its u8 on disk).
enum class RecordKind : std::uint8_t {
  event = 1,  ///< a published event
  floor = 2,  ///< "history of `topics[0]` is unknown up to `id`" (left by compaction)
};

/// One entry of the history log, as encoded by `encode_record`. A plain value; any thread.
///
/// On disk, little-endian:
///   u32 len | u32 crc32c(the len bytes that follow) | u64 id | u64 publish_us | u8 kind
///   | u8 flags | u16 ntopics | (u16 len, bytes)* | u32 body_len | body
/// `len` counts the bytes after the crc, so a record takes 8 + len bytes.
struct LogRecord {
  std::uint64_t id = 0;          ///< event id; for a floor record, the floor
  std::uint64_t publish_us = 0;  ///< system clock, µs since the Unix epoch
  RecordKind kind = RecordKind::event;
  bool is_private = false;
  std::vector<std::string> topics;
  std::string body;  ///< the SSE frame without its id line; empty for a floor record

  bool operator==(const LogRecord&) const = default;
};

/// A floor record: history of `topic` is unknown up to `floor_id`.
LogRecord make_floor_record(std::string topic, std::uint64_t floor_id, std::uint64_t publish_us);

/// Bytes before the checked part of a record: len and crc.
inline constexpr std::size_t kRecordPrefixBytes = 8;
/// The smallest possible `len`: the fixed fields with no topics and an empty body.
inline constexpr std::size_t kRecordMinLen = 8 + 8 + 1 + 1 + 2 + 4;
/// A larger `len` is corruption, never a record: it bounds what a damaged length can make the
/// reader allocate or skip.
inline constexpr std::size_t kRecordMaxLen = 64u << 20;

/// The bytes `encode_record` appends for `record`.
std::size_t encoded_size(const LogRecord& record);

/// Appends the encoding of `record` to `out`. Throws (appending nothing) std::invalid_argument
/// for a floor record without exactly one topic, and std::length_error
/// when a field does not fit the format: more than 65535 topics, a topic over 65535 bytes, or
/// a record over kRecordMaxLen.
void encode_record(const LogRecord& record, std::string& out);

/// The three answers of `decode_record`.
enum class DecodeStatus {
  ok,         ///< a record was decoded
  need_more,  ///< the input ends inside the record (a truncated record)
  corrupt,    ///< these bytes are not a record: bad checksum or impossible fields
};

/// What `decode_record` found at the start of its input. A plain value; any thread.
struct DecodeResult {
  DecodeStatus status = DecodeStatus::corrupt;
  std::size_t size = 0;    ///< with ok: the bytes the record took
  const char* reason = "";  ///< with corrupt: what was wrong, for error messages
};

/// Decodes the record at the start of `in` into `out` (only written with ok). Never reads
/// outside `in`; a damaged record is corrupt or need_more, never a different record (a
/// single-bit error is always caught by the CRC).
DecodeResult decode_record(std::string_view in, LogRecord& out);

}  // namespace herald
