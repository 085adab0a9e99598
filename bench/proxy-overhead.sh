#!/usr/bin/env bash
# Measures what a Switchyard node adds to a request: the same chat completion against the mock
# provider directly and through a node, with wrk, in one run on one machine (compare the ratio,
# not absolute numbers); then the node with a hard budget on the demo tenant against the node
# without, interleaved (off, on, off), to show what budget enforcement adds. Release build.
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

# Budgets: a hard budget that every request of the demo route counts against.
admin() { # method path [body]
  curl -s -o /dev/null -w '%{http_code}' -X "$1" -H "Authorization: Bearer $SWITCHYARD_ADMIN_TOKEN" \
    -H "Content-Type: application/json" "$SWITCHYARD_ADMIN_URL/admin/v1$2" ${3:+-d "$3"}
}
p50() { grep -E "^ +50%" "$state/$1.txt" | awk '{print $2}'; }
run node-budget-off "$node" "$state/node.lua"
echo "budget created: HTTP $(admin PUT /tenants/demo/budgets/bench '{"period": "month", "limit_usd": 1000000, "mode": "hard"}')"
sleep 3
run node-budget-on "$node" "$state/node.lua"
echo "budget deleted: HTTP $(admin DELETE /tenants/demo/budgets/bench)"
sleep 3
run node-budget-off-again "$node" "$state/node.lua"
echo "throughput ratio budget on/off: $(python3 -c "print(round($(rps node-budget-on)/(($(rps node-budget-off)+$(rps node-budget-off-again))/2), 3))")"
echo "p50 off / on / off: $(p50 node-budget-off) / $(p50 node-budget-on) / $(p50 node-budget-off-again)"
