#include "cantdo/tlog/checkpoint.hpp"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cantdo/base/status.hpp"

namespace cantdo::tlog {

std::string Checkpoint::Text() const {
  std::string out = absl::StrCat(origin, "\n", size, "\n", HashBase64(root), "\n");
  for (const std::string& e : extensions) absl::StrAppend(&out, e, "\n");
  return out;
}

absl::StatusOr<Checkpoint> Checkpoint::Parse(absl::string_view text) {
  const auto bad = [](absl::string_view why) { return absl::DataLossError(absl::StrCat("not a checkpoint: ", why)); };
  if (text.empty() || text.back() != '\n') return bad("it must end with a newline");
  text.remove_suffix(1);
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (lines.size() < 3) return bad("origin, size and root hash lines expected");
  Checkpoint c;
  c.origin = lines[0];
  if (c.origin.empty()) return bad("empty origin");
  const std::string& size = lines[1];
  if (size.empty() || (size.size() > 1 && size[0] == '0') ||
      size.find_first_not_of("0123456789") != std::string::npos || !absl::SimpleAtoi(size, &c.size)) {
    return bad("the size is not a decimal number");
  }
  auto root = HashFromBase64(lines[2]);
  if (!root.ok()) return bad("the root hash is not 32 bytes of base64");
  c.root = *root;
  for (size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) return bad("empty extension line");
    c.extensions.push_back(lines[i]);
  }
  return c;
}

absl::StatusOr<Checkpoint> OpenCheckpoint(absl::string_view note, const NoteVerifier& verifier) {
  CANTDO_ASSIGN_OR_RETURN(std::string text, OpenNote(note, verifier));
  CANTDO_ASSIGN_OR_RETURN(Checkpoint c, Checkpoint::Parse(text));
  if (c.origin != verifier.name()) {
    return absl::DataLossError(
        absl::StrCat("checkpoint of log '", c.origin, "' signed by key '", verifier.name(), "'"));
  }
  return c;
}

}  // namespace cantdo::tlog
