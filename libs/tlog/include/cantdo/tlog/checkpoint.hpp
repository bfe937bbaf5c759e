#pragma once
// C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the body of a
// signed note that commits a log to its tree of `size` leaves:
//
//   <origin>\n
//   <size, decimal>\n
//   <root hash, base64>\n
//   [extension lines]
//
// The origin names the log (a schema-less URL, e.g. "cantdo.example/ledger");
// it is also the name of the key that signs it.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cantdo/tlog/merkle.hpp"
#include "cantdo/tlog/note.hpp"

namespace cantdo::tlog {

struct Checkpoint {
  std::string origin;
  int64_t size = 0;
  Hash root{};
  std::vector<std::string> extensions;

  std::string Text() const;
  // DATA_LOSS when `text` is not a checkpoint body.
  static absl::StatusOr<Checkpoint> Parse(absl::string_view text);
};

// A checkpoint read from a signed note: signed by `verifier`, whose key
// name must be the checkpoint's origin. DATA_LOSS otherwise.
absl::StatusOr<Checkpoint> OpenCheckpoint(absl::string_view note, const NoteVerifier& verifier);

}  // namespace cantdo::tlog
