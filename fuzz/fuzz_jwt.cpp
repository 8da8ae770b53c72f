// Fuzzes token handling (auth/jwt_verifier.cpp): JwtVerifier::verify with an HS256 secret or
// an RS256 / ES256 public key, and topic_allowed.
//
// Input: 1 setting byte, then what the mode reads.
//   byte 0, bits 0-1: the verifier's key: HS256 with the secret "fuzz-secret" (0 and 3), ES256
//                     (1) or RS256 (2), the test keys of fuzz_jwt_keys.hpp
//           bit 2:    leeway 30 s (else 0); "now" is always 1700000000 (2023-11-14)
//           bits 3-4: mode
//                     0: the rest is a token
//                     1: the rest is header JSON `\n` payload JSON, which the harness encodes
//                        and signs with the key (a header "alg" of HS256 under a public key is
//                        signed with HMAC over the public key's PEM: algorithm confusion)
//                     2: a token the harness builds and signs, bytes 1-5 choosing its header
//                        and claims (see build_token), then `\n`-separated strings: publish
//                        patterns, subscribe patterns, then topics to try the claims on
//                     3: topic_allowed: byte 1 % 8 patterns then topics, `\n`-separated
//           bits 5-7: mixed into where the tamper checks change a valid token
//
// Invariants:
//   - verify() accepts a token exactly when a model built from RFC 7515/7519 does: three
//     segments of canonical unpadded base64url (so a signature has one encoding); a header
//     object whose "alg" is the key's and without "crit"; a signature that OpenSSL (or the
//     HMAC) confirms over the first two segments; a payload object; "exp" and "nbf" numbers
//     with now < exp + leeway (RFC 7519: expired on or after exp) and nbf <= now + leeway. So garbage never verifies, nor does
//     "none", another algorithm, or an HS256 token keyed with the public key.
//   - the claims of a valid token are the "herald" object's "publish" and "subscribe" strings
//   - an invalid signature is reported before anything in the payload is looked at (no
//     "token expired" for a token nobody signed)
//   - every refusal has a non-empty, one-line, printable message that never quotes the token
//     (messages other than Herald's fixed ones must not hold 8 bytes of it, or of what its
//     segments decode to)
//   - a valid token stops verifying when any byte of its signature is changed (decoded, or
//     as base64url text, including every other spelling of the last character), when a byte
//     of its header or payload is changed, or when it is cut or extended (a few positions per
//     input, which vary with the token and bits 5-7)
//   - topic_allowed(patterns, topic): some pattern is `*`, equals the topic, or ends in `*`
//     and the topic starts with what precedes it; the same as trying the patterns one by one
#include <fuzzer/FuzzedDataProvider.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/jwt_verifier.hpp"
#include "fuzz_common.hpp"
#include "fuzz_jwt_keys.hpp"

using herald::Claims;
using herald::JwtVerifier;
using herald::fuzz::escaped;
using json = nlohmann::json;

namespace {

constexpr std::int64_t kNow = 1'700'000'000;
const std::chrono::system_clock::time_point now_point{std::chrono::seconds(kNow)};
const std::string kSecret = "fuzz-secret";
constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Unpadded base64url, written here rather than borrowed from auth/.
std::string b64url(std::string_view in) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
  return out;
}

// The bytes `in` encodes, if it is the one encoding of them that b64url() gives.
std::optional<std::string> b64url_canonical(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    std::size_t v = kAlphabet.find(c);
    if (v == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (b64url(out) != in) return std::nullopt;  // leftover bits not zero
  return out;
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey read_pem(const char* pem, bool is_private) {
  BIO* bio = BIO_new_mem_buf(pem, -1);
  EVP_PKEY* key = is_private ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr)
                             : PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!key) __builtin_trap();
  return Pkey(key);
}

struct Key {
  std::string alg;
  std::string public_pem;       // empty for HS256
  Pkey private_key, public_key;  // null for HS256
  std::unique_ptr<JwtVerifier> verifier[2];  // leeway 0 s, 30 s
};

