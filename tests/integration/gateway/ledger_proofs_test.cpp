// The gateway serves what an auditor or a platform needs to check the
// ledger without trusting the database: the newest signed checkpoint,
// inclusion and consistency proofs, and receipts that `cantdo-ledger
// verify-receipt` checks offline; a witness run against the gateway; and
// VerifyLedger itself finding the rewrite of issue 19.
#include <google/protobuf/util/json_util.h>

#include "cantdo/tlog/checkpoint.hpp"
#include "gateway_harness.hpp"
#include "support/child_process.hpp"

using namespace cantdo::testing;
namespace tlog = cantdo::tlog;

namespace {

// The newest checkpoint once it covers at least `size` entries.
cantdo::common::v1::LedgerCheckpoint CheckpointOf(GatewayHarness& h, int64_t size) {
  absl::StatusOr<gv1::GetCheckpointResponse> got;
  REQUIRE(WaitUntil(
      [&] {
        got = GatewayHarness::Call(h.CertChannel("auditor"), &gv1::LedgerService::Stub::GetCheckpoint,
                                   gv1::GetCheckpointRequest());
        return got.ok() && got->checkpoint().size() >= size;
      },
      absl::Seconds(20)));
  return got->checkpoint();
}

struct ToolRun {
  std::optional<int> exit;
  std::string out;
};

ToolRun RunLedgerTool(GatewayHarness& h, std::vector<std::string> args) {
  static int runs = 0;
  args.insert(args.begin(), BuildDir() + "/tools/ledger/cantdo-ledger");
  ChildProcess p(args, {}, h.authority.dir.path() + "/ledger-tool-" + std::to_string(++runs) + ".log");
  return {p.Wait(absl::Seconds(60)), p.Log()};
}

}  // namespace

