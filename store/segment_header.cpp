#include "store/segment_header.hpp"

#include "store/byte_order.hpp"
#include "store/crc32c.hpp"

namespace herald {
namespace {
constexpr std::string_view kMagic = "HRLDLOG1";
}

std::string encode_segment_header(const SegmentHeader& header) {
  std::string out;
  out.reserve(kSegmentHeaderBytes);
  out.append(kMagic);
  put_u32(out, header.version);
  std::string boot_id = header.boot_id.substr(0, kBootIdBytes);
  boot_id.resize(kBootIdBytes, '0');
  out.append(boot_id);
  put_u64(out, header.created_us);
  put_u64(out, header.first_id);
  put_u32(out, crc32c(out));
  return out;
}

HeaderStatus decode_segment_header(std::string_view in, SegmentHeader& out) {
  if (in.size() < kMagic.size() + 4) return HeaderStatus::need_more;
  if (in.substr(0, kMagic.size()) != kMagic) return HeaderStatus::corrupt;
  const std::uint32_t version = get_le<std::uint32_t>(in.data() + kMagic.size());
  if (version > kSegmentFormatVersion) {
    out.version = version;
    return HeaderStatus::newer_format;
  }
  if (version != kSegmentFormatVersion) return HeaderStatus::corrupt;
  if (in.size() < kSegmentHeaderBytes) return HeaderStatus::need_more;
  const std::size_t checked = kSegmentHeaderBytes - 4;
  if (crc32c(in.substr(0, checked)) != get_le<std::uint32_t>(in.data() + checked)) return HeaderStatus::corrupt;
  const char* p = in.data() + kMagic.size() + 4;
  SegmentHeader h;
  h.version = version;
  h.boot_id.assign(p, kBootIdBytes);
  h.created_us = get_le<std::uint64_t>(p + kBootIdBytes);
  h.first_id = get_le<std::uint64_t>(p + kBootIdBytes + 8);
  out = std::move(h);
  return HeaderStatus::ok;
}

}  // namespace herald
