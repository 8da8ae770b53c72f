#include "store/posix_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace herald {

void throw_errno(const char* what, const std::filesystem::path& path) {
  throw std::system_error(errno, std::generic_category(), std::string(what) + " " + path.string());
}

PosixFile::PosixFile(PosixFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

PosixFile& PosixFile::operator=(PosixFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

PosixFile::~PosixFile() {
  if (fd_ >= 0) ::close(fd_);
}

PosixFile PosixFile::open(const std::filesystem::path& path, int flags, unsigned mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, static_cast<mode_t>(mode));
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw_errno("open", path);
  return PosixFile(fd, path);
}

void PosixFile::write_all(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write", path_);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string PosixFile::read_all() {
  std::string out(size(), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", path_);
    }
    if (n == 0) break;  // shrank while reading: keep what is there
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

std::uint64_t PosixFile::size() {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw_errno("fstat", path_);
  return static_cast<std::uint64_t>(st.st_size);
}

void PosixFile::truncate(std::uint64_t size) {
  int rc;
  do {
    rc = ::ftruncate(fd_, static_cast<off_t>(size));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) throw_errno("ftruncate", path_);
}

void PosixFile::datasync() {
  if (::fdatasync(fd_) != 0) throw_errno("fdatasync", path_);
}

void PosixFile::sync() {
  if (::fsync(fd_) != 0) throw_errno("fsync", path_);
}

void PosixFile::close() {
  if (fd_ < 0) return;
  // No retry on EINTR: on Linux the descriptor is gone either way.
  const int rc = ::close(std::exchange(fd_, -1));
  if (rc != 0 && errno != EINTR) throw_errno("close", path_);
}

void sync_directory(const std::filesystem::path& dir) {
  PosixFile d = PosixFile::open(dir, O_RDONLY | O_DIRECTORY);
  d.sync();
  d.close();
}

}  // namespace herald
