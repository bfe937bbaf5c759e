#include "authority/credential_intent_store.hpp"

#include "authority/pg_time.hpp"
#include "cantdo/base/status.hpp"

namespace cantdo::authority {

absl::Status CredentialIntentStore::Record(pg::Connection& conn, const CredentialIntent& intent, absl::Time now) {
  return conn
      .Exec("INSERT INTO cantdo.credential_intents (handle, grant_id, kind, create_time) VALUES ($1, $2::uuid, $3, $4)",
            {intent.handle, intent.grant_id, intent.kind, PgTime(now)})
      .status();
}

absl::StatusOr<bool> CredentialIntentStore::Forget(pg::Connection& conn, const std::string& handle) {
  CANTDO_ASSIGN_OR_RETURN(pg::Result r, conn.Exec("DELETE FROM cantdo.credential_intents WHERE handle = $1", {handle}));
  return r.CommandTuples() > 0;
}

absl::StatusOr<std::vector<CredentialIntent>> CredentialIntentStore::Orphans(pg::Connection& conn,
                                                                             absl::Time recorded_before, int limit) {
  CANTDO_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("SELECT i.handle, i.grant_id::text AS grant_id, i.kind FROM cantdo.credential_intents i "
                "WHERE i.create_time < $1 AND NOT EXISTS (SELECT 1 FROM cantdo.grants g "
                "WHERE g.grant_id = i.grant_id AND g.credential_handle = i.handle) ORDER BY i.create_time LIMIT $2",
                {PgTime(recorded_before), pg::Int64Param(limit)}));
  std::vector<CredentialIntent> out;
  for (int i = 0; i < r.Rows(); ++i) {
    CredentialIntent intent;
    CANTDO_ASSIGN_OR_RETURN(intent.handle, r.GetString(i, "handle"));
    CANTDO_ASSIGN_OR_RETURN(intent.grant_id, r.GetString(i, "grant_id"));
    CANTDO_ASSIGN_OR_RETURN(intent.kind, r.GetString(i, "kind"));
    out.push_back(std::move(intent));
  }
  return out;
}

}  // namespace cantdo::authority
