# Shared by scripts/demo and the end-to-end tests: the local stack of four
# services over the project-local PostgreSQL, with mutual TLS from the dev CA.
# Source it after setting `root` (the repository) and `build` (the build dir).
#
#   stack_up     database cantdo, migrations, a login role per service, the
#                demo customer platform (database cantdo_demo, migrated and
#                seeded), the four services on free loopback ports; waits
#                for SERVING
#   stack_down   stops what stack_up started
#   stack_rpc    cantdo-grpcurl with the operator's certificate
#
# stack_up writes $stack_dir/stack.env: the services' addresses, the dev
# certificates of each role, DSNs, the identity provider's settings, and
# .local/bin at the end of PATH, where `grpcurl` is cantdo-grpcurl (an
# installed grpcurl comes first) next to cantdo-demo-platform,
# cantdo-ledger and cantdo-migrate. docs/operations.md runs with it.

stack_dir="$root/.local/stack"
certs="$root/.local/certs"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stack_rpc() {
  "$build/tools/grpcurl/cantdo-grpcurl" -cacert "$certs/ca.pem" \
    -cert "$certs/operator.pem" -key "$certs/operator.key" "$@"
}

stack_down() {
  "$root/scripts/idp" stop >/dev/null 2>&1 || true
  [[ -d $stack_dir ]] || return 0
  for pidfile in "$stack_dir"/*.pid; do
    [[ -f $pidfile ]] || continue
    kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
  done
  for pidfile in "$stack_dir"/*.pid; do
    [[ -f $pidfile ]] || continue
    local pid; pid=$(cat "$pidfile")
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

stack_up() {
  mkdir -p "$stack_dir"
  stack_down
  "$root/scripts/certs" "$certs" >/dev/null
  eval "$("$root/scripts/pg" env)"
  # Every stack starts from nothing: fresh databases and no pending
  # requests at the provider (a stack left running by --keep is replaced).
  dropdb --if-exists --force cantdo
  dropdb --if-exists --force cantdo_demo
  rm -f "$root/.local/idp/state/state.json"
  createdb cantdo
  local admin_dsn="postgresql://postgres@127.0.0.1:$PGPORT/cantdo"
  "$build/tools/migrate/cantdo-migrate" --dsn="$admin_dsn" up >/dev/null

  # The demo customer platform the offboarding workflow acts on: its own
  # database, schema and 1000 seeded customers (docs/offboarding.md). The
  # worker logs in as a member of cantdo_demo_worker; refunds and erasure
  # need the short-lived logins the authority creates at claim time, for
  # which it gets a CREATEROLE connection (the cluster's superuser, in dev).
  createdb cantdo_demo
  local demo_admin_dsn="postgresql://postgres@127.0.0.1:$PGPORT/cantdo_demo"
  "$build/tools/demo-platform/cantdo-demo-platform" --dsn="$demo_admin_dsn" migrate >/dev/null
  "$build/tools/demo-platform/cantdo-demo-platform" --dsn="$demo_admin_dsn" seed --customers=1000 >/dev/null
  psql -qtAc "SELECT 1 FROM pg_roles WHERE rolname='cantdo_demo_worker_dev'" postgres | grep -q 1 ||
    psql -qc "CREATE ROLE cantdo_demo_worker_dev LOGIN IN ROLE cantdo_demo_worker" postgres

  # The local identity provider (oidc-provider with CIBA) and its settings.
  "$root/scripts/idp" start >/dev/null
  eval "$("$root/scripts/idp" env)"

  : >"$stack_dir/stack.env"
  local svc role port
  declare -A ports
  for svc in authority ciba-bridge worker gateway; do ports[$svc]=$(free_port); done
  for svc in authority ciba-bridge worker gateway; do
    role=cantdo_${svc%%-*}; [[ $svc == ciba-bridge ]] && role=cantdo_bridge
    # A login role per service, member of the service's NOLOGIN role.
    psql -qtAc "SELECT 1 FROM pg_roles WHERE rolname='${role}_dev'" postgres | grep -q 1 ||
      psql -qc "CREATE ROLE ${role}_dev LOGIN IN ROLE $role" postgres
    port=${ports[$svc]}
    # Service-specific settings: the authority verifies the provider's
    # tokens and asks the bridge; the bridge reaches the provider and
    # reports to the authority.
    local -a extra=()
    case $svc in
      authority) extra=(CANTDO_POLICY_FILE="$root/deploy/policy.json"
                        CANTDO_OIDC_ISSUER="$CANTDO_CIBA_ISSUER" CANTDO_OIDC_AUDIENCE="$CANTDO_CIBA_CLIENT_ID"
                        CANTDO_OIDC_JWKS_URI="$CANTDO_IDP_JWKS_URI" CANTDO_OIDC_CA_FILE="$certs/ca.pem"
                        CANTDO_BRIDGE_ADDRESS="127.0.0.1:${ports[ciba-bridge]}" CANTDO_BRIDGE_SERVER_NAME=localhost
                        CANTDO_TARGET_DB_ADMIN_DSN="$demo_admin_dsn" CANTDO_TARGET_DB_HOST=127.0.0.1
                        CANTDO_TARGET_DB_PORT="$PGPORT" CANTDO_TARGET_DB_NAME=cantdo_demo) ;;
      ciba-bridge) extra=(CANTDO_AUTHORITY_ADDRESS="127.0.0.1:${ports[authority]}"
                          CANTDO_AUTHORITY_SERVER_NAME=localhost) ;;
      # The gateway: asks the authority (mTLS), accepts the dev certificates
      # by role and the provider's client-credentials tokens (scripts/idp token).
      gateway) extra=(CANTDO_AUTHORITY_ADDRESS="127.0.0.1:${ports[authority]}" CANTDO_AUTHORITY_SERVER_NAME=localhost
                      CANTDO_OIDC_ISSUER="$CANTDO_CIBA_ISSUER" CANTDO_OIDC_AUDIENCE="$CANTDO_GATEWAY_AUDIENCE"
                      CANTDO_OIDC_JWKS_URI="$CANTDO_IDP_JWKS_URI" CANTDO_OIDC_CA_FILE="$certs/ca.pem"
                      CANTDO_OIDC_ROLES_CLAIM="$CANTDO_IDP_ROLES_CLAIM"
                      CANTDO_CALLERS='{"callers": [{"principal": "spiffe://cantdo/operator/demo-operator", "roles": ["operator"]}, {"principal": "spiffe://cantdo/auditor/demo-auditor", "roles": ["auditor"]}, {"principal": "spiffe://cantdo/platform/demo-agent-platform", "roles": ["agent_platform"]}]}') ;;
      worker) extra=(CANTDO_AUTHORITY_ADDRESS="127.0.0.1:${ports[authority]}" CANTDO_AUTHORITY_SERVER_NAME=localhost
                     CANTDO_CUSTOMER_DB_DSN="postgresql://cantdo_demo_worker_dev@127.0.0.1:$PGPORT/cantdo_demo") ;;
    esac
    env CANTDO_LISTEN="127.0.0.1:$port" \
      CANTDO_TLS_CERT="$certs/$svc.pem" CANTDO_TLS_KEY="$certs/$svc.key" CANTDO_TLS_CA="$certs/ca.pem" \
      CANTDO_DB_DSN="postgresql://${role}_dev@127.0.0.1:$PGPORT/cantdo" "${extra[@]}" \
      "$build/services/$svc/cantdo-$svc" >>"$stack_dir/$svc.log" 2>&1 &
    echo $! >"$stack_dir/$svc.pid"
    local var; var=$(echo "$svc" | tr 'a-z-' 'A-Z_')
    echo "export CANTDO_${var}_ADDR=127.0.0.1:$port" >>"$stack_dir/stack.env"
  done
  mkdir -p "$root/.local/bin"
  ln -sfn "$build/tools/grpcurl/cantdo-grpcurl" "$root/.local/bin/grpcurl"
  local tool
  for tool in grpcurl/cantdo-grpcurl demo-platform/cantdo-demo-platform ledger/cantdo-ledger migrate/cantdo-migrate; do
    ln -sfn "$build/tools/$tool" "$root/.local/bin/${tool#*/}"
  done
  cat >>"$stack_dir/stack.env" <<ENV