const Key& key(int which) {
  static const std::array<Key, 3> keys = [] {
    std::array<Key, 3> k;
    k[0].alg = "HS256";
    for (int leeway : {0, 1}) k[0].verifier[leeway] = JwtVerifier::with_secret(kSecret, std::chrono::seconds(30 * leeway));
    const char* pems[2][2] = {{herald::fuzz::kEcPrivatePem, herald::fuzz::kEcPublicPem},
                              {herald::fuzz::kRsaPrivatePem, herald::fuzz::kRsaPublicPem}};
    for (int i : {1, 2}) {
      k[i].alg = i == 1 ? "ES256" : "RS256";
      k[i].public_pem = pems[i - 1][1];
      k[i].private_key = read_pem(pems[i - 1][0], true);
      k[i].public_key = read_pem(pems[i - 1][1], false);
      for (int leeway : {0, 1})
        k[i].verifier[leeway] = JwtVerifier::with_public_key_pem(k[i].public_pem, std::chrono::seconds(30 * leeway));
      if (k[i].verifier[0]->algorithm() != k[i].alg) __builtin_trap();
    }
    return k;
  }();
  return keys[static_cast<std::size_t>(which)];
}

std::string hmac_sha256(std::string_view secret, std::string_view input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &length);
  return std::string(reinterpret_cast<char*>(mac), length);
}

// JOSE's ES256 signature R || S as the DER OpenSSL verifies, or empty.
std::string es256_der(std::string_view raw) {
  if (raw.size() != 64) return {};
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(p, 32, nullptr), BN_bin2bn(p + 32, 32, nullptr));
  unsigned char* der = nullptr;
  int n = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  std::string out = n > 0 ? std::string(reinterpret_cast<char*>(der), static_cast<std::size_t>(n)) : std::string();
  OPENSSL_free(der);
  return out;
}

// The signature `k` makes over `input` (for a token whose header says `header_alg`).
std::string sign(const Key& k, std::string_view header_alg, std::string_view input) {
  if (k.alg == "HS256") return hmac_sha256(kSecret, input);
  if (header_alg == "HS256") return hmac_sha256(k.public_pem, input);  // algorithm confusion
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t length = 0;
  std::string sig;
  if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, k.private_key.get()) == 1 &&
      EVP_DigestSign(ctx, nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1) {
    sig.resize(length);
    if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &length,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
      __builtin_trap();
    sig.resize(length);
  } else {
    __builtin_trap();
  }
  EVP_MD_CTX_free(ctx);
  if (k.alg == "ES256") {  // DER to R || S
    const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(ecdsa);
    sig = raw;
  }
  return sig;
}

// Whether `sig` is the key's signature over `input`, asked of OpenSSL (or the HMAC) directly.
bool signature_valid(const Key& k, std::string_view input, const std::string& sig) {
  if (k.alg == "HS256") return sig == hmac_sha256(kSecret, input);
  std::string der = k.alg == "ES256" ? es256_der(sig) : sig;
  if (der.empty()) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, k.public_key.get()) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                             reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

std::vector<std::string> strings_of(const json& object, const char* name) {
  std::vector<std::string> out;
  auto it = object.find(name);
  if (it != object.end() && it->is_array())
    for (const json& item : *it)
      if (item.is_string()) out.push_back(item.get<std::string>());
  return out;
}

// What verify() should answer, from the RFCs rather than from auth/.
struct Expected {
  bool valid = false;
  std::string why;          // why not, for failure messages
  bool signed_ok = false;   // the signature checked out (the claims may still be refused)
  Claims claims;
  std::vector<std::string> decoded;  // what the segments decode to
};

