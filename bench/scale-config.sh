#!/usr/bin/env bash
# Loads a large configuration into a running `switchyard dev` cluster, for the snapshot-scale
# benchmark (issue 7): TENANTS tenants (`scale-0001`…) with ROUTES routes each (`r00`…) and KEYS
# keys each, written straight into PostgreSQL in one transaction with set-based SQL, then one
# config version bump and the same `pg_notify` a write sends. Through the admin API every one of
# the 110,000 writes would bump the version and make the control plane recompile everything.
#
# The rows are what the admin API writes: routes copy the stored (canonical) spec of a template
# route created through the API; keys are `sk-sy-S<tenant><key>-<md5>` with the SHA-256 the node
# looks up. Previous `scale-*` tenants are deleted first (with their keys and routes).
#   usage: bench/scale-config.sh <dev-state-dir> [tenants=1000] [routes=10] [keys-per-tenant=100] [model=mock-small]
# Prints the key of tenant 1 (`key <secret>`) for requests.
set -euo pipefail
state=$1; tenants=${2:-1000}; routes=${3:-10}; keys=${4:-100}; model=${5:-mock-small}
[ "$tenants" -le 9999 ] && [ "$keys" -le 999 ] && [ "$routes" -le 99 ] || { echo "at most 9999 tenants, 99 routes, 999 keys each"; exit 1; }
set -a; . "$state/dev.env"; set +a
port=$(sed -n 4p "$state/postgres/postmaster.pid")
psql() { /usr/lib/postgresql/15/bin/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d switchyard "$@"; }
curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $SWITCHYARD_ADMIN_TOKEN" -H "Content-Type: application/json" \
  "$SWITCHYARD_ADMIN_URL/admin/v1/tenants/demo/routes/scale-template" -d "{\"default\":{\"model\":\"$model\"}}"
start=$(date +%s.%N)
psql -v tenants="$tenants" -v routes="$routes" -v keys="$keys" -v model="$model" <<'SQL'
BEGIN;
DELETE FROM route_model_refs WHERE tenant LIKE 'scale-%';
DELETE FROM route_revisions WHERE tenant LIKE 'scale-%';
DELETE FROM tenants WHERE name LIKE 'scale-%';
CREATE TEMP TABLE bump ON COMMIT DROP AS
  WITH v AS (UPDATE config_state SET version = version + 1 RETURNING version) SELECT version FROM v;
INSERT INTO tenants (name, display_name, config_version)
  SELECT 'scale-' || lpad(t::text, 4, '0'), 'Scale tenant ' || t, (SELECT version FROM bump) FROM generate_series(1, :tenants) t;
INSERT INTO routes (tenant, alias, current_revision)
  SELECT 'scale-' || lpad(t::text, 4, '0'), 'r' || lpad(r::text, 2, '0'), 1
  FROM generate_series(1, :tenants) t, generate_series(0, :routes - 1) r;
INSERT INTO route_revisions (tenant, alias, revision, spec, comment, created_by)
  SELECT 'scale-' || lpad(t::text, 4, '0'), 'r' || lpad(r::text, 2, '0'), 1, template.spec, 'bench/scale-config.sh', 'bench'
  FROM generate_series(1, :tenants) t, generate_series(0, :routes - 1) r,
       (SELECT spec FROM route_revisions rr JOIN routes USING (tenant, alias)
        WHERE rr.tenant = 'demo' AND rr.alias = 'scale-template' AND rr.revision = routes.current_revision) template;
INSERT INTO route_model_refs (tenant, alias, model)
  SELECT 'scale-' || lpad(t::text, 4, '0'), 'r' || lpad(r::text, 2, '0'), :'model'
  FROM generate_series(1, :tenants) t, generate_series(0, :routes - 1) r;
INSERT INTO api_keys (id, tenant, name, prefix, secret_hash)
  SELECT 'key_scale_' || t || '_' || k, 'scale-' || lpad(t::text, 4, '0'), 'scale key ' || k, prefix,
         encode(sha256(convert_to(prefix || '-' || md5('scale' || t || '-' || k), 'UTF8')), 'hex')
  FROM generate_series(1, :tenants) t, generate_series(1, :keys) k,
       LATERAL (SELECT 'sk-sy-S' || lpad(t::text, 4, '0') || lpad(k::text, 3, '0') AS prefix) p;
SELECT pg_notify('switchyard_config', (SELECT version::text FROM bump));
COMMIT;
SQL
version=$(psql -At -c "SELECT version FROM config_state")
echo "inserted $tenants tenants, $((tenants * routes)) routes, $((tenants * keys)) keys in $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s; config version $version"
echo "key sk-sy-S0001001-$(printf 'scale1-1' | md5sum | cut -d' ' -f1)"
