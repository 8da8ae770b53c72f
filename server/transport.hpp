#pragma once
#include <memory>
#include <utility>

#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>

#include "server/tls_socket.hpp"

namespace herald {

/// A client's byte stream: a TCP socket, or TLS over one. Connection and StreamSession
/// speak only to this, so everything above it is the same for HTTP and HTTPS, and the plain
/// path costs one branch. Models Asio's AsyncReadStream and AsyncWriteStream for the
/// completion tokens Herald uses (callbacks and awaitables).
class Transport {
 public:
  using Socket = asio::ip::tcp::socket;
  using executor_type = Socket::executor_type;

  /// Plain TCP.
  explicit Transport(Socket socket) : plain_(std::move(socket)) {}
  /// TLS, server side, over `socket`; async_handshake() first. Keeps `tls` alive: a
  /// certificate reload swaps the server's context while connections still use the old one.
  Transport(Socket socket, std::shared_ptr<asio::ssl::context> tls)
      : plain_(socket.get_executor()), tls_(std::make_unique<TlsSocket>(std::move(socket), std::move(tls))) {}

  bool is_tls() const { return tls_ != nullptr; }
  /// The TCP socket underneath: for options, cancel, shutdown and close.
  Socket& socket() { return tls_ ? tls_->socket() : plain_; }
  executor_type get_executor() { return socket().get_executor(); }

  /// TLS only: the server side of the handshake, before anything else is read or written.
  template <typename Token>
  auto async_handshake(Token&& token) {
    return tls_->async_handshake(std::forward<Token>(token));
  }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    if (tls_) return tls_->async_read_some(buffers, std::forward<Token>(token));
    return plain_.async_read_some(buffers, std::forward<Token>(token));
  }

  /// TLS writes one buffer per call: give it one contiguous buffer, not a gather list.
  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    if (tls_) return tls_->async_write_some(buffers, std::forward<Token>(token));
    return plain_.async_write_some(buffers, std::forward<Token>(token));
  }

  /// Shuts the TCP connection down both ways and closes it. TLS: without close_notify; every
  /// response Herald sends is delimited (Content-Length or chunked), so a truncation shows.
  void close() {
    std::error_code ignored;
    socket().shutdown(Socket::shutdown_both, ignored);
    socket().close(ignored);
  }

 private:
  Socket plain_;  ///< the connection itself, or an unopened placeholder under TLS
  std::unique_ptr<TlsSocket> tls_;
};

}  // namespace herald
