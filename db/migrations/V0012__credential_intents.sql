-- V0012: execution credentials are recorded before they exist (issue 18,
-- part 5; docs/security.md, "Execution credentials").
--
-- A claim that releases a credential creates it (a login role on the target
-- database) inside its transaction. A retried transaction used to forget
-- the credential of its first attempt, and an authority killed between
-- creating the login and committing the claim left it behind, referenced by
-- no grant, for good. Now the authority records an intent, in a transaction
-- of its own that commits before the credential is created, and deletes it
-- when the credential is destroyed; the sweeper destroys the credential of
-- every intent that no committed claim owns (no grant names its handle)
-- once it is older than --credential-orphan-grace.
CREATE TABLE cantdo.credential_intents (
  handle       text PRIMARY KEY,  -- what CredentialIssuer::Destroy needs, e.g. the role name
  -- No foreign key: the intent is written on its own connection while the
  -- claim transaction holds the grant's row lock (a key-share lock from a
  -- foreign key check would wait on it for ever). Grants are never deleted.
  grant_id     uuid NOT NULL,
  kind         text NOT NULL,     -- ExecutionCredentialKind name without prefix
  create_time  timestamptz NOT NULL
);
CREATE INDEX credential_intents_age ON cantdo.credential_intents (create_time);

REVOKE ALL ON cantdo.credential_intents FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON cantdo.credential_intents TO cantdo_authority;
