#include "store/log_record.hpp"

#include <limits>
#include <stdexcept>

#include "store/byte_order.hpp"
#include "store/crc32c.hpp"

namespace herald {
namespace {

constexpr std::uint8_t kFlagPrivate = 0x01;
constexpr std::uint8_t kKnownFlags = kFlagPrivate;

std::size_t checked_len(const LogRecord& record) {
  if (record.kind == RecordKind::floor && record.topics.size() != 1)
    throw std::invalid_argument("log record: a floor record names exactly one topic");
  if (record.topics.size() > std::numeric_limits<std::uint16_t>::max())
    throw std::length_error("log record: more than 65535 topics");
  std::size_t len = kRecordMinLen;
  for (const auto& topic : record.topics) {
    if (topic.size() > std::numeric_limits<std::uint16_t>::max())
      throw std::length_error("log record: a topic is longer than 65535 bytes");
    len += 2 + topic.size();
  }
  if (record.body.size() > kRecordMaxLen || len + record.body.size() > kRecordMaxLen)
    throw std::length_error("log record: larger than the 64 MiB limit");
  return len + record.body.size();
}

DecodeResult corrupt(const char* reason) { return {DecodeStatus::corrupt, 0, reason}; }

}  // namespace

LogRecord make_floor_record(std::string topic, std::uint64_t floor_id, std::uint64_t publish_us) {
  LogRecord r;
  r.id = floor_id;
  r.publish_us = publish_us;
  r.kind = RecordKind::floor;
  r.topics.push_back(std::move(topic));
  return r;
}

std::size_t encoded_size(const LogRecord& record) { return kRecordPrefixBytes + checked_len(record); }

void encode_record(const LogRecord& record, std::string& out) {
  const std::size_t len = checked_len(record);
  const std::size_t start = out.size();
  out.reserve(start + kRecordPrefixBytes + len);
  put_u32(out, static_cast<std::uint32_t>(len));
  put_u32(out, 0);  // the crc, filled in below once the rest is written
  put_u64(out, record.id);
  put_u64(out, record.publish_us);
  put_u8(out, static_cast<std::uint8_t>(record.kind));
  put_u8(out, record.is_private ? kFlagPrivate : 0);
  put_u16(out, static_cast<std::uint16_t>(record.topics.size()));
  for (const auto& topic : record.topics) {
    put_u16(out, static_cast<std::uint16_t>(topic.size()));
    out.append(topic);
  }
  put_u32(out, static_cast<std::uint32_t>(record.body.size()));
  out.append(record.body);
  const std::uint32_t crc = crc32c_extend(0, out.data() + start + kRecordPrefixBytes, len);
  for (int i = 0; i < 4; ++i) out[start + 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
}

DecodeResult decode_record(std::string_view in, LogRecord& out) {
  if (in.size() < 4) return {DecodeStatus::need_more};
  const std::size_t len = get_le<std::uint32_t>(in.data());
  // Lengths are judged before waiting for more bytes: an impossible length is corrupt at once
  // instead of asking for bytes that will never make a record.
  if (len < kRecordMinLen) return corrupt("record length below the minimum");
  if (len > kRecordMaxLen) return corrupt("record length above the 64 MiB limit");
  if (in.size() < kRecordPrefixBytes + len) return {DecodeStatus::need_more};

  const char* const body_start = in.data() + kRecordPrefixBytes;
  if (crc32c_extend(0, body_start, len) != get_le<std::uint32_t>(in.data() + 4)) return corrupt("checksum mismatch");

  // From here the bytes are what a writer wrote; the checks below guard against a writer bug
  // or a collision, and keep every read inside the record.
  const char* p = body_start;
  const char* const end = body_start + len;
  LogRecord r;
  r.id = get_le<std::uint64_t>(p);
  r.publish_us = get_le<std::uint64_t>(p + 8);
  const std::uint8_t kind = static_cast<std::uint8_t>(p[16]);
  const std::uint8_t flags = static_cast<std::uint8_t>(p[17]);
  const std::size_t ntopics = get_le<std::uint16_t>(p + 18);
  p += 20;
  if (kind != static_cast<std::uint8_t>(RecordKind::event) && kind != static_cast<std::uint8_t>(RecordKind::floor))
    return corrupt("unknown record kind");
  r.kind = static_cast<RecordKind>(kind);
  if ((flags & ~kKnownFlags) != 0) return corrupt("unknown record flags");
  r.is_private = (flags & kFlagPrivate) != 0;
  r.topics.reserve(ntopics);
  for (std::size_t i = 0; i < ntopics; ++i) {
    if (end - p < 2) return corrupt("topic runs past the record");
    const std::size_t n = get_le<std::uint16_t>(p);
    p += 2;
    if (static_cast<std::size_t>(end - p) < n) return corrupt("topic runs past the record");
    r.topics.emplace_back(p, n);
    p += n;
  }
  if (end - p < 4) return corrupt("body length runs past the record");
  const std::size_t body_len = get_le<std::uint32_t>(p);
  p += 4;
  if (static_cast<std::size_t>(end - p) != body_len) return corrupt("body length does not match the record length");
  r.body.assign(p, body_len);
  if (r.kind == RecordKind::floor && r.topics.size() != 1) return corrupt("floor record without exactly one topic");

  out = std::move(r);
  return {DecodeStatus::ok, kRecordPrefixBytes + len};
}

}  // namespace herald
