// 64 concurrent claimers of one grant, 1,000 times: exactly one winner each
// time; the same for consume. Runs against the Authority in-process (real
// Postgres, 64 pooled connections) so the 128,000 attempts fit in CI time;
// a smaller round goes over real gRPC too.
#include <atomic>
#include <barrier>
#include <thread>

#include "authority_harness.hpp"
#include "cantdo/base/ids.hpp"

using namespace cantdo::testing;
using cantdo::GetReason;

namespace {

constexpr int kClaimers = 64;

// A deletion grant (its rule releases no credential) for step `step`.
cv1::Grant DeletionGrant(AuthorityHarness& h, const std::string& step) {
  av1::RequestApprovalRequest req;
  req.mutable_action()->set_action("customer_data.delete");
  req.mutable_action()->set_workflow_id("wf-1");
  req.mutable_action()->set_run_id("run-1");
  req.mutable_action()->set_step(step);
  req.set_requester("ops1");
  auto r = h.Request(req);
  REQUIRE(r.ok());
  const std::string id = r->approval().approval_id();
  auto c = h.Complete(id, h.idp.Sign(h.Claims("dpo1", id, {"dpo"})));
  REQUIRE(c.ok());
  return c->grant();
}

av1::ClaimGrantRequest DeletionClaim(const cv1::Grant& g, const std::string& key) {
  av1::ClaimGrantRequest req;
  req.set_grant_id(g.grant_id());
  req.mutable_action()->set_action("customer_data.delete");
  req.mutable_action()->set_workflow_id("wf-1");
  req.mutable_action()->set_run_id("run-1");
  req.mutable_action()->set_step(g.step());
  req.set_idempotency_key(key);
  return req;
}

}  // namespace

TEST_CASE("64 concurrent claimers and consumers of one grant, 1000 times: one winner each",
          "[integration][authority]") {
  AuthorityHarness h;
  auto& authority = *h.app.authority();
  const cantdo::authority::Caller worker{"spiffe://cantdo/worker", ""};
  constexpr int kRounds = 1000;

  cv1::Grant grant;
  std::atomic<int> claim_wins{0}, consume_wins{0}, wrong_refusals{0};
  std::barrier sync(kClaimers + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kClaimers; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < kRounds; ++round) {
        sync.arrive_and_wait();  // grant ready
        auto c = authority.ClaimGrant(worker, DeletionClaim(grant, "claimer-" + std::to_string(t)));
        if (c.ok())
          ++claim_wins;
        else if (GetReason(c.status()) != std::optional<std::string>("GRANT_ALREADY_CLAIMED"))
          ++wrong_refusals;
        sync.arrive_and_wait();  // all claims done
        av1::ConsumeGrantRequest consume;
        consume.set_grant_id(grant.grant_id());
        consume.set_outcome_digest(cantdo::Sha256Hex("outcome-" + std::to_string(t)));
        auto k = authority.ConsumeGrant(worker, consume);
        if (k.ok())
          ++consume_wins;
        else if (GetReason(k.status()) != std::optional<std::string>("GRANT_ALREADY_CONSUMED"))
          ++wrong_refusals;
        sync.arrive_and_wait();  // all consumes done
      }
    });
  }
  int bad_rounds = 0;
  for (int round = 0; round < kRounds; ++round) {
    grant = DeletionGrant(h, "delete-" + std::to_string(round));
    claim_wins = 0;
    consume_wins = 0;
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    const int claims = claim_wins.load();
    sync.arrive_and_wait();
    if (claims != 1 || consume_wins.load() != 1) ++bad_rounds;
  }
  for (auto& t : threads) t.join();
  CHECK(bad_rounds == 0);
  CHECK(wrong_refusals.load() == 0);
  // Every refusal is on the ledger: 63 claims and 63 consumes per round.
  CHECK(h.LedgerCount("GRANT_DENIED") == int64_t{kRounds} * (kClaimers - 1) * 2);
  CHECK(h.LedgerCount("GRANT_CONSUMED") == kRounds);
}

TEST_CASE("concurrent claimers over gRPC: one winner", "[integration][authority]") {
  AuthorityHarness h;
  for (int round = 0; round < 5; ++round) {
    auto g = DeletionGrant(h, "grpc-" + std::to_string(round));
    std::atomic<int> wins{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 16; ++t) {
      threads.emplace_back([&, t] {
        if (h.Claim(DeletionClaim(g, "k" + std::to_string(t))).ok()) ++wins;
      });
    }
    for (auto& t : threads) t.join();
    CHECK(wins.load() == 1);
  }
}
