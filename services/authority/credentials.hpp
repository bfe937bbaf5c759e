#pragma once
// Execution credentials ("our Token Vault"): they exist only between a
// grant's claim and its consume (or expiry).
//
// PostgresRoleIssuer works like Vault's database secrets engine: at claim it
// creates a login role with a random password, VALID UNTIL shortly ahead,
// member of one privilege group (e.g. may_issue_refunds) on the target
// database; Destroy revokes it, ends its sessions and drops it. The
// connection it uses needs CREATEROLE and ADMIN OPTION on the groups.
//
// StaticSecretIssuer releases a stored secret (AES-256-GCM at rest, key from
// the environment) for HTTP targets; nothing to destroy.

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
  // Creates the credential named `handle` (from NewHandle).
  // REQUIRES: grant.credential_kind() is this issuer's kind.
  virtual absl::StatusOr<IssuedCredential> Issue(const common::v1::Grant& grant, const std::string& handle,
                                                 const std::string& target, absl::Time valid_until) = 0;
  // Idempotent: destroying what is already gone is OK.
  virtual absl::Status Destroy(const std::string& handle) = 0;
};

struct PostgresTarget {
  std::string admin_dsn;  // CREATEROLE connection to the target cluster
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
  absl::StatusOr<IssuedCredential> Issue(const common::v1::Grant& grant, const std::string& handle,
                                         const std::string& target, absl::Time valid_until) override;
  absl::Status Destroy(const std::string& handle) override;

 private:
  absl::StatusOr<pg::Connection*> Conn() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  PostgresTarget target_;
  absl::Mutex mu_;
  std::unique_ptr<pg::Connection> conn_ ABSL_GUARDED_BY(mu_);
};

class StaticSecretIssuer final : public CredentialIssuer {
 public:
  // `key` is 32 raw bytes (AES-256).
  StaticSecretIssuer(pg::Pool& pool, std::string key) : pool_(pool), key_(std::move(key)) {}
  std::string NewHandle(const common::v1::Grant&) override { return ""; }
  absl::StatusOr<IssuedCredential> Issue(const common::v1::Grant& grant, const std::string& handle,
                                         const std::string& target, absl::Time valid_until) override;
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
