#pragma once
#include <cerrno>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <utility>

#include <asio/buffer.hpp>
#include <asio/compose.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/error.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace herald {

/// TLS, server side, with OpenSSL reading and writing the socket itself (non-blocking) and
/// Asio only saying when it is ready, as nginx does. Asio's ssl::stream keeps four 17 KB
/// record buffers per connection for as long as it lives; here OpenSSL's own buffers are
/// released while a connection is idle (SSL_MODE_RELEASE_BUFFERS), which is most of an SSE
/// stream's life. One read and one write may be in progress at once, on one thread.
class TlsSocket {
 public:
  using Socket = asio::ip::tcp::socket;

  TlsSocket(Socket socket, std::shared_ptr<asio::ssl::context> context)
      : socket_(std::move(socket)), context_(std::move(context)), ssl_(SSL_new(context_->native_handle())) {
    if (!ssl_ || SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle())) != 1) {
      SSL_free(ssl_);
      ERR_clear_error();
      throw std::runtime_error("cannot set up TLS for a connection");
    }
    SSL_set_accept_state(ssl_);
    std::error_code ignored;
    socket_.non_blocking(true, ignored);
  }
  ~TlsSocket() { SSL_free(ssl_); }
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;

  Socket& socket() { return socket_; }

  template <typename Token>
  auto async_handshake(Token&& token) {
    return start<void(std::error_code)>(
        [](SSL* ssl, std::size_t&) { return SSL_do_handshake(ssl); }, std::forward<Token>(token));
  }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    asio::mutable_buffer b = first(buffers);
    return start<void(std::error_code, std::size_t)>(
        [b](SSL* ssl, std::size_t& n) { return SSL_read_ex(ssl, b.data(), b.size(), &n); },
        std::forward<Token>(token));
  }

  /// With SSL_MODE_ENABLE_PARTIAL_WRITE: completes after each record. One buffer per call.
  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    asio::const_buffer b = first(buffers);
    return start<void(std::error_code, std::size_t)>(
        [b](SSL* ssl, std::size_t& n) { return SSL_write_ex(ssl, b.data(), b.size(), &n); },
        std::forward<Token>(token));
  }

 private:
  template <typename Buffer, typename Buffers>
  static Buffer first_of(const Buffers& buffers) {
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it)
      if (Buffer(*it).size() > 0) return Buffer(*it);
    return Buffer();
  }
  template <typename Buffers>
  static auto first(const Buffers& buffers) {
    using Value = typename std::iterator_traits<decltype(asio::buffer_sequence_begin(buffers))>::value_type;
    if constexpr (std::is_convertible_v<Value, asio::mutable_buffer>) return first_of<asio::mutable_buffer>(buffers);
    else return first_of<asio::const_buffer>(buffers);
  }

  /// The result of an OpenSSL call that did not succeed: wait for the socket, or an error.
  enum class Next { wait_read, wait_write, fail };
  Next classify(int result, std::error_code& ec) {
    switch (SSL_get_error(ssl_, result)) {
      case SSL_ERROR_WANT_READ: return Next::wait_read;
      case SSL_ERROR_WANT_WRITE: return Next::wait_write;
      case SSL_ERROR_ZERO_RETURN: ec = asio::error::eof; break;  // close_notify
      case SSL_ERROR_SYSCALL:
        ec = errno ? std::error_code(errno, asio::error::get_system_category()) : asio::error::eof;
        break;
      default: {
        unsigned long e = ERR_peek_last_error();
        ec = e ? std::error_code(static_cast<int>(e), asio::error::get_ssl_category())
               : std::error_code(asio::error::connection_reset);
      }
    }
    ERR_clear_error();
    return Next::fail;
  }

  /// One OpenSSL call retried until it succeeds or fails; in between, the socket is waited on
  /// for whichever direction OpenSSL needs. A result at the first try is posted, not invoked
  /// inline, like Asio's own sockets do, so handlers never nest.
  template <typename Call>
  struct Op {
    TlsSocket& tls;
    Call call;
    bool started = false;

    template <typename Self>
    void operator()(Self& self, std::error_code ec = {}) {
      if (ec) return finish(self, ec, 0);
      ERR_clear_error();
      std::size_t n = 0;
      int result = call(tls.ssl_, n);
      bool first_try = !started;
      started = true;
      if (result != 1) {
        switch (tls.classify(result, ec)) {
          case Next::wait_read: return tls.socket_.async_wait(Socket::wait_read, std::move(self));
          case Next::wait_write: return tls.socket_.async_wait(Socket::wait_write, std::move(self));
          case Next::fail: break;
        }
      }
      if (!first_try) return finish(self, ec, n);
      auto ex = tls.socket_.get_executor();
      asio::post(ex, [self = std::move(self), ec, n]() mutable { finish(self, ec, n); });
    }

    template <typename Self>
    static void finish(Self& self, std::error_code ec, std::size_t n) {
      if constexpr (requires { self.complete(ec, n); }) self.complete(ec, n);
      else self.complete(ec);
    }
  };

  template <typename Signature, typename Call, typename Token>
  auto start(Call call, Token&& token) {
    return asio::async_compose<Token, Signature>(Op<Call>{*this, std::move(call)}, token, socket_);
  }

  Socket socket_;
  std::shared_ptr<asio::ssl::context> context_;  ///< kept alive: a reload may replace the server's
  SSL* ssl_;
};

}  // namespace herald
