#pragma once
// Execution credentials ("our Token Vault"): they exist only between a
// grant's claim and its consume (or expiry), and can do no more than the
// approval they were released for (docs/scoped-credentials.md).
//
// PostgresRoleIssuer works like Vault's database secrets engine, scoped to
// the approved values: at claim it creates, in one transaction on the target
// database, a login role with a random password, VALID UNTIL shortly ahead,
// member of one privilege group (e.g. may_issue_refunds), and the role's
// scope in cantdo_scope.credentials (the action and parameters exactly as
// approved, one use). The target database installs
// db/templates/scoped_credentials.sql and gives the group nothing but
// EXECUTE on SECURITY DEFINER functions that check each call against the
// caller's scope; a target without it refuses the scope, and the claim
// fails. Disable deletes the scope, revokes the login and tells its open
// sessions to end, in one transaction (one round trip); Destroy does that
// and drops the login. The login it uses needs
// CREATEROLE, the right to grant the groups, and membership in
// cantdo_credential_issuer.
//
// StaticSecretIssuer releases a stored secret (AES-256-GCM at rest, key from
// the environment) for HTTP targets; nothing to destroy. Such a secret is as
// broad as its target allows: nothing here can scope it.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cantdo/common/v1/authorization.pb.h"
#include "cantdo/pg/connection.hpp"
#include "cantdo/pg/pool.hpp"

namespace cantdo::authority {

struct IssuedCredential {
  common::v1::ExecutionCredential credential;
  std::string handle;  // what Destroy needs; "" if nothing to destroy
};

class CredentialIssuer {
 public:
  virtual ~CredentialIssuer() = default;
  // A fresh handle for a credential of `grant` (e.g. the login role's
  // name), chosen before the credential exists so that the authority can
  // record it durably first; "" if this kind leaves nothing to destroy.
  virtual std::string NewHandle(const common::v1::Grant& grant) = 0;
  // Creates the credential named `handle` (from NewHandle). `approved` is
  // the grant's action exactly as approved (the authority's record of the
  // approval's parameters, as ClaimGrant answers it): what a scoped
  // credential may do.
  // REQUIRES: grant.credential_kind() is this issuer's kind.
  virtual absl::StatusOr<IssuedCredential> Issue(const common::v1::Grant& grant, const std::string& handle,
                                                 const std::string& target, absl::Time valid_until,
                                                 const common::v1::ActionRef& approved) = 0;
  // From a successful return on, the credential can do nothing: no new
  // session, no scoped call from a session still open, and the open ones
  // are ending. It still exists until Destroy. Idempotent; disabling what
  // is already gone is OK.
  virtual absl::Status Disable(const std::string& handle) = 0;
  // Disables the credential, ends whatever it still holds and removes it.
  // Idempotent: destroying what is already gone is OK.
  virtual absl::Status Destroy(const std::string& handle) = 0;
};

struct PostgresTarget {
  std::string admin_dsn;  // CREATEROLE login on the target database (see above)
  std::string host;       // what the credential's user connects to
  int port = 5432;
  std::string dbname;
  std::string sslmode = "prefer";
};

class PostgresRoleIssuer final : public CredentialIssuer {
 public:
  explicit PostgresRoleIssuer(PostgresTarget target) : target_(std::move(target)) {}
  // cantdo_x_<first 8 characters of the grant id>_<random>.
  std::string NewHandle(const common::v1::Grant& grant) override;
  // `target` is the privilege group; the handle is the role name.
  // UNAVAILABLE (CREDENTIAL_UNAVAILABLE) if the target cannot be reached or
  // refuses the role or its scope; then neither exists.
  absl::StatusOr<IssuedCredential> Issue(const common::v1::Grant& grant, const std::string& handle,
                                         const std::string& target, absl::Time valid_until,
                                         const common::v1::ActionRef& approved) override;
  absl::Status Disable(const std::string& handle) override;
  absl::Status Destroy(const std::string& handle) override;

 private:
  // Connections to the target, opened on first use, so claims on different
  // grants do not queue behind one another.
  absl::StatusOr<pg::PooledConnection> Conn();
  PostgresTarget target_;
  absl::Mutex mu_;
  std::unique_ptr<pg::Pool> pool_ ABSL_GUARDED_BY(mu_);
};

class StaticSecretIssuer final : public CredentialIssuer {
 public:
  // `key` is 32 raw bytes (AES-256).
  StaticSecretIssuer(pg::Pool& pool, std::string key) : pool_(pool), key_(std::move(key)) {}
  std::string NewHandle(const common::v1::Grant&) override { return ""; }
  // `approved` is not used: a static secret cannot be scoped.
  absl::StatusOr<IssuedCredential> Issue(const common::v1::Grant& grant, const std::string& handle,
                                         const std::string& target, absl::Time valid_until,
                                         const common::v1::ActionRef& approved) override;
  absl::Status Disable(const std::string&) override { return absl::OkStatus(); }
  absl::Status Destroy(const std::string&) override { return absl::OkStatus(); }

  // Stores a new version of secret `name` (admin tooling and tests).
  static absl::Status Put(pg::Connection& conn, const std::string& key, const std::string& name,
                          const std::string& value);

 private:
  pg::Pool& pool_;
  std::string key_;
};

// AES-256-GCM; the output is nonce (12 bytes) || ciphertext || tag (16).
absl::StatusOr<std::string> SealAesGcm(const std::string& key, const std::string& plaintext,
                                       const std::string& associated_data);
absl::StatusOr<std::string> OpenAesGcm(const std::string& key, const std::string& sealed,
                                       const std::string& associated_data);

}  // namespace cantdo::authority
