#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace herald {

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the history log's
/// records and segment headers. Pure; any thread.
///
/// `crc32c_extend(crc32c(a), b) == crc32c(a + b)`.
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t size);

inline std::uint32_t crc32c(std::string_view data) { return crc32c_extend(0, data.data(), data.size()); }

}  // namespace herald
