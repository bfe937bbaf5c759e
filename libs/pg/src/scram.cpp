#include "cantdo/pg/scram.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <array>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace cantdo::pg {
namespace {

using Key = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

absl::string_view View(const Key& k) { return {reinterpret_cast<const char*>(k.data()), k.size()}; }

bool Hmac(const Key& key, absl::string_view text, Key& out) {
  unsigned int len = 0;
  return HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(text.data()), text.size(), out.data(), &len) != nullptr &&
         len == out.size();
}

}  // namespace

absl::StatusOr<std::string> ScramSha256Secret(absl::string_view password, absl::string_view salt, int iterations) {
  if (iterations < 1) return absl::InvalidArgumentError("SCRAM iterations must be at least 1");
  if (salt.empty()) return absl::InvalidArgumentError("SCRAM salt must not be empty");
  for (char c : password) {
    if (c < 0x20 || c > 0x7e) return absl::InvalidArgumentError("SCRAM password must be printable ASCII");
  }
  Key salted{}, client_key{}, stored_key{}, server_key{};
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()), iterations,
                        EVP_sha256(), static_cast<int>(salted.size()), salted.data()) != 1 ||
      !Hmac(salted, "Client Key", client_key) || !Hmac(salted, "Server Key", server_key) ||
      SHA256(client_key.data(), client_key.size(), stored_key.data()) == nullptr) {
    return absl::InternalError("SCRAM key derivation failed (OpenSSL)");
  }
  return absl::StrCat("SCRAM-SHA-256$", iterations, ":", absl::Base64Escape(salt), "$",
                      absl::Base64Escape(View(stored_key)), ":", absl::Base64Escape(View(server_key)));
}

}  // namespace cantdo::pg
