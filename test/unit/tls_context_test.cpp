#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <unistd.h>

#include <openssl/ssl.h>

#include "config/settings_loader.hpp"
#include "server/tls_context.hpp"

using namespace herald;

namespace {

// A self-signed P-256 certificate (CN=herald-unit-test), its key, and an unrelated key.
const char* const cert_pem = R"(-----BEGIN CERTIFICATE-----
MIIBjjCCATOgAwIBAgIUGGNXpcWnmr0RvmO+5/8Yv07RiCcwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQaGVyYWxkLXVuaXQtdGVzdDAgFw0yNjExMjYwOTE0MjlaGA8y
MTI2MTEwMjA5MTQyOVowGzEZMBcGA1UEAwwQaGVyYWxkLXVuaXQtdGVzdDBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABPsZo8twMrqFQKNb3t+uUl/7mt3Di5OmHJy7
yF/+cqKbDkhMI1lSUgPnQYH734j+jZoH8xcOND9JuX6DCB1lQx+jUzBRMB0GA1Ud
DgQWBBTLDsxuuma7i9G5SfrHT7E0iWC1EzAfBgNVHSMEGDAWgBTLDsxuuma7i9G5
SfrHT7E0iWC1EzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQD9
UIC7q9r0oXkvRP21yXoFBQva7qS7gcUuZ1PXY9YcvAIhAK6rlMgUqFvH+QSRYF9v
jW/pHVglk9Di+t1NsggdtKag
-----END CERTIFICATE-----
)";
const char* const key_pem = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgwnE5TjXc6VMzMjXq
bDdx+NUM+ZzCvFYp76n+FoCIOtGhRANCAAT7GaPLcDK6hUCjW97frlJf+5rdw4uT
phycu8hf/nKimw5ITCNZUlID50GB+9+I/o2aB/MXDjQ/Sbl+gwgdZUMf
-----END PRIVATE KEY-----
)";
const char* const other_key_pem = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg2pcMzsAb9pWmlgLv
urzLywkmdlVs3GdZ8ZZGPf9pa2OhRANCAARMFpT/JebhhKftKGMo5ZxTZriNPnsU
YYHoG7rJsKJryMggTF+JC3J7vltAvAwjjVuQoIVfw0X+6SQ4VcK8fkrr
-----END PRIVATE KEY-----
)";

std::string write_temp(const std::string& name, const std::string& content) {
  std::string path = "/tmp/herald_tls_test_" + std::to_string(::getpid()) + "_" + name;
  std::ofstream(path) << content;
  return path;
}

std::string error_of(const Settings& s) {
  try {
    make_tls_context(s);
  } catch (const SettingsError& e) {
    return e.what();
  }
  return "no error";
}

std::string settings_error(std::vector<std::string> args) {
  try {
    load_settings(args, {});
  } catch (const SettingsError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("TLS is off unless a certificate and key are set") {
  Settings s = load_settings({}, {}).settings;
  CHECK_FALSE(s.tls());
  CHECK(s.plain_http);
  CHECK(s.tls_port == 8443);
  CHECK(make_tls_context(s) == nullptr);
}

TEST_CASE("TLS settings that cannot work stop startup, naming the setting") {
  CHECK(settings_error({"--tls-cert", "c.pem"}) == "invalid tls-cert: needs tls-key too");
  CHECK(settings_error({"--tls-key", "k.pem"}) == "invalid tls-key: needs tls-cert too");
  CHECK(settings_error({"--plain-http", "false"}) == "invalid plain-http: false needs tls-cert and tls-key");
  CHECK(settings_error({"--tls-cert", "c.pem", "--tls-key", "k.pem", "--port", "9000", "--tls-port", "9000"})
            .find("invalid tls-port") == 0);
  // HTTPS only may share the number: the plain port is not opened.
  CHECK(settings_error({"--tls-cert", "c.pem", "--tls-key", "k.pem", "--plain-http", "false", "--port", "9000",
                        "--tls-port", "9000"}) == "no error");
  CHECK(settings_error({"--plain-http", "maybe"}).find("invalid plain-http 'maybe'") == 0);
}

TEST_CASE("a certificate and its key make a TLS 1.2+ server context") {
  Settings s;
  s.tls_cert = write_temp("cert.pem", cert_pem);
  s.tls_key = write_temp("key.pem", key_pem);
  auto ctx = make_tls_context(s);
  REQUIRE(ctx != nullptr);
  CHECK(SSL_CTX_get_min_proto_version(ctx->native_handle()) == TLS1_2_VERSION);
  CHECK((SSL_CTX_get_options(ctx->native_handle()) & SSL_OP_NO_COMPRESSION) != 0);
  CHECK((SSL_CTX_get_options(ctx->native_handle()) & SSL_OP_NO_RENEGOTIATION) != 0);
  CHECK((SSL_CTX_get_mode(ctx->native_handle()) & SSL_MODE_RELEASE_BUFFERS) != 0);
  // TlsSocket's writes complete per record and are retried with the same buffer.
  CHECK((SSL_CTX_get_mode(ctx->native_handle()) & SSL_MODE_ENABLE_PARTIAL_WRITE) != 0);
  CHECK((SSL_CTX_get_mode(ctx->native_handle()) & SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER) != 0);
  std::remove(s.tls_cert.c_str());
  std::remove(s.tls_key.c_str());
}

TEST_CASE("unusable certificate or key files are named in the error") {
  Settings s;
  s.tls_cert = write_temp("cert2.pem", cert_pem);
  s.tls_key = write_temp("other.pem", other_key_pem);
  CHECK(error_of(s) == "invalid tls-key '" + s.tls_key + "': does not match the certificate in tls-cert");
  std::string good_key = write_temp("key2.pem", key_pem);
  Settings missing = s;
  missing.tls_cert = "/nonexistent/cert.pem";
  missing.tls_key = good_key;
  CHECK(error_of(missing).find("invalid tls-cert '/nonexistent/cert.pem': ") == 0);
  Settings garbage = s;
  garbage.tls_cert = s.tls_cert;
  garbage.tls_key = write_temp("garbage.pem", "not a key\n");
  CHECK(error_of(garbage).find("invalid tls-key '" + garbage.tls_key + "': ") == 0);
  Settings swapped = s;
  swapped.tls_cert = good_key;  // a key where the certificate belongs
  swapped.tls_key = good_key;
  CHECK(error_of(swapped).find("invalid tls-cert") == 0);
  for (const std::string& p : {s.tls_cert, s.tls_key, good_key, garbage.tls_key}) std::remove(p.c_str());
}
