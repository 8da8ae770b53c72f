#pragma once
#include <memory>

#include <asio/ssl/context.hpp>

#include "config/settings.hpp"

namespace herald {

/// The TLS server context for --tls-cert and --tls-key, or null when TLS is off. TLS 1.2 at
/// least, OpenSSL's default ciphers, ALPN http/1.1. Throws SettingsError naming the setting
/// when a file cannot be read or the key does not match the certificate.
std::unique_ptr<asio::ssl::context> make_tls_context(const Settings& settings);

}  // namespace herald
