#!/usr/bin/env bash
# Loads a large configuration into a running `switchyard dev` cluster for the snapshot-scale
# benchmark: TENANTS tenants (`scale-0001`…), ROUTES routes each (`r00`…, default → MODEL) and
# KEYS virtual keys dealt round-robin over the tenants (key i goes to tenant (i-1) % TENANTS + 1).
#
# Why direct SQL: through the admin API each of the ~110,000 writes is its own transaction that
# bumps the config version and makes the control plane recompile the whole config. Here the rows
# go in with set-based SQL (generate_series) in ONE transaction that bumps the version once and
# sends the same `pg_notify('switchyard_config', <version>)` the store sends at commit.
#
# The rows are what the admin API writes: tenant `scale-0001` and its route `r00` ARE created
# through the API, and every other tenant/route copies their stored JSON (labels, policy, rate
# limits, canonical route spec, comment, created_by); keys use the API's column formats
# (`sk-sy-<8>-<32>` keys, prefix `sk-sy-<8>`, secret_hash = lower-case hex SHA-256 of the whole
# key, like `Hashing.sha256Hex`). No audit rows. Secrets are md5(random salt, index), so they are
# not guessable; a few are written to <state>/scale-keys.txt ("<tenant> <key>": the first key of
# the first and of the last tenant), and tenant 1's first key is printed as `key <secret>`.
#
# A rerun first deletes every `scale-*` tenant (cascading to its keys, routes, …) in its own
# version bump, then loads afresh.
#   usage: bench/scale-config.sh <dev-state-dir> [tenants=1000] [routes-per-tenant=10] [keys=100000] [model=mock-small]
set -euo pipefail
[ $# -ge 1 ] || { sed -n 's/^#   usage: //p' "$0"; exit 2; }
state=$1; tenants=${2:-1000}; routes=${3:-10}; keys=${4:-100000}; model=${5:-mock-small}
for n in "$tenants" "$routes" "$keys"; do [[ $n =~ ^[0-9]+$ ]] || { echo "counts must be numbers" >&2; exit 2; }; done
((tenants >= 1 && tenants <= 9999 && routes >= 1 && routes <= 100 && keys >= tenants && keys <= 999999)) ||
  { echo "need 1-9999 tenants, 1-100 routes, tenants ≤ keys ≤ 999999" >&2; exit 2; }
set -a; . "$state/dev.env"; set +a
# `switchyard dev` runs PostgreSQL on base port + 32 (the control plane is on the base port),
# trust auth for user postgres, database switchyard (DevCommand.swift, LocalPostgres.swift).
dburl="postgresql://postgres@127.0.0.1:$(( ${SWITCHYARD_ADMIN_URL##*:} + 32 ))/switchyard"
psql() { /usr/lib/postgresql/15/bin/psql -X -q -v ON_ERROR_STOP=1 "$dburl" "$@"; }
admin() { # method path body
  local out; out=$(curl -sS -w '\n%{http_code}' -X "$1" "$SWITCHYARD_ADMIN_URL/admin/v1$2" \
    -H "Authorization: Bearer $SWITCHYARD_ADMIN_TOKEN" -H 'Content-Type: application/json' -d "$3")
  [[ ${out##*$'\n'} == 2?? ]] || { echo "admin API $1 $2 failed: ${out//$'\n'/ }" >&2; exit 1; }
}

[ "$(psql -At -v model="$model" <<<"SELECT count(*) FROM models WHERE name = :'model'")" = 1 ] ||
  { echo "model '$model' does not exist" >&2; exit 1; }

# 1. Remove an earlier run (one version bump, only if there was anything to remove).
psql <<'SQL'
DO $$ DECLARE v bigint; BEGIN
  IF EXISTS (SELECT FROM tenants WHERE name LIKE 'scale-%') THEN
    UPDATE config_state SET version = version + 1 RETURNING version INTO v;  -- first: the writers' lock
    DELETE FROM budget_windows WHERE tenant LIKE 'scale-%';                  -- as deleteTenant does
    DELETE FROM tenants WHERE name LIKE 'scale-%';                           -- cascades to keys, routes, …
    PERFORM pg_notify('switchyard_config', v::text);
  END IF;
END $$;
SQL

# 2. The template, through the admin API (also checks that the model exists).
start=$(date +%s.%N)
admin POST /tenants '{"name":"scale-0001","display_name":"Scale tenant 0001"}'
admin PUT /tenants/scale-0001/routes/r00 "{\"default\":{\"model\":\"$model\"}}"

# 3. Everything else in one transaction, one version.
salt=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
samples=$(psql -At -F ' ' -v tenants="$tenants" -v routes="$routes" -v keys="$keys" -v salt="$salt" <<'SQL'
BEGIN;
UPDATE config_state SET version = version + 1 RETURNING version AS version \gset
CREATE TEMP TABLE tpl ON COMMIT DROP AS
  SELECT t.labels, t.policy, t.rate_limits, v.spec, v.comment, v.created_by
  FROM tenants t JOIN routes r ON r.tenant = t.name
  JOIN route_revisions v ON v.tenant = r.tenant AND v.alias = r.alias AND v.revision = r.current_revision
  WHERE t.name = 'scale-0001' AND r.alias = 'r00';
INSERT INTO tenants (name, display_name, labels, policy, rate_limits, config_version)
  SELECT 'scale-' || lpad(t::text, 4, '0'), 'Scale tenant ' || lpad(t::text, 4, '0'), labels, policy, rate_limits, :version
  FROM generate_series(2, :tenants) t, tpl;
UPDATE tenants SET config_version = :version WHERE name = 'scale-0001';
CREATE TEMP TABLE new_routes ON COMMIT DROP AS
  SELECT 'scale-' || lpad(t::text, 4, '0') AS tenant, 'r' || lpad(r::text, 2, '0') AS alias
  FROM generate_series(1, :tenants) t, generate_series(0, :routes - 1) r WHERE (t, r) <> (1, 0);
INSERT INTO routes (tenant, alias, current_revision) SELECT tenant, alias, 1 FROM new_routes;
INSERT INTO route_revisions (tenant, alias, revision, spec, comment, created_by)
  SELECT n.tenant, n.alias, 1, spec, comment, created_by FROM new_routes n, tpl;
INSERT INTO route_model_refs (tenant, alias, model)
  SELECT n.tenant, n.alias, m.model FROM new_routes n, route_model_refs m WHERE m.tenant = 'scale-0001' AND m.alias = 'r00';
CREATE TEMP TABLE new_keys ON COMMIT DROP AS
  SELECT i, 'scale-' || lpad(((i - 1) % :tenants + 1)::text, 4, '0') AS tenant,
         'sk-sy-sc' || lpad(i::text, 6, '0') AS prefix, 'sk-sy-sc' || lpad(i::text, 6, '0') || '-' || md5(:'salt' || i) AS secret
  FROM generate_series(1, :keys) i;
INSERT INTO api_keys (id, tenant, name, prefix, secret_hash, labels, expires_at, allowed_routes, metadata, policy, rate_limits)
  SELECT 'key_scale' || lpad(i::text, 11, '0'), tenant, 'scale key ' || ((i - 1) / :tenants + 1), prefix,
         encode(sha256(convert_to(secret, 'UTF8')), 'hex'), '{}', NULL, '[]', '{}', tpl.policy, '{}'
  FROM new_keys, tpl;
SELECT tenant, secret FROM new_keys WHERE i IN (1, :tenants) ORDER BY i;
SELECT pg_notify('switchyard_config', :'version') \g /dev/null
COMMIT;
SQL
)
took=$(python3 -c "print(round($(date +%s.%N) - $start, 2))")
version=$(psql -At -c "SELECT version FROM config_state")
echo "$samples" > "$state/scale-keys.txt"
echo "inserted $tenants tenants, $((tenants * routes)) routes, $keys keys (model $model) in $took s; config version $version"
echo "sample keys in $state/scale-keys.txt"
awk 'NR == 1 {print "key", $2}' "$state/scale-keys.txt"
