#include "server/tls_context.hpp"

#include <cstring>
#include <string>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace herald {

namespace {

// Herald speaks HTTP/1.1 only; say so to clients that offer a list (browsers, curl).
int select_http11(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                  unsigned int in_len, void*) {
  static const unsigned char http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_len, http11, sizeof http11, in, in_len) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

std::string reason(const std::error_code& ec) {
  std::string text = ec.message();
  // Asio reports the first OpenSSL error; older ones would only confuse.
  ERR_clear_error();
  return text;
}

}  // namespace

std::unique_ptr<asio::ssl::context> make_tls_context(const Settings& s) {
  if (s.tls_cert.empty() && s.tls_key.empty()) return nullptr;
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression |
                   asio::ssl::context::single_dh_use);
  // The server's preference decides the cipher; buffers are freed while a stream is idle, which
  // is most of an SSE stream's life.
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  // Partial writes: a write completes per record, which the stream's byte accounting expects.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                               SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_alpn_select_cb(native, select_http11, nullptr);

  std::error_code ec;
  ctx->use_certificate_chain_file(s.tls_cert, ec);
  if (ec) throw SettingsError("invalid tls-cert '" + s.tls_cert + "': " + reason(ec));
  ctx->use_private_key_file(s.tls_key, asio::ssl::context::pem, ec);
  bool mismatch = ec && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH;
  if (ec && !mismatch) throw SettingsError("invalid tls-key '" + s.tls_key + "': " + reason(ec));
  if (mismatch || SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    throw SettingsError("invalid tls-key '" + s.tls_key + "': does not match the certificate in tls-cert");
  }
  return ctx;
}

}  // namespace herald
