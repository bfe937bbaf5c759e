// Our checkpoints and proofs are what Go's transparency-log packages
// (golang.org/x/mod/sumdb/note and .../tlog, Debian's golang-golang-x-mod-dev)
// accept, so auditors' standard tools can check the ledger: a checkpoint
// signed with a key Go generated, inclusion proofs of real ledger entries
// and consistency proofs from the stored tree, all verified by Go; and a
// tampered proof refused by Go too.
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "authority/ledger.hpp"
#include "authority/ledger_tree.hpp"
#include "security/ledger_checkpoint/ledger_log.hpp"

using namespace cantdo::testing;
namespace tlog = cantdo::tlog;

namespace {

std::string GoVerifier() {
  const std::string path = BuildDir() + "/tests/interop/tlog-verify";
  INFO("the Go verifier is built when `go` and golang-golang-x-mod-dev are installed (scripts/setup): " << path);
  REQUIRE(std::filesystem::exists(path));
  return path;
}

ToolResult RunGo(LedgerLog& log, const std::vector<std::string>& args, const std::string& stdin_file = "") {
  std::vector<std::string> argv = {
      "/bin/sh", "-c", "\"$0\" \"$@\"" + std::string(stdin_file.empty() ? "" : " < \"$STDIN_FILE\""), GoVerifier()};
  argv.insert(argv.end(), args.begin(), args.end());
  static int runs = 0;
  ChildProcess p(argv, {{"STDIN_FILE", stdin_file}}, log.dir.path() + "/go-" + std::to_string(++runs) + ".log");
  return {p.Wait(absl::Seconds(60)), p.Log()};
}

nlohmann::json B64(const std::vector<tlog::Hash>& hs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& h : hs) out.push_back(tlog::HashBase64(h));
  return out;
}

}  // namespace

TEST_CASE("Go's sumdb/note and sumdb/tlog verify our checkpoints, inclusion proofs and consistency proofs",
          "[integration][tlog_interop]") {
  LedgerLog log;
  // A signer key made by Go's note.GenerateKey, used by our checkpointer.
  auto keys = RunGo(log, {"keygen", "cantdo.test/ledger"});
  REQUIRE(keys.exit == std::optional<int>(0));
  std::istringstream lines(keys.out);
  std::string skey, vkey;
  std::getline(lines, skey);
  std::getline(lines, vkey);
  auto signer = tlog::NoteSigner::Parse(skey);
  INFO(keys.out);
  REQUIRE(signer.ok());
  CHECK(signer->VerifierKey() == vkey);
  auto checkpointer = cantdo::authority::LedgerCheckpointer::Create(*signer, log.dir.path() + "/go-checkpoints");
  REQUIRE(checkpointer.ok());

  log.Append(37);  // not a power of two: proofs with every shape of step
  auto made = (*checkpointer)->MaybeCheckpoint(*log.conn);
  REQUIRE(made.ok());
  const int64_t size = (*checkpointer)->Latest().size;
  REQUIRE(size == 37);

  nlohmann::json in = {{"verifier_key", vkey}, {"note", (*checkpointer)->LatestNote()}};
  const auto read = cantdo::authority::LedgerTree::Reader(*log.conn);
  for (int64_t seq = 1; seq <= size; ++seq) {
    auto leaf = cantdo::authority::Ledger::ReadLeaf(*log.conn, seq);
    REQUIRE(leaf.ok());
    auto proof = tlog::InclusionProof(seq - 1, size, read);
    REQUIRE(proof.ok());
    in["records"].push_back({{"index", seq - 1}, {"data", absl::Base64Escape(leaf->document)}, {"proof", B64(*proof)}});
  }
  for (int64_t m = 1; m <= size; ++m) {
    auto proof = tlog::ConsistencyProof(m, size, read);
    REQUIRE(proof.ok());
    auto old_root = tlog::TreeRoot(m, read);
    REQUIRE(old_root.ok());
    in["consistency"].push_back({{"old_size", m}, {"old_root", tlog::HashBase64(*old_root)}, {"proof", B64(*proof)}});
  }
  const std::string good = log.dir.path() + "/good.json";
  std::ofstream(good) << in.dump();
  auto ok = RunGo(log, {}, good);
  INFO(ok.out);
  CHECK(ok.exit == std::optional<int>(0));
  CHECK(ok.out.find("ok: checkpoint 37 signed by cantdo.test/ledger; 37 inclusion and 37 consistency proofs verify") !=
        std::string::npos);

  // Go refuses what it should: an edited entry, a bent consistency proof,
  // a checkpoint whose size was changed after signing.
  auto bad = in;
  std::string doc;
  REQUIRE(absl::Base64Unescape(bad["records"][9]["data"].get<std::string>(), &doc));
  doc.replace(doc.find("spiffe://cantdo/worker"), 22, "spiffe://cantdo/gateway");
  bad["records"][9]["data"] = absl::Base64Escape(doc);
  bad["consistency"][4]["proof"][0] = bad["consistency"][4]["proof"][1];
  const std::string bad_file = log.dir.path() + "/bad.json";
  std::ofstream(bad_file) << bad.dump();
  auto refused = RunGo(log, {}, bad_file);
  INFO(refused.out);
  CHECK(refused.exit == std::optional<int>(1));
  CHECK(refused.out.find("record 9 :") != std::string::npos);
  CHECK(refused.out.find("consistency 5 -> 37 :") != std::string::npos);
  auto resized = in;
  std::string note = resized["note"];
  note.replace(note.find("\n37\n"), 4, "\n36\n");
  resized["note"] = note;
  const std::string resized_file = log.dir.path() + "/resized.json";
  std::ofstream(resized_file) << resized.dump();
  auto unsigned_note = RunGo(log, {}, resized_file);
  CHECK(unsigned_note.exit == std::optional<int>(1));
  CHECK(unsigned_note.out.find("checkpoint signature:") != std::string::npos);
}
