#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace herald {

/// What a valid token allows: topic patterns (exact names, a trailing `*` for a prefix, or
/// `*` for all) for publishing and for reading private topics and events.
struct Claims {
  std::vector<std::string> publish;
  std::vector<std::string> subscribe;
  /// The token's "exp" claim in Unix seconds (fractions dropped), if it has one.
  std::optional<std::int64_t> exp;
};

/// True when `topic` matches one of `patterns`.
bool topic_allowed(const std::vector<std::string>& patterns, std::string_view topic);

/// Verifies JSON Web Tokens signed with HS256 (a shared secret) or RS256 / ES256 (a public
/// key, so the signer's secret never reaches Herald). Signatures are checked with OpenSSL;
/// the token's "alg" must be the one the key is for (no "none", no algorithm confusion), and
/// "exp" and "nbf" are honoured with a leeway. Claims are read from a "herald" object:
/// {"herald": {"publish": ["orders/*"], "subscribe": ["orders/42"]}}.
/// Immutable after construction: any thread may call verify().
class JwtVerifier {
 public:
  /// HS256 with `secret`.
  static std::unique_ptr<JwtVerifier> with_secret(std::string secret, std::chrono::seconds leeway);
  /// RS256 or ES256 (P-256), from the type of the PEM public key. Throws std::runtime_error.
  static std::unique_ptr<JwtVerifier> with_public_key_pem(const std::string& pem, std::chrono::seconds leeway);
  ~JwtVerifier();

  /// The token's claims, or why it is refused (a short message that never quotes the token).
  std::variant<Claims, std::string> verify(std::string_view token,
                                           std::chrono::system_clock::time_point now) const;
  std::string_view algorithm() const { return algorithm_; }

 private:
  JwtVerifier() = default;
  bool signature_ok(std::string_view signed_part, const std::string& signature) const;

  std::string algorithm_;
  std::string secret_;
  void* public_key_ = nullptr;  // EVP_PKEY*, kept opaque to keep OpenSSL out of this header
  std::chrono::seconds leeway_{0};
};

}  // namespace herald
