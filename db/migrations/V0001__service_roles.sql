-- V0001: one least-privilege role per service, and the application schema.
--
-- Roles are cluster-wide, but every database of a cluster runs this
-- migration (tests create many databases, possibly at once), so creation
-- tolerates the role already existing, including when a concurrent run
-- creates it between our check and our CREATE. The roles are NOLOGIN here:
-- each environment grants LOGIN with a password or certificate auth to the
-- role (or to a login role that is a member of it); see docs/database.md.
-- Later migrations add tables and grant each role exactly what it needs.

DO $$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['cantdo_gateway', 'cantdo_authority', 'cantdo_worker', 'cantdo_bridge']
  LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
      EXCEPTION
        -- Another database's migration created it first.
        WHEN duplicate_object OR unique_violation THEN NULL;
      END;
    END IF;
  END LOOP;
END
$$;

-- Application tables live here, not in public.
CREATE SCHEMA IF NOT EXISTS cantdo AUTHORIZATION CURRENT_USER;

GRANT USAGE ON SCHEMA cantdo TO cantdo_gateway, cantdo_authority, cantdo_worker, cantdo_bridge;

-- Nobody but the owner creates objects in, or reads through, public in this
-- database (schema_migrations lives there, owned by the migrating user).
REVOKE ALL ON SCHEMA public FROM PUBLIC;

-- Every service checks at start (and on each readiness probe) that the
-- schema is exactly the version it was built for, so each may read the
-- migration record, and nothing else in public.
GRANT USAGE ON SCHEMA public TO cantdo_gateway, cantdo_authority, cantdo_worker, cantdo_bridge;
GRANT SELECT ON public.schema_migrations TO cantdo_gateway, cantdo_authority, cantdo_worker, cantdo_bridge;