TEST_CASE("checkpoints, proofs and receipts through the gateway verify offline, and tampering does not",
          "[integration][gateway]") {
  GatewayHarness h;
  h.authority.Grant("refund");  // 4 entries
  const std::string vkey = h.authority.ledger_signer.VerifierKey();
  auto verifier = tlog::NoteVerifier::Parse(vkey);
  REQUIRE(verifier.ok());
  const auto first = CheckpointOf(h, 4);
  auto first_cp = tlog::OpenCheckpoint(first.note(), *verifier);
  REQUIRE(first_cp.ok());
  CHECK(first_cp->origin == "cantdo.test/ledger");

  // A platform asks for the receipt of entry 3 and keeps it.
  gv1::GetReceiptRequest rr;
  rr.set_sequence(3);
  auto receipt = GatewayHarness::Call(h.CertChannel("platform"), &gv1::LedgerService::Stub::GetReceipt, rr);
  INFO(receipt.status().ToString());
  REQUIRE(receipt.ok());
  CHECK(receipt->receipt().entry().sequence() == 3);
  std::string json;
  REQUIRE(google::protobuf::util::MessageToJsonString(receipt->receipt(), &json).ok());
  const std::string file = h.authority.dir.path() + "/receipt.json";
  std::ofstream(file) << json;
  auto ok = RunLedgerTool(h, {"--receipt=" + file, "--verifier-key=" + vkey, "verify-receipt"});
  INFO(ok.out);
  CHECK(ok.exit == std::optional<int>(0));
  CHECK(ok.out.find("receipt OK: entry 3") != std::string::npos);
  // The same receipt claiming another actor, or checked with another key.
  auto forged = receipt->receipt();
  forged.mutable_entry()->set_actor("platform:someone-else");
  json.clear();  // MessageToJsonString appends
  REQUIRE(google::protobuf::util::MessageToJsonString(forged, &json).ok());
  std::ofstream(file + ".forged") << json;
  auto refused = RunLedgerTool(h, {"--receipt=" + file + ".forged", "--verifier-key=" + vkey, "verify-receipt"});
  CHECK(refused.exit == std::optional<int>(1));
  CHECK(refused.out.find("receipt INVALID: receipt: the entry's actor is not the document's") != std::string::npos);
  auto other_key = tlog::NoteSigner::Generate("cantdo.test/ledger");
  auto wrong_key =
      RunLedgerTool(h, {"--receipt=" + file, "--verifier-key=" + other_key->VerifierKey(), "verify-receipt"});
  CHECK(wrong_key.exit != std::optional<int>(0));

  // A witness from "another machine": over the gateway, with an auditor's certificate.
  auto auditor = h.authority.pki.WriteFiles(h.authority.dir.path(), "auditor");
  const std::vector<std::string> witness = {"--gateway=" + h.target,
                                            "--tls-cert=" + auditor.cert,
                                            "--tls-key=" + auditor.key,
                                            "--tls-ca=" + auditor.ca,
                                            "--verifier-key=" + vkey,
                                            "--state=" + h.authority.dir.path() + "/w",
                                            "witness"};
  auto kept = RunLedgerTool(h, witness);
  INFO(kept.out);
  CHECK(kept.exit == std::optional<int>(0));

  // The log grows; the consistency proof from the first checkpoint verifies.
  h.authority.Grant("refund-2");
  const auto second = CheckpointOf(h, first.size() + 4);
  auto second_cp = tlog::OpenCheckpoint(second.note(), *verifier);
  REQUIRE(second_cp.ok());
  gv1::GetConsistencyProofRequest cr;
  cr.set_old_size(first.size());
  cr.set_new_size(second.size());
  auto proof = GatewayHarness::Call(h.CertChannel("auditor"), &gv1::LedgerService::Stub::GetConsistencyProof, cr);
  REQUIRE(proof.ok());
  std::vector<tlog::Hash> hashes;
  for (const auto& b : proof->hashes()) hashes.push_back(*tlog::HashFromBytes(b));
  CHECK(tlog::VerifyConsistency(first.size(), second.size(), first_cp->root, second_cp->root, hashes).ok());
  auto advanced = RunLedgerTool(h, witness);
  INFO(advanced.out);
  CHECK(advanced.exit == std::optional<int>(0));
  CHECK(advanced.out.find("witness OK:") != std::string::npos);

  // An inclusion proof of the newest entry in the newest checkpoint.
  gv1::GetInclusionProofRequest ir;
  ir.set_sequence(second.size());
  auto inclusion = GatewayHarness::Call(h.CertChannel("operator"), &gv1::LedgerService::Stub::GetInclusionProof, ir);
  REQUIRE(inclusion.ok());
  hashes.clear();
  for (const auto& b : inclusion->hashes()) hashes.push_back(*tlog::HashFromBytes(b));
  CHECK(tlog::VerifyInclusion(second.size() - 1, second.size(), tlog::LeafHash(inclusion->document()), hashes,
                              second_cp->root)
            .ok());
  // Beyond the newest checkpoint: not yet.
  ir.set_sequence(second.size() + 1000);
  auto beyond = GatewayHarness::Call(h.CertChannel("operator"), &gv1::LedgerService::Stub::GetInclusionProof, ir);
  CHECK(beyond.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(cantdo::GetReason(beyond.status()) == std::optional<std::string>("LEDGER_NOT_CHECKPOINTED"));
}

TEST_CASE("VerifyLedger finds an entry rewritten with every later hash recomputed, against the newest checkpoint",
          "[integration][gateway]") {
  GatewayHarness h;
  for (int i = 0; i < 3; ++i) h.authority.Grant("refund-" + std::to_string(i));  // 12 entries
  const auto cp = CheckpointOf(h, 12);
  auto verify = [&] {
    auto v = GatewayHarness::Call(h.CertChannel("auditor"), &gv1::LedgerService::Stub::VerifyLedger,
                                  gv1::VerifyLedgerRequest());
    REQUIRE(v.ok());
    return v->verification();
  };
  REQUIRE(verify().ok());
  // Issue 19's attack: entry 5 re-attributed, its chain and every later
  // one recomputed (made pending and chained again by the authority's own
  // code); the tree left as it was.
  auto su = h.authority.db.Connect();
  REQUIRE(su->Exec("SET session_replication_role = replica").ok());
  REQUIRE(su->Exec("CREATE TABLE public.t AS SELECT * FROM cantdo.ledger_tree").ok());
  REQUIRE(su->Exec("UPDATE cantdo.ledger SET actor = 'spiffe://cantdo/gateway' WHERE sequence = 5").ok());
  REQUIRE(su->Exec("UPDATE cantdo.ledger SET sequence = NULL, prev_hash = NULL, hash = NULL WHERE sequence >= 5").ok());
  REQUIRE(su->Exec("DELETE FROM cantdo.ledger_tree WHERE sequence >= 5").ok());
  auto authority_login = h.authority.db.Connect();
  REQUIRE(cantdo::authority::Ledger::ChainAll(*authority_login).ok());
  REQUIRE(su->Exec("DELETE FROM cantdo.ledger_tree").ok());
  REQUIRE(su->Exec("INSERT INTO cantdo.ledger_tree SELECT * FROM public.t").ok());
  const auto v = verify();
  CHECK_FALSE(v.ok());
  CHECK(v.problem() == cantdo::common::v1::LEDGER_PROBLEM_REWRITTEN);
  CHECK(v.first_bad_sequence() == 5);
}

// Issue 19, receipts: a decision and a consume name the ledger entry that
// records them; the platform keeps that id and later fetches the entry's
// receipt by it, so it can prove offline what was approved and consumed.
TEST_CASE("a decision and a consume return their ledger entry, and GetReceipt(entry_id) proves exactly that entry",
          "[integration][gateway]") {
  GatewayHarness h;
  auto platform = h.CertChannel("platform");
  gv1::RequestAuthorizationRequest req;
  auto* a = req.mutable_action();
  a->set_action("refund.issue");
  a->set_workflow_id("ticket-19");
  a->set_step("refund");
  (*a->mutable_parameters()->mutable_fields())["amount_cents"].set_number_value(1900);
  (*a->mutable_parameters()->mutable_fields())["customer_id"].set_string_value("cust-19");
  req.set_requester("user:https://crm.example#alice");
  auto asked = GatewayHarness::Call(platform, &gv1::AuthorizationService::Stub::RequestAuthorization, req);
  INFO(asked.status().ToString());
  REQUIRE(asked.ok());
  REQUIRE(asked->decision() == cantdo::common::v1::DECISION_REQUIRE_APPROVAL);
  const int64_t decision_entry = asked->ledger_entry_id();
  CHECK(decision_entry > 0);
  const std::string approval_id = asked->approval().approval_id();
  REQUIRE(h.authority.Complete(approval_id, h.authority.idp.Sign(h.authority.Claims("cfo1", approval_id))).ok());

  gv1::GetAuthorizationRequest get;
  get.set_approval_id(approval_id);
  auto got = GatewayHarness::Call(platform, &gv1::AuthorizationService::Stub::GetAuthorization, get);
  REQUIRE(got.ok());
  REQUIRE(got->has_grant());
  gv1::ClaimGrantRequest claim;
  claim.set_grant_id(got->grant().grant_id());
  *claim.mutable_action() = req.action();
  claim.set_idempotency_key("exec-19");
  REQUIRE(GatewayHarness::Call(platform, &gv1::AuthorizationService::Stub::ClaimGrant, claim).ok());
  gv1::ConsumeGrantRequest consume;
  consume.set_grant_id(claim.grant_id());
  consume.set_outcome_digest(std::string(64, 'c'));
  auto consumed = GatewayHarness::Call(platform, &gv1::AuthorizationService::Stub::ConsumeGrant, consume);
  INFO(consumed.status().ToString());
  REQUIRE(consumed.ok());
  const int64_t consume_entry = consumed->ledger_entry_id();
  CHECK(consume_entry > decision_entry);
  // A repeated consume (the first answer was lost) names the same entry.
  auto again = GatewayHarness::Call(platform, &gv1::AuthorizationService::Stub::ConsumeGrant, consume);
  REQUIRE(again.ok());
  CHECK(again->ledger_entry_id() == consume_entry);

  // The receipts, once a checkpoint covers the entries.
  auto receipt_of = [&](int64_t entry_id) {
    gv1::GetReceiptRequest rr;
    rr.set_entry_id(entry_id);
    absl::StatusOr<gv1::GetReceiptResponse> r;
    REQUIRE(WaitUntil(
        [&] {
          r = GatewayHarness::Call(platform, &gv1::LedgerService::Stub::GetReceipt, rr);
          return r.ok() || cantdo::GetReason(r.status()) != "LEDGER_NOT_CHECKPOINTED";
        },
        absl::Seconds(20)));
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    return r->receipt();
  };
  const auto consumed_receipt = receipt_of(consume_entry);
  CHECK(consumed_receipt.entry().kind() == cantdo::common::v1::LEDGER_EVENT_KIND_GRANT_CONSUMED);
  CHECK(consumed_receipt.entry().grant_id() == claim.grant_id());
  CHECK(consumed_receipt.entry().detail().fields().at("outcome_digest").string_value() == std::string(64, 'c'));
  const auto decision_receipt = receipt_of(decision_entry);
  CHECK(decision_receipt.entry().kind() == cantdo::common::v1::LEDGER_EVENT_KIND_DECISION);
  CHECK(decision_receipt.entry().decision() == cantdo::common::v1::DECISION_REQUIRE_APPROVAL);
  CHECK(decision_receipt.entry().approval_id() == approval_id);
  // The receipt by entry_id is the receipt by its sequence.
  gv1::GetReceiptRequest by_sequence;
  by_sequence.set_sequence(consumed_receipt.entry().sequence());
  auto same = GatewayHarness::Call(platform, &gv1::LedgerService::Stub::GetReceipt, by_sequence);
  REQUIRE(same.ok());
  CHECK(same->receipt().document() == consumed_receipt.document());

  // Bad requests: both keys, or neither; an entry that does not exist.
  gv1::GetReceiptRequest both;
  both.set_sequence(1);
  both.set_entry_id(consume_entry);
  CHECK(cantdo::GetReason(GatewayHarness::Call(platform, &gv1::LedgerService::Stub::GetReceipt, both).status()) ==
        "INVALID_FIELD");
  CHECK(cantdo::GetReason(
            GatewayHarness::Call(platform, &gv1::LedgerService::Stub::GetReceipt, gv1::GetReceiptRequest()).status()) ==
        "INVALID_FIELD");
  gv1::GetReceiptRequest missing;
  missing.set_entry_id(consume_entry + 1000000);
  auto none = GatewayHarness::Call(platform, &gv1::LedgerService::Stub::GetReceipt, missing);
  CHECK(none.status().code() == absl::StatusCode::kNotFound);
  CHECK(cantdo::GetReason(none.status()) == "LEDGER_ENTRY_NOT_FOUND");
}
