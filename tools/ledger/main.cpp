// cantdo-ledger: offline checks of the authority's ledger, for auditors.
//
//   cantdo-ledger --dsn=... verify [--start=N] [--end=M]
//       the hash chain, from the database alone (a rewrite with every later
//       hash recomputed passes this: keep checkpoints)
//   cantdo-ledger --dsn=... verify --checkpoint=FILE --verifier-key=KEY [--leaf-hashes=FILE]
//       the database against a signed checkpoint kept elsewhere: a rewrite,
//       a truncation or a fork of what it covers is reported with the first
//       sequence affected (with the checkpoint directory's leaf-hashes, also
//       when the database's tree was rebuilt to match a rewrite)
//   cantdo-ledger verify-receipt --receipt=FILE --verifier-key=KEY
//       a receipt (GetReceipt, as JSON), without any database
//   cantdo-ledger witness --state=FILE --verifier-key=KEY
//       (--gateway=HOST:PORT --tls-cert --tls-key --tls-ca | --dsn=... --checkpoint=FILE)
//       keeps the newest checkpoint in FILE; accepts a newer one only with
//       a consistency proof that verifies
//   cantdo-ledger keygen --name=ORIGIN
//       a new signer key (stdout; store it in a Secret) and its verifier key
//   cantdo-ledger verifier-key   (signer key from CANTDO_LEDGER_SIGNING_KEY
//       or --ledger-signing-key-file)
//       the note verifier key to give to auditors
//
// Exit codes: 0 verified / accepted, 1 it does not verify (the first bad
// sequence is printed) or the witness refused, 2 usage or connection
// problems. Needs a database at the schema this binary was built for, and
// only SELECT on cantdo.ledger and cantdo.ledger_tree.

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "authority/ledger.hpp"
#include "authority/ledger_checkpointer.hpp"
#include "authority/ledger_tree.hpp"
#include "cantdo/base/config.hpp"
#include "cantdo/base/status.hpp"
#include "cantdo/gateway/v1/ledger_service.grpc.pb.h"
#include "cantdo/grpc/status.hpp"
#include "cantdo/grpc/tls.hpp"
#include "cantdo/pg/connection.hpp"
#include "ledger_offline.hpp"

