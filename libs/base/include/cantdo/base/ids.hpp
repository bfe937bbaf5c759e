#pragma once
// Identifiers and secrets. Randomness comes from a `RandomSource` so tests
// can make it deterministic; production uses the OS CSPRNG via OpenSSL.

#include <cstdint>
#include <span>
#include <string>
#include "absl/strings/string_view.h"

namespace cantdo {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Fills `out` with random bytes. Never fails (aborts if the CSPRNG does,
  // which only happens on a broken system).
  virtual void Fill(std::span<std::uint8_t> out) = 0;
};

// The OS CSPRNG (OpenSSL RAND_bytes). Thread-safe; lives forever.
RandomSource& SecureRandom();

// A random RFC 9562 UUID version 4, lowercase canonical text form.
std::string NewUuid(RandomSource& random = SecureRandom());

// `bytes` random bytes as unpadded base64url: for bearer secrets and
// notification tokens (16 bytes = 128 bits at least).
std::string NewSecret(std::size_t bytes = 32, RandomSource& random = SecureRandom());

// Lowercase hex of SHA-256(data).
std::string Sha256Hex(absl::string_view data);

// Constant-time equality for secrets of possibly different lengths.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace cantdo
