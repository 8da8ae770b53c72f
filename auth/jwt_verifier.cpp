#include "auth/jwt_verifier.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>

namespace herald {

namespace {

// base64url without padding (RFC 7515), strictly: any other character is an error, and so are
// bits left over in the last character that are not zero (RFC 4648 section 3.5), so that each
// token has one spelling: else "...RAw" and "...RAx" would carry the same signature.
bool base64url_decode(std::string_view in, std::string& out) {
  static const auto table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    const char* chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(chars[i])] = i;
    return t;
  }();
  if (in.size() % 4 == 1) return false;
  out.clear();
  out.reserve(in.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  for (unsigned char c : in) {
    int v = table[c];
    if (v < 0) return false;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  return (buffer & ((1u << bits) - 1)) == 0;
}

std::vector<std::string> string_list(const nlohmann::json& claims, const char* key) {
  std::vector<std::string> out;
  auto it = claims.find(key);
  if (it == claims.end() || !it->is_array()) return out;
  for (const auto& item : *it)
    if (item.is_string()) out.push_back(item.get<std::string>());
  return out;
}

// ES256 is ECDSA on P-256 only (RFC 7518 3.4); another 256-bit curve (secp256k1, brainpool)
// is a different algorithm that no ES256 signer uses.
bool is_p256(EVP_PKEY* key) {
  char curve[64] = {};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve, &len) != 1) return false;
  return std::string_view(curve, len) == "prime256v1" || std::string_view(curve, len) == "P-256";
}

}  // namespace

bool topic_allowed(const std::vector<std::string>& patterns, std::string_view topic) {
  for (const std::string& p : patterns) {
    if (p == "*" || p == topic) return true;
    if (!p.empty() && p.back() == '*' && topic.substr(0, p.size() - 1) == std::string_view(p).substr(0, p.size() - 1))
      return true;
  }
  return false;
}

std::unique_ptr<JwtVerifier> JwtVerifier::with_secret(std::string secret, std::chrono::seconds leeway) {
  std::unique_ptr<JwtVerifier> v(new JwtVerifier());
  v->algorithm_ = "HS256";
  v->secret_ = std::move(secret);
  v->leeway_ = leeway;
  return v;
}

std::unique_ptr<JwtVerifier> JwtVerifier::with_public_key_pem(const std::string& pem, std::chrono::seconds leeway) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = bio ? PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (!key) throw std::runtime_error("not a PEM public key");
  std::unique_ptr<JwtVerifier> v(new JwtVerifier());
  v->public_key_ = key;
  v->leeway_ = leeway;
  if (EVP_PKEY_base_id(key) == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(key) < 2048) throw std::runtime_error("RSA keys must have at least 2048 bits");
    v->algorithm_ = "RS256";
  } else if (EVP_PKEY_base_id(key) == EVP_PKEY_EC && is_p256(key)) {
    v->algorithm_ = "ES256";
  } else {
    throw std::runtime_error("the key must be RSA (RS256) or EC P-256 (ES256)");
  }
  return v;
}

JwtVerifier::~JwtVerifier() { EVP_PKEY_free(static_cast<EVP_PKEY*>(public_key_)); }

bool JwtVerifier::signature_ok(std::string_view signed_part, const std::string& signature) const {
  if (algorithm_ == "HS256") {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
              reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac, &length))
      return false;
    return signature.size() == length && CRYPTO_memcmp(mac, signature.data(), length) == 0;
  }
  std::string der;
  const std::string* sig = &signature;
  if (algorithm_ == "ES256") {
    // JWS carries ECDSA signatures as R || S (32 bytes each); OpenSSL verifies DER.
    if (signature.size() != 64) return false;
    ECDSA_SIG* ecdsa = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()), 32, nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()) + 32, 32, nullptr);
    if (!ecdsa || !r || !s || !ECDSA_SIG_set0(ecdsa, r, s)) {
      BN_free(r);
      BN_free(s);
      ECDSA_SIG_free(ecdsa);
      return false;
    }
    unsigned char* out = nullptr;
    int n = i2d_ECDSA_SIG(ecdsa, &out);
    ECDSA_SIG_free(ecdsa);
    if (n <= 0) return false;
    der.assign(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
    OPENSSL_free(out);
    sig = &der;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx &&
            EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, static_cast<EVP_PKEY*>(public_key_)) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                             reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

std::variant<Claims, std::string> JwtVerifier::verify(std::string_view token,
                                                      std::chrono::system_clock::time_point now) const {
  std::size_t first = token.find('.');
  std::size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return std::string("malformed token");
  std::string header_text, payload_text, signature;
  if (!base64url_decode(token.substr(0, first), header_text) ||
      !base64url_decode(token.substr(first + 1, second - first - 1), payload_text) ||
      !base64url_decode(token.substr(second + 1), signature))
    return std::string("malformed token");

  auto header = nlohmann::json::parse(header_text, nullptr, false);
  if (!header.is_object()) return std::string("malformed token");
  auto alg = header.find("alg");
  // The algorithm is the key's, never the token's choice.
  if (alg == header.end() || !alg->is_string() || *alg != algorithm_)
    return "token must be signed with " + algorithm_;
  if (header.contains("crit")) return std::string("unsupported critical header");
  if (!signature_ok(token.substr(0, second), signature)) return std::string("bad signature");

  auto payload = nlohmann::json::parse(payload_text, nullptr, false);
  if (!payload.is_object()) return std::string("malformed token");
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  auto leeway = leeway_.count();
  Claims claims;
  if (auto exp = payload.find("exp"); exp != payload.end()) {
    if (!exp->is_number()) return std::string("malformed exp claim");
    double at = exp->get<double>();
    // Valid only before exp (RFC 7519), to the fraction of a second: a stream its token let
    // open ends at exp, and a reconnect at that moment must not be let in again.
    double now_exact = std::chrono::duration<double>(now.time_since_epoch()).count();
    if (now_exact >= at + static_cast<double>(leeway)) return std::string("token expired");
    constexpr double year_9999 = 253402300799.0;  // keeps the conversion defined for absurd values
    claims.exp = static_cast<std::int64_t>(std::min(at, year_9999));
  }
  if (auto nbf = payload.find("nbf"); nbf != payload.end()) {
    if (!nbf->is_number()) return std::string("malformed nbf claim");
    if (seconds + leeway < nbf->get<double>()) return std::string("token not valid yet");
  }
  if (auto herald = payload.find("herald"); herald != payload.end() && herald->is_object()) {
    claims.publish = string_list(*herald, "publish");
    claims.subscribe = string_list(*herald, "subscribe");
  }
  return claims;
}

}  // namespace herald
