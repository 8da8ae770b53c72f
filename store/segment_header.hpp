#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace herald {

/// The start of every history segment file. A plain value; any thread.
///
/// On disk, little-endian, kSegmentHeaderBytes in all:
///   "HRLDLOG1" | u32 format version | boot_id (36 bytes) | u64 created_us | u64 first_id
///   | u32 crc32c(everything before it)
struct SegmentHeader {
  std::uint32_t version = 1;
  std::string boot_id;  ///< the kernel's boot_id when the segment was made (36 characters)
  std::uint64_t created_us = 0;  ///< system clock, µs since the Unix epoch
  std::uint64_t first_id = 0;    ///< also in the file name

  bool operator==(const SegmentHeader&) const = default;
};

inline constexpr std::uint32_t kSegmentFormatVersion = 1;
inline constexpr std::size_t kBootIdBytes = 36;
inline constexpr std::size_t kSegmentHeaderBytes = 8 + 4 + kBootIdBytes + 8 + 8 + 4;

/// The header's bytes; `boot_id` is cut or padded with '0' to kBootIdBytes.
std::string encode_segment_header(const SegmentHeader& header);

enum class HeaderStatus {
  ok,
  need_more,     ///< fewer than kSegmentHeaderBytes
  corrupt,       ///< wrong magic or checksum
  newer_format,  ///< a version this build does not read (`version` is set)
};

/// Decodes a header from the start of `in`. The version is judged before the checksum: a
/// newer Herald may lay out the rest differently.
HeaderStatus decode_segment_header(std::string_view in, SegmentHeader& out);

}  // namespace herald
