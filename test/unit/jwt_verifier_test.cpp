#include <doctest/doctest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth/jwt_verifier.hpp"

using namespace herald;
using Clock = std::chrono::system_clock;

namespace {

std::string b64url(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

std::string signing_input(const std::string& alg, const nlohmann::json& payload) {
  return b64url(nlohmann::json{{"alg", alg}, {"typ", "JWT"}}.dump()) + "." + b64url(payload.dump());
}

std::string hs256(const std::string& secret, const nlohmann::json& payload, const std::string& alg = "HS256") {
  std::string input = signing_input(alg, payload);
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &len);
  return input + "." + b64url(std::string(reinterpret_cast<char*>(mac), len));
}

struct KeyPair {
  KeyPair(EVP_PKEY* k, std::string pem) : key(k), public_pem(std::move(pem)) {}
  EVP_PKEY* key;
  std::string public_pem;
  ~KeyPair() { EVP_PKEY_free(key); }
  KeyPair(const KeyPair&) = delete;
  KeyPair& operator=(const KeyPair&) = delete;
};

std::unique_ptr<KeyPair> keypair(bool ec) {
  EVP_PKEY* key = ec ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                     : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::unique_ptr<KeyPair> kp(new KeyPair(key, std::string(data, static_cast<std::size_t>(n))));
  BIO_free(bio);
  return kp;
}

std::string sign(const KeyPair& kp, const std::string& alg, const nlohmann::json& payload) {
  std::string input = signing_input(alg, payload);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, kp.key);
  size_t len = 0;
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (alg == "ES256") {  // DER to JOSE's R || S
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(ecdsa);
    sig = raw;
  }
  return input + "." + b64url(sig);
}

const std::string secret = "0123456789abcdef0123456789abcdef";
const nlohmann::json claims = {{"herald", {{"publish", {"orders/*"}}, {"subscribe", {"orders/42", "news"}}}}};

std::string error_of(const JwtVerifier& v, const std::string& token, Clock::time_point now = Clock::now()) {
  auto r = v.verify(token, now);
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}

}  // namespace

TEST_CASE("topic patterns: exact names, trailing wildcard, everything") {
  CHECK(topic_allowed({"orders/42"}, "orders/42"));
  CHECK_FALSE(topic_allowed({"orders/42"}, "orders/421"));
  CHECK(topic_allowed({"orders/*"}, "orders/7"));
  CHECK(topic_allowed({"orders/*"}, "orders/"));
  CHECK_FALSE(topic_allowed({"orders/*"}, "order"));
  CHECK(topic_allowed({"*"}, "anything"));
  CHECK_FALSE(topic_allowed({}, "a"));
}

TEST_CASE("HS256 tokens: claims from a good token, refusals say why") {
  auto v = JwtVerifier::with_secret(secret, std::chrono::seconds(5));
  auto good = v->verify(hs256(secret, claims), Clock::now());
  REQUIRE(std::holds_alternative<Claims>(good));
  CHECK(std::get<Claims>(good).publish == std::vector<std::string>{"orders/*"});
  CHECK(std::get<Claims>(good).subscribe == std::vector<std::string>{"orders/42", "news"});

  CHECK(error_of(*v, hs256("another secret of thirty-two bytes!", claims)) == "bad signature");
  CHECK(error_of(*v, "not.a.token!") == "malformed token");
  CHECK(error_of(*v, "abc") == "malformed token");
  std::string token = hs256(secret, claims);
  token[token.rfind('.') + 2] ^= 1;  // tamper with the signature
  CHECK(error_of(*v, token) == "bad signature");
}

TEST_CASE("exp and nbf are checked with the leeway") {
  auto v = JwtVerifier::with_secret(secret, std::chrono::seconds(5));
  auto now = Clock::now();
  auto at = [&](int offset) { return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() + offset; };
  CHECK(error_of(*v, hs256(secret, {{"exp", at(-60)}}), now) == "token expired");
  CHECK(error_of(*v, hs256(secret, {{"exp", at(-3)}}), now).empty());  // within the leeway
  CHECK(error_of(*v, hs256(secret, {{"nbf", at(60)}}), now) == "token not valid yet");
  CHECK(error_of(*v, hs256(secret, {{"nbf", at(3)}}), now).empty());
  CHECK(error_of(*v, hs256(secret, {{"exp", "tomorrow"}}), now) == "malformed exp claim");
}