namespace {

using cantdo::ledger_tool::LoadVerifier;

struct Flags {
  std::string dsn, checkpoint, leaf_hashes, verifier_key, verifier_key_file, receipt, state, gateway, tls_cert, tls_key,
      tls_ca, name, signing_key, signing_key_file;
  int start = 0, end = 0;
  bool json = false;
};

int Fail(const absl::Status& st, int code = 2) {
  std::fprintf(stderr, "cantdo-ledger: %s\n", std::string(st.message()).c_str());
  return code;
}

absl::StatusOr<std::unique_ptr<cantdo::pg::Connection>> Connect(const Flags& f) {
  if (f.dsn.empty()) return cantdo::InvalidArgument("dsn", "is required for this verb");
  return cantdo::pg::Connection::Connect(f.dsn, absl::Seconds(10));
}

int PrintVerification(const cantdo::common::v1::LedgerVerification& v, bool json, cantdo::pg::Connection& conn) {
  if (json) {
    std::string out;
    google::protobuf::util::JsonPrintOptions o;
    o.add_whitespace = true;
    (void)google::protobuf::util::MessageToJsonString(v, &out, o);
    std::cout << out;
  } else if (v.ok()) {
    std::cout << "ledger OK: " << v.entries_checked() << " entries, head " << v.head_sequence() << " " << v.head_hash()
              << "\n";
    if (v.checkpoint_size() > 0) {
      std::cout << "checkpoint OK: entries 1.." << v.checkpoint_size() << " are the ones it signed\n";
    }
    // Entries the authority committed but has not hash-chained yet (it does
    // so within --ledger-chain-interval); they are checked once chained.
    auto pending = conn.Exec("SELECT count(*) FROM cantdo.ledger WHERE sequence IS NULL");
    if (pending.ok() && pending->GetInt64(0, 0).value_or(0) > 0) {
      std::cout << "(" << *pending->GetInt64(0, 0) << " newer entries not yet chained; run again to include them)\n";
    }
  } else {
    std::cout << "ledger BROKEN at sequence " << v.first_bad_sequence() << ": "
              << cantdo::common::v1::LedgerProblem_Name(v.problem()) << ": " << v.message() << "\n";
  }
  return v.ok() ? 0 : 1;
}

int Verify(const Flags& f) {
  auto conn = Connect(f);
  if (!conn.ok()) return Fail(conn.status());
  absl::StatusOr<cantdo::common::v1::LedgerVerification> v;
  if (!f.checkpoint.empty()) {
    if (f.start != 0 || f.end != 0) return Fail(cantdo::InvalidArgument("checkpoint", "verifies the whole ledger"));
    auto verifier = LoadVerifier(f.verifier_key, f.verifier_key_file);
    if (!verifier.ok()) return Fail(verifier.status());
    auto cp = cantdo::ledger_tool::ReadCheckpointFile(f.checkpoint, *verifier);
    if (!cp.ok()) return Fail(cp.status());
    std::vector<cantdo::tlog::Hash> leaves;
    if (!f.leaf_hashes.empty()) {
      std::ifstream in(f.leaf_hashes, std::ios::binary);
      if (!in) return Fail(cantdo::InvalidArgument("leaf-hashes", "cannot be read"));
      cantdo::tlog::Hash h;
      while (in.read(reinterpret_cast<char*>(h.data()), 32)) leaves.push_back(h);
    }
    v = cantdo::authority::Ledger::VerifyCheckpoint(**conn, *cp, absl::Now(),
                                                    f.leaf_hashes.empty() ? nullptr : &leaves);
  } else {
    v = cantdo::authority::Ledger::Verify(**conn, f.start, f.end, absl::Now());
  }
  if (!v.ok()) return Fail(v.status());
  return PrintVerification(*v, f.json, **conn);
}

int VerifyReceipt(const Flags& f) {
  auto verifier = LoadVerifier(f.verifier_key, f.verifier_key_file);
  if (!verifier.ok()) return Fail(verifier.status());
  std::ifstream in(f.receipt);
  if (f.receipt.empty() || !in) return Fail(cantdo::InvalidArgument("receipt", "cannot be read"));
  std::stringstream ss;
  ss << in.rdbuf();
  cantdo::common::v1::LedgerReceipt receipt;
  if (!google::protobuf::util::JsonStringToMessage(ss.str(), &receipt).ok()) {
    return Fail(cantdo::InvalidArgument("receipt", "is not a LedgerReceipt in JSON"));
  }
  if (absl::Status st = cantdo::ledger_tool::VerifyReceipt(receipt, *verifier); !st.ok()) {
    std::cout << "receipt INVALID: " << st.message() << "\n";
    return 1;
  }
  const auto& e = receipt.entry();
  std::cout << "receipt OK: entry " << e.sequence() << " (" << cantdo::common::v1::LedgerEventKind_Name(e.kind())
            << ", grant " << e.grant_id() << ") is in checkpoint " << receipt.checkpoint().size() << " signed by "
            << verifier->name() << "\n";
  return 0;
}

int Witness(const Flags& f) {
  auto verifier = LoadVerifier(f.verifier_key, f.verifier_key_file);
  if (!verifier.ok()) return Fail(verifier.status());
  if (f.state.empty()) return Fail(cantdo::InvalidArgument("state", "is required"));
  std::string note;
  cantdo::ledger_tool::ConsistencyFetcher fetch;
  std::unique_ptr<cantdo::gateway::v1::LedgerService::Stub> stub;
  std::unique_ptr<cantdo::pg::Connection> db;
  auto deadline = [](::grpc::ClientContext& ctx) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  };
  if (!f.gateway.empty()) {
    auto tls = cantdo::grpc::LoadTlsMaterial(f.tls_cert, f.tls_key, f.tls_ca);
    if (!tls.ok()) return Fail(tls.status());
    stub = cantdo::gateway::v1::LedgerService::NewStub(cantdo::grpc::MakeMtlsChannel(f.gateway, *tls));
    ::grpc::ClientContext ctx;
    deadline(ctx);
    cantdo::gateway::v1::GetCheckpointResponse resp;
    if (auto st = stub->GetCheckpoint(&ctx, {}, &resp); !st.ok()) return Fail(cantdo::grpc::FromGrpcStatus(st));
    note = resp.checkpoint().note();
    fetch = [&](int64_t old_size, int64_t new_size) -> absl::StatusOr<std::vector<cantdo::tlog::Hash>> {
      ::grpc::ClientContext c;
      deadline(c);
      cantdo::gateway::v1::GetConsistencyProofRequest req;
      req.set_old_size(old_size);
      req.set_new_size(new_size);
      cantdo::gateway::v1::GetConsistencyProofResponse r;
      if (auto st = stub->GetConsistencyProof(&c, req, &r); !st.ok()) return cantdo::grpc::FromGrpcStatus(st);
      std::vector<cantdo::tlog::Hash> out;
      for (const std::string& h : r.hashes()) {
        auto hash = cantdo::tlog::HashFromBytes(h);
        if (!hash.ok()) return absl::DataLossError("a proof hash is not 32 bytes");
        out.push_back(*hash);
      }
      return out;
    };
  } else {
    // The operator's side: the checkpoint from its directory, the proof from
    // the database's tree. Neither is trusted; the proof must verify.
    auto conn = Connect(f);
    if (!conn.ok()) return Fail(conn.status());
    db = *std::move(conn);
    std::ifstream in(f.checkpoint);
    if (f.checkpoint.empty() || !in) {
      return Fail(cantdo::InvalidArgument("checkpoint", "is required without --gateway (the newest checkpoint file)"));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    note = ss.str();
    fetch = [&](int64_t old_size, int64_t new_size) {
      return cantdo::tlog::ConsistencyProof(old_size, new_size, cantdo::authority::LedgerTree::Reader(*db));
    };
  }
  auto step = cantdo::ledger_tool::WitnessUpdate(f.state, *verifier, note, fetch);
  if (!step.ok()) {
    if (absl::IsDataLoss(step.status())) {
      std::cout << "witness REFUSED: " << step.status().message() << "\n";
      return 1;
    }
    return Fail(step.status());
  }
  if (step->old_size == 0) {
    std::cout << "witness: first checkpoint kept: " << step->new_size << " entries\n";
  } else if (step->advanced) {
    std::cout << "witness OK: " << step->old_size << " -> " << step->new_size << " entries, consistent\n";
  } else {
    std::cout << "witness OK: still " << step->new_size << " entries\n";
  }
  return 0;
}

int Keygen(const Flags& f) {
  auto signer = cantdo::tlog::NoteSigner::Generate(f.name);
  if (!signer.ok()) return Fail(signer.status());
  std::cout << signer->SignerKey() << "\n";
  std::cerr << "verifier key (give this to auditors): " << signer->VerifierKey() << "\n";
  return 0;
}

int VerifierKey(const Flags& f) {
  auto signer = cantdo::authority::LoadLedgerSigningKey(f.signing_key, f.signing_key_file);
  if (!signer.ok()) return Fail(signer.status());
  std::cout << signer->VerifierKey() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  std::string verb;
  cantdo::Options options("cantdo-ledger",
                          "Offline checks of the authority's ledger: cantdo-ledger [options] "
                          "verify | verify-receipt | witness | keygen | verifier-key");
  options.String("dsn", &f.dsn, "PostgreSQL DSN (needs SELECT on cantdo.ledger and cantdo.ledger_tree)")
      .Int("start", &f.start, "verify: first sequence to check (0: from 1)")
      .Int("end", &f.end, "verify: last sequence to check (0: the head)")
      .Bool("json", &f.json, "verify: print the result as JSON")
      .String("checkpoint", &f.checkpoint, "a signed checkpoint file (verify: kept from before; witness: the newest)")
      .String("leaf-hashes", &f.leaf_hashes,
              "verify: the checkpoint directory's leaf-hashes file, to locate a rewrite exactly even if the "
              "database's tree was rebuilt")
      .String("verifier-key", &f.verifier_key, "the authority's note verifier key (<name>+<hash>+<key>)")
      .String("verifier-key-file", &f.verifier_key_file, "a file holding the verifier key")
      .String("receipt", &f.receipt, "verify-receipt: the receipt, as JSON")
      .String("state", &f.state, "witness: the file that keeps the newest accepted checkpoint")
      .String("gateway", &f.gateway, "witness: host:port of the gateway to fetch from")
      .String("tls-cert", &f.tls_cert, "witness: client certificate for the gateway")
      .String("tls-key", &f.tls_key, "witness: its private key")
      .String("tls-ca", &f.tls_ca, "witness: CA bundle for the gateway")
      .String("name", &f.name, "keygen: the key's name, the log's origin (e.g. cantdo.example/ledger)")
      .String("ledger-signing-key", &f.signing_key, "verifier-key: the signer key (set via environment)")
      .String("ledger-signing-key-file", &f.signing_key_file, "verifier-key: a file holding the signer key");
  // The verb is the last positional argument.
  std::vector<const char*> args;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && argv[i][0] != '-') {
      verb = argv[i];
      continue;
    }
    args.push_back(argv[i]);
  }
  auto parsed = options.Parse(static_cast<int>(args.size()), args.data());
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", std::string(parsed.status().message()).c_str());
    return 2;
  }
  if (!*parsed) return 0;
  if (verb == "verify") return Verify(f);
  if (verb == "verify-receipt") return VerifyReceipt(f);
  if (verb == "witness") return Witness(f);
  if (verb == "keygen") return Keygen(f);
  if (verb == "verifier-key") return VerifierKey(f);
  std::fprintf(stderr, "cantdo-ledger: expected a verb: verify, verify-receipt, witness, keygen or verifier-key\n%s",
               options.Help().c_str());
  return 2;
}
