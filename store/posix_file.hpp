#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace herald {

/// An owned POSIX file descriptor and the few calls the history log makes on it. Every failed
/// call throws std::system_error whose message names the call and the path. One thread at a
/// time.
class PosixFile {
 public:
  PosixFile() = default;
  PosixFile(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  PosixFile(PosixFile&& other) noexcept;
  PosixFile& operator=(PosixFile&& other) noexcept;
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;
  ~PosixFile();

  /// open(2) with `flags` (O_CLOEXEC is added) and `mode`.
  static PosixFile open(const std::filesystem::path& path, int flags, unsigned mode = 0644);

  bool is_open() const { return fd_ >= 0; }
  const std::filesystem::path& path() const { return path_; }

  /// Writes all of `data`, retrying short writes and EINTR.
  void write_all(std::string_view data);
  /// The whole file from offset 0.
  std::string read_all();
  std::uint64_t size();
  void truncate(std::uint64_t size);
  void datasync();
  /// fsync(2): for a directory, makes its entries (created, renamed, removed files) durable.
  void sync();
  void close();

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

/// Throws std::system_error for `errno` with "<what> <path>".
[[noreturn]] void throw_errno(const char* what, const std::filesystem::path& path);

/// fsync of the directory `dir`.
void sync_directory(const std::filesystem::path& dir);

}  // namespace herald