TEST_CASE("exp: expired from that very moment, and passed on in the claims") {
  auto v = JwtVerifier::with_secret(secret, std::chrono::seconds(0));
  std::int64_t exp = 1893456000;
  auto at_exp = Clock::time_point(std::chrono::seconds(exp));
  CHECK(error_of(*v, hs256(secret, {{"exp", exp}}), at_exp) == "token expired");
  CHECK(error_of(*v, hs256(secret, {{"exp", exp}}), at_exp + std::chrono::milliseconds(300)) == "token expired");
  auto before = v->verify(hs256(secret, {{"exp", exp}}), at_exp - std::chrono::milliseconds(300));
  REQUIRE(std::holds_alternative<Claims>(before));
  CHECK(std::get<Claims>(before).exp == exp);
  auto fractional = v->verify(hs256(secret, {{"exp", 1893456000.75}}), at_exp);
  REQUIRE(std::holds_alternative<Claims>(fractional));
  CHECK(std::get<Claims>(fractional).exp == exp);
  auto none = v->verify(hs256(secret, {{"herald", {{"publish", {"*"}}}}}), at_exp);
  REQUIRE(std::holds_alternative<Claims>(none));
  CHECK_FALSE(std::get<Claims>(none).exp.has_value());
}

TEST_CASE("a token has one spelling: leftover bits in the last base64url character must be zero") {
  auto v = JwtVerifier::with_secret(secret, std::chrono::seconds(0));
  std::string token = hs256(secret, claims);
  REQUIRE(error_of(*v, token).empty());
  // The 32-byte signature takes 43 characters; the last one's 2 low bits encode nothing, and
  // setting them gave another token that verified (found by fuzz/fuzz_jwt.cpp).
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::size_t last = alphabet.find(token.back());
  REQUIRE(last % 4 == 0);
  for (std::size_t low = 1; low < 4; ++low) {
    CAPTURE(low);
    token.back() = alphabet[last + low];
    CHECK(error_of(*v, token) == "malformed token");
  }
}

TEST_CASE("the algorithm is the key's: none and others are refused") {
  auto v = JwtVerifier::with_secret(secret, std::chrono::seconds(0));
  std::string unsigned_token = signing_input("none", claims) + ".";
  CHECK(error_of(*v, unsigned_token) == "token must be signed with HS256");
  CHECK(error_of(*v, hs256(secret, claims, "HS512")) == "token must be signed with HS256");
}

TEST_CASE("RS256 and ES256 tokens verify with the public key only") {
  for (bool ec : {false, true}) {
    CAPTURE(ec);
    auto kp = keypair(ec);
    std::string alg = ec ? "ES256" : "RS256";
    auto v = JwtVerifier::with_public_key_pem(kp->public_pem, std::chrono::seconds(0));
    CHECK(v->algorithm() == alg);
    auto good = v->verify(sign(*kp, alg, claims), Clock::now());
    REQUIRE(std::holds_alternative<Claims>(good));
    CHECK(std::get<Claims>(good).subscribe.size() == 2);
    auto other = keypair(ec);
    CHECK(error_of(*v, sign(*other, alg, claims)) == "bad signature");
    // Algorithm confusion: an HS256 token "signed" with the public key as the secret.
    CHECK(error_of(*v, hs256(kp->public_pem, claims)) == "token must be signed with " + alg);
  }
}

TEST_CASE("keys that cannot verify are refused at startup") {
  CHECK_THROWS(JwtVerifier::with_public_key_pem("not a key", std::chrono::seconds(0)));
  // 256 bits, but not P-256: no ES256 signer uses these curves.
  for (const char* curve : {"secp256k1", "brainpoolP256r1"}) {
    CAPTURE(curve);
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve);
    REQUIRE(key != nullptr);
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    EVP_PKEY_free(key);
    CHECK_THROWS_WITH(JwtVerifier::with_public_key_pem(pem, std::chrono::seconds(0)),
                      "the key must be RSA (RS256) or EC P-256 (ES256)");
  }
  KeyPair* p256 = keypair(true).release();
  CHECK_NOTHROW(JwtVerifier::with_public_key_pem(p256->public_pem, std::chrono::seconds(0)));
  delete p256;
}