Expected expected(const Key& k, int leeway, std::string_view token) {
  Expected e;
  std::vector<std::string_view> segments;
  for (std::size_t start = 0;;) {
    std::size_t dot = token.find('.', start);
    segments.push_back(token.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  for (std::string_view s : segments)
    if (auto d = b64url_canonical(s)) e.decoded.push_back(*d);
  if (segments.size() != 3) return e.why = std::to_string(segments.size()) + " segments", e;
  if (e.decoded.size() != 3) return e.why = "a segment is not canonical base64url", e;
  json header = json::parse(e.decoded[0], nullptr, false);
  if (!header.is_object()) return e.why = "header not an object", e;
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string() || alg->get<std::string>() != k.alg) return e.why = "alg not " + k.alg, e;
  if (header.contains("crit")) return e.why = "crit", e;
  std::string_view input = token.substr(0, token.rfind('.'));
  if (!signature_valid(k, input, e.decoded[2])) return e.why = "signature", e;
  e.signed_ok = true;
  json payload = json::parse(e.decoded[1], nullptr, false);
  if (!payload.is_object()) return e.why = "payload not an object", e;
  if (auto exp = payload.find("exp"); exp != payload.end()) {
    if (!exp->is_number()) return e.why = "exp not a number", e;
    if (!(exp->get<double>() > static_cast<double>(kNow - leeway))) return e.why = "expired", e;
  }
  if (auto nbf = payload.find("nbf"); nbf != payload.end()) {
    if (!nbf->is_number()) return e.why = "nbf not a number", e;
    if (!(nbf->get<double>() <= static_cast<double>(kNow + leeway))) return e.why = "not yet valid", e;
  }
  if (auto h = payload.find("herald"); h != payload.end() && h->is_object()) {
    e.claims.publish = strings_of(*h, "publish");
    e.claims.subscribe = strings_of(*h, "subscribe");
  }
  e.valid = true;
  return e;
}

// topic_allowed as documented: a pattern is `*`, a name, or a prefix followed by `*`.
bool pattern_matches(std::string_view pattern, std::string_view topic) {
  if (pattern == "*") return true;
  if (!pattern.empty() && pattern.back() == '*') {
    std::string_view prefix = pattern.substr(0, pattern.size() - 1);
    return topic.size() >= prefix.size() && topic.compare(0, prefix.size(), prefix) == 0;
  }
  return pattern == topic;
}

void check_topics(const std::vector<std::string>& patterns, const std::vector<std::string>& topics) {
  for (const std::string& topic : topics) {
    bool any = false;
    for (const std::string& p : patterns) {
      bool one = herald::topic_allowed({p}, topic);
      FUZZ_CHECK(one == pattern_matches(p, topic), "pattern '" + escaped(p) + "' topic '" + escaped(topic) + "': " +
                                                       (one ? "allowed" : "refused"));
      any |= one;
    }
    FUZZ_CHECK(herald::topic_allowed(patterns, topic) == any,
               "topic '" + escaped(topic) + "': the patterns together differ from one by one");
    std::vector<std::string> with_all = patterns;
    with_all.push_back("*");
    FUZZ_CHECK(herald::topic_allowed(with_all, topic), "`*` does not allow '" + escaped(topic) + "'");
    FUZZ_CHECK(herald::topic_allowed({topic}, topic), "'" + escaped(topic) + "' does not allow itself");
    FUZZ_CHECK(herald::topic_allowed({topic + "*"}, topic + "/x"), "'" + escaped(topic) + "*' is not a prefix");
  }
}

bool fixed_message(const std::string& m) {
  static const char* fixed[] = {"malformed token", "unsupported critical header", "bad signature",
                                "malformed exp claim", "token expired", "malformed nbf claim", "token not valid yet"};
  for (const char* f : fixed)
    if (m == f) return true;
  return m.rfind("token must be signed with ", 0) == 0 && m.size() == 31;  // + an algorithm
}

bool claims_message(const std::string& m) {
  return m == "malformed exp claim" || m == "token expired" || m == "malformed nbf claim" || m == "token not valid yet";
}

void check_message(const std::string& m, std::string_view token, const Expected& e) {
  FUZZ_CHECK(!m.empty(), "an empty error message");
  FUZZ_CHECK(m.size() <= 120, "a long error message: " + escaped(m));
  for (char c : m) FUZZ_CHECK(c >= 0x20 && c < 0x7f, "error message not one printable line: " + escaped(m));
  if (!e.signed_ok) FUZZ_CHECK(!claims_message(m), "claims judged before the signature: " + m);
  if (fixed_message(m)) return;
  auto quotes = [&](std::string_view s) {
    for (std::size_t i = 0; i + 8 <= s.size(); ++i)
      if (m.find(s.substr(i, 8)) != std::string::npos) return true;
    return false;
  };
  FUZZ_CHECK(!quotes(token), "error message quotes the token: " + escaped(m));
  for (const std::string& d : e.decoded) FUZZ_CHECK(!quotes(d), "error message quotes the token's content: " + escaped(m));
}

// Verifies `token` and compares with the model; returns whether it was valid.
bool check_token(const Key& k, int leeway, std::string_view token) {
  auto result = k.verifier[leeway ? 1 : 0]->verify(token, now_point);
  Expected e = expected(k, leeway, token);
  auto where = [&] { return k.alg + ", leeway " + std::to_string(leeway) + ", token '" + escaped(token, 600) + "'"; };
  if (auto* m = std::get_if<std::string>(&result)) {
    FUZZ_CHECK(!e.valid, "refused (" + *m + ") a valid token: " + where());
    check_message(*m, token, e);
    return false;
  }
  FUZZ_CHECK(e.valid, "verified a token that is not valid (" + e.why + "): " + where());
  const Claims& c = std::get<Claims>(result);
  FUZZ_CHECK(c.publish == e.claims.publish && c.subscribe == e.claims.subscribe, "claims differ: " + where());
  return true;
}

// A changed valid token is refused, with a proper message. (The model isn't asked: these
// changes can't make a token valid, and skipping it halves the signature checks.)
void must_fail(const Key& k, int leeway, std::string_view token, const std::string& change) {
  auto result = k.verifier[leeway ? 1 : 0]->verify(token, now_point);
  auto* m = std::get_if<std::string>(&result);
  FUZZ_CHECK(m, "still valid after " + change + ": " + k.alg + ", token '" + escaped(token, 600) + "'");
  check_message(*m, token, Expected{});  // no change leaves a valid signature: no claims message
}

// A valid token changed in any way is refused: a bit of a signature byte, a character of the
// signature's text (every other spelling of its last character, whose low bits encode
// nothing, and a few others), a character of the header or payload, cut, extended. Which
// positions depends on `tamper` and the token, so that runs over many inputs try them all.
void tamper_checks(const Key& k, int leeway, const std::string& token, unsigned tamper) {
  std::size_t dot = token.rfind('.');
  std::string head = token.substr(0, dot + 1);
  std::string text = token.substr(dot + 1);
  std::string sig = *b64url_canonical(text);
  std::size_t spread = std::hash<std::string>{}(token) ^ tamper;
  for (std::size_t n = 0; n < 4; ++n) {
    std::size_t i = n == 0 ? 0 : n == 1 ? sig.size() - 1 : (spread >> (8 * n)) % sig.size();
    std::string s = sig;
    s[i] = static_cast<char>(s[i] ^ (1 << ((spread + n) % 8)));
    must_fail(k, leeway, head + b64url(s), "flipping a bit of signature byte " + std::to_string(i));
  }
  std::size_t last = kAlphabet.find(text.back());
  std::size_t spare = text.size() * 6 % 8;  // the last character's bits that encode nothing
  for (std::size_t low = 1; low < (std::size_t(1) << spare); ++low)
    must_fail(k, leeway, head + text.substr(0, text.size() - 1) + kAlphabet[last ^ low],
              "setting unused bits of the last character");
  for (std::size_t n = 0; n < 3; ++n) {
    std::size_t i = n == 0 ? 0 : (spread >> (8 * n + 4)) % text.size();
    std::string t = token;
    t[dot + 1 + i] = kAlphabet[(kAlphabet.find(t[dot + 1 + i]) + 1 + tamper) % 64];  // another character
    must_fail(k, leeway, t, "changing signature character " + std::to_string(i));
  }
  for (std::size_t i : {spread % dot, (spread >> 16) % dot}) {
    std::string t = token;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    must_fail(k, leeway, t, "changing character " + std::to_string(i));
  }
  must_fail(k, leeway, token.substr(0, token.size() - 1), "cutting the last character");
  must_fail(k, leeway, token + "A", "appending a character");
  must_fail(k, leeway, token + ".", "appending a dot");
  must_fail(k, leeway, head, "removing the signature");
}

std::vector<std::string> strings_from(FuzzedDataProvider& fdp) {
  std::vector<std::string> out;
  while (fdp.remaining_bytes() > 0) out.push_back(fdp.ConsumeRandomLengthString(256));
  return out;
}

// A token from bytes 1-5 and strings; see the comments on each byte.
std::string build_token(const Key& k, const std::uint8_t* b, std::vector<std::string>& strings,
                        std::vector<std::string>& topics) {
  // byte 1, bits 0-2: "alg" (the key's, mostly); bit 3: "crit"; bit 4: "typ"; bit 5: "alg"
  // twice, "none" first; bit 6: the header is an array; bit 7: a "kid"
  static const char* algs[] = {nullptr, nullptr, nullptr, "HS256", "RS256", "ES256", "none", "hs256"};
  const char* alg = algs[b[1] & 7] ? algs[b[1] & 7] : k.alg.c_str();
  std::string header_text;
  if (b[1] & 0x40) {
    header_text = json::array({"alg", alg}).dump();
  } else {
    header_text = "{";
    if (b[1] & 0x20) header_text += R"("alg":"none",)";
    header_text += R"("alg":)" + json(alg).dump();
    if (b[1] & 0x08) header_text += R"(,"crit":["exp"])";
    if (b[1] & 0x10) header_text += R"(,"typ":"JWT")";
    if (b[1] & 0x80) header_text += R"(,"kid":"1")";
    header_text += "}";
  }
  // byte 2, bits 0-2 "exp", bits 3-5 "nbf": absent, now + offset (byte 3 / byte 4, signed),
  // that + 0.5, a string, null, true, 1e300, INT64_MIN; bits 6-7 "herald": an object, absent,
  // a string, an object whose lists hold other things too
  auto time_claim = [](int kind, std::int8_t offset) -> std::optional<json> {
    switch (kind) {
      case 0: return std::nullopt;
      case 1: return json(kNow + offset);
      case 2: return json(static_cast<double>(kNow + offset) + 0.5);
      case 3: return json(std::to_string(kNow + offset));
      case 4: return json(nullptr);
      case 5: return json(true);
      case 6: return json(1e300);
      default: return json(INT64_MIN);
    }
  };
  json payload = json::object();
  if (auto exp = time_claim(b[2] & 7, static_cast<std::int8_t>(b[3]))) payload["exp"] = *exp;
  if (auto nbf = time_claim((b[2] >> 3) & 7, static_cast<std::int8_t>(b[4]))) payload["nbf"] = *nbf;
  // byte 5, bits 0-2: how many strings are publish patterns, bits 3-5 subscribe patterns
  // (the rest are topics); bit 6: "publish" is a string, not a list; bit 7: an unknown claim
  std::size_t n_publish = std::min<std::size_t>(b[5] & 7, strings.size());
  std::size_t n_subscribe = std::min<std::size_t>((b[5] >> 3) & 7, strings.size() - n_publish);
  json publish(std::vector<std::string>(strings.begin(), strings.begin() + static_cast<long>(n_publish)));
  json subscribe(std::vector<std::string>(strings.begin() + static_cast<long>(n_publish),
                                          strings.begin() + static_cast<long>(n_publish + n_subscribe)));
  topics.assign(strings.begin() + static_cast<long>(n_publish + n_subscribe), strings.end());
  int herald_kind = b[2] >> 6;
  if (herald_kind == 3) {
    publish.push_back(42);
    publish.push_back(nullptr);
    subscribe.insert(subscribe.begin(), json::array({"nested"}));
  }
  if (herald_kind == 0 || herald_kind == 3)
    payload["herald"] = {{"publish", (b[5] & 0x40) ? json("*") : publish}, {"subscribe", subscribe}};
  else if (herald_kind == 2)
    payload["herald"] = "everything";
  if (b[5] & 0x80) payload["sub"] = "someone";
  // Invalid UTF-8 in a pattern becomes U+FFFD (the model reads the claims back from the text).
  std::string payload_text = payload.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string input = b64url(header_text) + "." + b64url(payload_text);
  return input + "." + b64url(sign(k, alg, input));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const Key& k = key((data[0] & 3) == 3 ? 0 : data[0] & 3);
  int leeway = (data[0] & 4) ? 30 : 0;
  int mode = (data[0] >> 3) & 3;
  unsigned tamper = data[0] >> 5;

  std::string token;
  std::vector<std::string> topics;
  if (mode == 0) {
    token.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  } else if (mode == 1) {
    FuzzedDataProvider fdp(data + 1, size - 1);
    std::string header_text = fdp.ConsumeRandomLengthString(1024);
    std::string payload_text = fdp.ConsumeRemainingBytesAsString();
    json header = json::parse(header_text, nullptr, false);
    std::string alg = header.is_object() && header.contains("alg") && header["alg"].is_string() ? header["alg"].get<std::string>() : "";
    std::string input = b64url(header_text) + "." + b64url(payload_text);
    token = input + "." + b64url(sign(k, alg, input));
  } else if (mode == 2) {
    if (size < 6) return 0;
    FuzzedDataProvider fdp(data + 6, size - 6);
    std::vector<std::string> strings = strings_from(fdp);
    token = build_token(k, data, strings, topics);
  } else {
    if (size < 2) return 0;
    FuzzedDataProvider fdp(data + 2, size - 2);
    std::vector<std::string> strings = strings_from(fdp);
    std::size_t n = std::min<std::size_t>(data[1] % 8, strings.size());
    std::vector<std::string> patterns(strings.begin(), strings.begin() + static_cast<long>(n));
    topics.assign(strings.begin() + static_cast<long>(n), strings.end());
    check_topics(patterns, topics);
    return 0;
  }

  if (check_token(k, leeway, token)) {
    auto claims = std::get<Claims>(k.verifier[leeway ? 1 : 0]->verify(token, now_point));
    check_topics(claims.publish, topics);
    check_topics(claims.subscribe, topics);
    tamper_checks(k, leeway, token, tamper);
  }
  return 0;
}
