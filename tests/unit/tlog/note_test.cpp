// C2SP signed notes and tlog checkpoints: what we sign opens with our
// verifier key and with nothing else; any change to the text or the
// signature is refused.
#include <catch2/catch.hpp>

#include "absl/strings/str_replace.h"
#include "cantdo/tlog/checkpoint.hpp"
#include "cantdo/tlog/note.hpp"

using namespace cantdo::tlog;

TEST_CASE("a signed checkpoint opens with its verifier key and not when altered", "[unit][tlog]") {
  auto signer = NoteSigner::Generate("cantdo.test/ledger");
  REQUIRE(signer.ok());
  auto verifier = NoteVerifier::Parse(signer->VerifierKey());
  REQUIRE(verifier.ok());
  Checkpoint cp;
  cp.origin = "cantdo.test/ledger";
  cp.size = 42;
  cp.root = LeafHash("root");
  auto note = signer->Sign(cp.Text());
  REQUIRE(note.ok());
  // The signature line: em dash, key name, base64(4-byte key hash || 64-byte signature).
  CHECK(note->find("\n\n\xe2\x80\x94 cantdo.test/ledger ") != std::string::npos);
  auto opened = OpenCheckpoint(*note, *verifier);
  REQUIRE(opened.ok());
  CHECK(opened->size == 42);
  CHECK(opened->root == cp.root);

  CHECK_FALSE(OpenCheckpoint(absl::StrReplaceAll(*note, {{"\n42\n", "\n43\n"}}), *verifier).ok());
  auto other = NoteSigner::Generate("cantdo.test/ledger");
  CHECK_FALSE(OpenCheckpoint(*note, *NoteVerifier::Parse(other->VerifierKey())).ok());
  // A signer key round-trips and signs the same (Ed25519 is deterministic).
  auto again = NoteSigner::Parse(signer->SignerKey());
  REQUIRE(again.ok());
  CHECK(*again->Sign(cp.Text()) == *note);
  // Malformed keys are refused without echoing them.
  auto bad = NoteSigner::Parse("PRIVATE+KEY+x+00000000+AAAA");
  CHECK_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("AAAA") == std::string::npos);
  CHECK_FALSE(NoteVerifier::Parse(absl::StrReplaceAll(signer->VerifierKey(), {{"+", "+0"}})).ok());
}

TEST_CASE("checkpoint bodies parse strictly", "[unit][tlog]") {
  CHECK_FALSE(Checkpoint::Parse("origin\n007\nAAAA\n").ok());
  CHECK_FALSE(Checkpoint::Parse("origin\n7\n").ok());
  CHECK_FALSE(Checkpoint::Parse("origin\n-1\n" + HashBase64(LeafHash("x")) + "\n").ok());
  auto ok = Checkpoint::Parse("origin\n7\n" + HashBase64(LeafHash("x")) + "\nextension\n");
  REQUIRE(ok.ok());
  CHECK(ok->extensions == std::vector<std::string>{"extension"});
}
