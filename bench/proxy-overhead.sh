#!/usr/bin/env bash
# Measures what a Switchyard node adds to a request: the same chat completion against the mock
# provider directly and through a node, with wrk, in one run on one machine (compare the ratio,
# not absolute numbers); then the node with a hard budget and rate limits (RPM and TPM) on the demo
# tenant against the node without, interleaved (off, on, off), to show what budget and rate-limit
# enforcement adds, and how many requests waited for the control plane. Release build.
# Loopback only; bounded in time.
#   usage: bench/proxy-overhead.sh [seconds per run (default 10)] [connections (default 16)]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=${2:-16}
command -v wrk >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -q wrk >/dev/null; } || { echo "needs wrk (apt-get install wrk)"; exit 1; }
# One product per invocation: SwiftPM builds only one of several --product flags.
for product in switchyard switchyard-control switchyard-node; do
  swift build -c release --product "$product" >/dev/null 2>&1 || swift build -c release --product "$product"
done
bin=$(swift build -c release --show-bin-path)
state=$(mktemp -d /tmp/switchyard-bench-XXXXXX); chmod 755 "$state"
base=$((30000 + RANDOM % 20000))
"$bin/switchyard" dev --state-dir "$state" --base-port "$base" --token-latency-ms 0 > "$state/dev.out" 2>&1 &
dev=$!
trap 'kill -INT $dev 2>/dev/null; wait $dev 2>/dev/null; rm -rf "$state"' EXIT
for _ in $(seq 1 240); do grep -q "cluster is up" "$state/dev.out" && break; sleep 0.5; done
set -a; . "$state/dev.env"; set +a
node=${SWITCHYARD_NODE_URLS%%,*}
mock=http://127.0.0.1:$((base + 9))

cat > "$state/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $SWITCHYARD_DEMO_KEY"
wrk.body = '{"model":"MODEL","messages":[{"role":"user","content":"benchmark request with a few words"}]}'
LUA
sed "s/MODEL/mock-small/" "$state/post.lua" > "$state/direct.lua"
sed "s/MODEL/$SWITCHYARD_DEMO_MODEL/" "$state/post.lua" > "$state/node.lua"

run() { # name url script
  wrk -t"$(( connections < 2 ? 1 : 2 ))" -c"$connections" -d"${duration}s" --latency -s "$3" "$2/v1/chat/completions" > "$state/$1.txt"
  echo "== $1"; grep -E "Requests/sec|^ +50%|^ +99%|Non-2xx" "$state/$1.txt" || true
}
echo "machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1024/1024 " GiB"}'); $(date -u +%F)"
run warmup "$node" "$state/node.lua" >/dev/null
run direct "$mock" "$state/direct.lua"
run node "$node" "$state/node.lua"
run direct-again "$mock" "$state/direct.lua"
rps() { grep "Requests/sec" "$state/$1.txt" | awk '{print $2}'; }
echo "throughput ratio node/direct: $(python3 -c "print(round($(rps node)/$(rps direct), 3))")"

# Budgets and rate limits: a hard budget and tenant RPM/TPM that every request of the demo route
# counts against (limits far above what the run reaches, so nothing is refused).
admin() { # method path [body]
  curl -s -o /dev/null -w '%{http_code}' -X "$1" -H "Authorization: Bearer $SWITCHYARD_ADMIN_TOKEN" \
    -H "Content-Type: application/json" "$SWITCHYARD_ADMIN_URL/admin/v1$2" ${3:+-d "$3"}
}
tenant_with() { # rate_limits JSON: the demo tenant as it is, with these rate limits
  curl -s -H "Authorization: Bearer $SWITCHYARD_ADMIN_TOKEN" "$SWITCHYARD_ADMIN_URL/admin/v1/tenants/demo" |
    python3 -c "import json,sys; t=json.load(sys.stdin); print(json.dumps({k: t[k] for k in ('display_name','labels','policy')} | {'rate_limits': json.loads(sys.argv[1])}))" "$1"
}
waits() { curl -s "$node/metrics" | awk '/^switchyard_lease_waits_total/ {print $2}' | head -1; }
p50() { grep -E "^ +50%" "$state/$1.txt" | awk '{print $2}'; }
run node-limits-off "$node" "$state/node.lua"
echo "budget created: HTTP $(admin PUT /tenants/demo/budgets/bench '{"period": "month", "limit_usd": 1000000, "mode": "hard"}')"
echo "rate limits set: HTTP $(admin PUT /tenants/demo "$(tenant_with '{"rpm": 100000000, "tpm": 1000000000}')")"
sleep 3
run warmup-limits "$node" "$state/node.lua" >/dev/null
before=$(waits); before=${before:-0}
run node-limits-on "$node" "$state/node.lua"
after=$(waits); after=${after:-0}
echo "requests that waited for the control plane during the run: $(python3 -c "print(int(float('$after') - float('$before')))") of $(grep -E '^ +[0-9]+ requests in' "$state/node-limits-on.txt" | awk '{print $1}')"
echo "budget deleted: HTTP $(admin DELETE /tenants/demo/budgets/bench)"
echo "rate limits removed: HTTP $(admin PUT /tenants/demo "$(tenant_with '{}')")"
sleep 3
run node-limits-off-again "$node" "$state/node.lua"
echo "throughput ratio limits on/off: $(python3 -c "print(round($(rps node-limits-on)/(($(rps node-limits-off)+$(rps node-limits-off-again))/2), 3))")"
echo "p50 off / on / off: $(p50 node-limits-off) / $(p50 node-limits-on) / $(p50 node-limits-off-again)"