export CANTDO_CA=$certs/ca.pem
export CANTDO_OPERATOR_CERT=$certs/operator.pem
export CANTDO_OPERATOR_KEY=$certs/operator.key
export CANTDO_AUDITOR_CERT=$certs/auditor.pem
export CANTDO_AUDITOR_KEY=$certs/auditor.key
export CANTDO_PLATFORM_CERT=$certs/platform.pem
export CANTDO_PLATFORM_KEY=$certs/platform.key
export CANTDO_WORKER_CERT=$certs/worker.pem
export CANTDO_WORKER_KEY=$certs/worker.key
export CANTDO_ADMIN_DB_DSN=$admin_dsn
export CANTDO_DEMO_DB_DSN=$demo_admin_dsn
export CANTDO_DEMO_WORKER_DSN=postgresql://cantdo_demo_worker_dev@127.0.0.1:$PGPORT/cantdo_demo
ENV
  "$root/scripts/idp" env >>"$stack_dir/stack.env"
  echo "export PATH=\"\$PATH:$root/.local/bin\"" >>"$stack_dir/stack.env"
  # shellcheck disable=SC1091
  source "$stack_dir/stack.env"
  for svc in authority ciba-bridge worker gateway; do
    local var addr ok=""
    var=CANTDO_$(echo "$svc" | tr 'a-z-' 'A-Z_')_ADDR; addr=${!var}
    for _ in $(seq 1 100); do
      if stack_rpc -max-time 2 "$addr" grpc.health.v1.Health/Check 2>/dev/null | grep -q "\"SERVING\""; then ok=1; break; fi
      sleep 0.2
    done
    [[ -n $ok ]] || { echo "stack: $svc did not become SERVING; log: $stack_dir/$svc.log" >&2; tail -5 "$stack_dir/$svc.log" >&2; return 1; }
  done
}
