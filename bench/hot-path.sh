#!/usr/bin/env bash
# The hot-path benchmark of issue 7: what a Switchyard node adds to a chat completion, next to a
# plain reverse proxy doing the same hop.
#
#   upstream: nginx serving a fixed OpenAI chat completion (/json/…) and a 32-event SSE stream
#             (/sse/…) from memory, so it cannot be the bottleneck;
#   direct:   wrk → upstream;
#   nginx:    wrk → nginx as a reverse proxy (keep-alive upstream pool) → upstream, the reference
#             for "near the limit";
#   node:     wrk → switchyard-node (release; key auth, route rules, budgets off, metrics on)
#             → upstream.
#
# The proxy under test (nginx or the node) runs pinned to core 1 with one worker/event loop; wrk
# and the upstream share core 0. Every measurement runs the three targets interleaved, in rounds,
# in the same run: throughput at 64 connections, latency at one connection, latency at a fixed
# moderate rate (half the node's peak), the same with a new snapshot swapped in every 100 ms,
# streaming time to first byte and total, and peak RSS. It prints the node/nginx ratios.
#
# Needs a release build, wrk and nginx (installed with apt-get when missing and run as root);
# binds 127.0.0.1 only; stops everything it started; about 4 minutes with the defaults.
#   usage: bench/hot-path.sh [seconds per wrk run (default 6)] [rounds (default 2)]
#   SCALE=1 bench/hot-path.sh … first loads 1,000 tenants × 10 routes and 100,000 keys.
#   HOLD=file bench/hot-path.sh sets everything up, writes the URLs and key to file and waits.
#   PERF_OUT=file bench/hot-path.sh … also profiles the node under load with perf into file.
#   NODE_ARGS="--hummingbird-server" bench/hot-path.sh … passes extra options to the node.
set -euo pipefail
cd "$(dirname "$0")/.."
# Everything this script starts runs on core 0 (wrk, the upstream, the cluster, the swap loop's
# curl); only the proxies under test are started on core 1 with `taskset -c 1`.
taskset -cp 0 $$ >/dev/null
duration=${1:-6}
rounds=${2:-2}
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -q "$tool" >/dev/null; } ||
    { echo "needs $tool (apt-get install $tool)"; exit 1; }
done
for product in switchyard switchyard-control switchyard-node switchyard-relay-floor; do
  swift build -c release --product "$product" >/dev/null 2>&1 || swift build -c release --product "$product"
done
bin=$(swift build -c release --show-bin-path)
state=$(mktemp -d /tmp/switchyard-hotpath-XXXXXX); chmod 755 "$state"
base=$((20000 + RANDOM % 12000))  # below the kernel's ephemeral ports (32768+)
up=$((base + 20)); proxy=$((base + 21)); nodeport=$((base + 22)); relayport=$((base + 23))
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$state"
}
trap cleanup EXIT

# --- the upstream and the reference proxy (nginx, one worker each, in the foreground) -----------
python3 - "$state" <<'PY'
import json, sys
state = sys.argv[1]
completion = {"id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000, "model": "bench-model",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "A fixed answer of a few words for the benchmark."},
                           "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 12, "completion_tokens": 11, "total_tokens": 23}}
events = []
for i in range(30):
    delta = {"role": "assistant", "content": ""} if i == 0 else {"content": f"word{i} "}
    events.append({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": "bench-model",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
events.append({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": "bench-model",
               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}})
stream = "".join(f"data: {json.dumps(e, separators=(',', ':'))}\n\n" for e in events) + "data: [DONE]\n\n"
open(f"{state}/completion.json", "w").write(json.dumps(completion, separators=(',', ':')))
open(f"{state}/stream.sse", "w").write(stream)
PY
nginx_conf() { # name port body-of-server
  cat > "$state/$1.conf" <<CONF
worker_processes 1;
daemon off;
pid $state/$1.pid;
error_log $state/$1.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path $state/$1-body;
  proxy_temp_path $state/$1-proxy;
  $3
  server {
    listen 127.0.0.1:$2 backlog=4096;
    $4
  }
}
CONF
}
# POST to a static file is a 405 in nginx: answer it from the file through error_page.
nginx_conf upstream "$up" "" "
    location /json/ { error_page 405 =200 /completion.json; default_type application/json; return 405; }
    location /sse/ { error_page 405 =200 /stream.sse; return 405; }
    location = /completion.json { root $state; default_type application/json; }
    location = /stream.sse { root $state; types { } default_type text/event-stream; }"
nginx_conf proxy "$proxy" "upstream up { server 127.0.0.1:$up; keepalive 128; }" "
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering off; }"
taskset -c 0 nginx -c "$state/upstream.conf" -e "$state/upstream.err" > "$state/upstream.out" 2>&1 & pids+=($!)
taskset -c 1 nginx -c "$state/proxy.conf" -e "$state/proxy.err" > "$state/proxy.out" 2>&1 & pids+=($!)
# The floor of any SwiftNIO proxy: a bare NIO relay (Benchmarks/RelayFloor), same core as the others.
taskset -c 1 "$bin/switchyard-relay-floor" "$relayport" "$up" /json/v1/chat/completions > "$state/relay.out" 2>&1 & pids+=($!)

# --- the cluster: PostgreSQL and the control plane from `switchyard dev` (its own nodes idle), and
# the node under test started here, pinned, with one event loop ------------------------------------
# The cluster (PostgreSQL, control plane, mock, its own nodes) stays off the measured core.
taskset -c 0 "$bin/switchyard" dev --state-dir "$state/dev" --base-port "$base" > "$state/dev.out" 2>&1 & pids+=($!)
for _ in $(seq 1 240); do grep -q "cluster is up" "$state/dev.out" && break; sleep 0.5; done
grep -q "cluster is up" "$state/dev.out" || { cat "$state/dev.out"; exit 1; }
set -a; . "$state/dev/dev.env"; . "$state/dev/secrets.env"; set +a
admin() { # method path [body]
  curl -sf -o /dev/null -X "$1" -H "Authorization: Bearer $SWITCHYARD_ADMIN_TOKEN" -H "Content-Type: application/json" \
    "$SWITCHYARD_ADMIN_URL/admin/v1$2" ${3:+-d "$3"}
}
admin PUT /providers/bench-json "{\"kind\":\"openai_compatible\",\"base_url\":\"http://127.0.0.1:$up/json/v1\",\"api_key\":\"bench\"}"
admin PUT /providers/bench-sse "{\"kind\":\"openai_compatible\",\"base_url\":\"http://127.0.0.1:$up/sse/v1\",\"api_key\":\"bench\"}"
admin PUT /models/bench-json '{"provider":"bench-json","upstream_model":"bench-model","input_price_per_mtok":1,"output_price_per_mtok":2}'
admin PUT /models/bench-sse '{"provider":"bench-sse","upstream_model":"bench-model","input_price_per_mtok":1,"output_price_per_mtok":2}'
# A route with a rule the requests do not match, so every request evaluates one.
admin PUT /tenants/demo/routes/bench '{"default":{"model":"bench-json"},"rules":[{"name":"tagged","when":{"field":"tag","op":"eq","value":"other"},"then":{"model":"bench-sse"}}]}'
admin PUT /tenants/demo/routes/bench-stream '{"default":{"model":"bench-sse"}}'
taskset -c 1 "$bin/switchyard-node" --port "$nodeport" --control-url "$SWITCHYARD_ADMIN_URL" \
  --node-id bench-node --state-dir "$state/node" ${NODE_ARGS:-} > "$state/node.log" 2>&1 & nodepid=$!; pids+=($nodepid)
node=http://127.0.0.1:$nodeport
for _ in $(seq 1 240); do curl -sf "$node/readyz" >/dev/null && break; sleep 0.5; done
url_json() { case $1 in direct) echo "http://127.0.0.1:$up/json/v1/chat/completions" ;; nginx) echo "http://127.0.0.1:$proxy/json/v1/chat/completions" ;; esac; }
for _ in $(seq 1 60); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$node/v1/chat/completions" -H "Authorization: Bearer $SWITCHYARD_DEMO_KEY" \
    -H 'Content-Type: application/json' -d '{"model":"bench-stream","stream":true,"messages":[{"role":"user","content":"x"}]}')
  [ "$code" = 200 ] && break; sleep 0.5
done
[ "$code" = 200 ] || { echo "the node does not serve the bench routes ($code)"; tail -20 "$state/node.log"; exit 1; }

if [ "${SCALE:-0}" = 1 ]; then
  # The large config, loaded while the node serves: compile on the control plane, transfer,
  # decode and swap on the node, each timed from the logs.
  echo "== snapshot scale: 1,000 tenants × 10 routes, 100,000 keys"
  loaded=$(date +%s.%N)
  bash bench/scale-config.sh "$state/dev" > "$state/scale.out"
  sed 's/^/   /' "$state/scale.out"
  target=$(awk '/config version/ {print $NF}' "$state/scale.out")
  for _ in $(seq 1 600); do
    [ "$(curl -s "$node/readyz" | sed 's/.*version=//')" -ge "$target" ] 2>/dev/null && break; sleep 0.1
  done
  echo "   node serves version $(curl -s "$node/readyz" | sed 's/.*version=//') $(python3 -c "print(round($(date +%s.%N) - $loaded, 2))") s after the load started"
  echo "   control plane: $(grep "compiled snapshot" "$state/dev/logs/control.log" | grep "version=$target" | tail -1 | grep -o '[a-z_]*=[0-9]*' | xargs)"
  echo "   node: $(grep "decoded snapshot" "$state/node.log" | grep "version=$target" | tail -1 | grep -o '[a-z_]*=[0-9]*' | xargs)"
  scalekey=$(awk '/^key / {print $2}' "$state/scale.out")
  code=$(curl -s -o /dev/null -w '%{http_code}' "$node/v1/chat/completions" -H "Authorization: Bearer $scalekey" \
    -H 'Content-Type: application/json' -d '{"model":"r00","messages":[{"role":"user","content":"x"}]}')
  echo "   a generated key on a generated route answers $code; node RSS now $(awk '/VmRSS/ {print int($2/1024)}' "/proc/$nodepid/status") MB"
  # The load itself (small config and the decode of the large one in memory at once) is reported
  # apart; the peak below is the one under load with the large config in place.
  loadpeak=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$nodepid/status")
  echo "   node peak RSS while loading it: $loadpeak MB (peak reset: the figure below is under load)"
  echo 5 > "/proc/$nodepid/clear_refs"
fi

if [ -n "${HOLD:-}" ]; then
  # Keep the setup up for manual experiments: upstream, nginx proxy, node, and the demo key.
  printf 'direct %s\nnginx %s\nnode %s\nnode pid %s\nkey %s\nadmin %s\ntoken %s\n' "$(url_json direct)" "$(url_json nginx)" "$node" "$nodepid" "$SWITCHYARD_DEMO_KEY" "$SWITCHYARD_ADMIN_URL" "$SWITCHYARD_ADMIN_TOKEN" > "$HOLD"
  echo "holding; details in $HOLD; stop with Ctrl-C"; sleep infinity
fi

# --- load --------------------------------------------------------------------------------------
# wrk script: one chat completion; `delay` paces each connection for the fixed-rate runs.
write_lua() { # file model stream pace-ms
  cat > "$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $SWITCHYARD_DEMO_KEY"
wrk.body = '{"model":"$2","stream":$3,"messages":[{"role":"user","content":"benchmark request with a few words"}]}'
local pace = $4
function delay()
  if pace <= 0 then return 0 end
  local whole = math.floor(pace)
  if math.random() < pace - whole then return whole + 1 end
  return whole
end
LUA
}
url() { # target json|sse
  case $1 in
    direct) echo "http://127.0.0.1:$up/$2/v1/chat/completions" ;;
    nginx) echo "http://127.0.0.1:$proxy/$2/v1/chat/completions" ;;
    relay) echo "http://127.0.0.1:$relayport/v1/chat/completions" ;;
    node) echo "$node/v1/chat/completions" ;;
  esac
}
model() { [ "$1" = node ] && { [ "$2" = sse ] && echo bench-stream || echo bench; } || echo bench-model; }
wrk_run() { # out target connections pace-ms
  write_lua "$state/$2.lua" "$(model "$2" json)" false "$4"
  taskset -c 0 wrk -t1 -c"$3" -d"${duration}s" --latency -s "$state/$2.lua" "$(url "$2" json)" > "$1"
  if grep -q "Non-2xx" "$1"; then echo "non-2xx answers from $2:"; cat "$1"; exit 1; fi
}
rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
pct() { # file 50|99 → ms
  awk -v p="$2%" '$1 == p { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } print v }' "$1"
}
mean() { python3 -c "import sys; v=[float(x) for x in sys.argv[1:]]; print(round(sum(v)/len(v), 3))" "$@"; }
results="$state/results"; : > "$results"
record() { echo "$1 $2" >> "$results"; }
value() { awk -v k="$1" '$1 == k {print $2}' "$results"; }

echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB; $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo -)"
echo "proxy under test pinned to core 1 (one worker / event loop); wrk and the upstream on core 0; ${duration}s per run, $rounds rounds"
wrk_run "$state/warm.txt" node 64 0
wrk_run "$state/warm.txt" nginx 64 0
wrk_run "$state/warm.txt" relay 64 0

echo "== throughput at 64 connections (req/s); relay = a bare SwiftNIO relay, the floor of a NIO proxy"
for round in $(seq 1 "$rounds"); do
  for target in direct nginx relay node; do
    wrk_run "$state/peak-$target-$round.txt" "$target" 64 0
    record "peak-$target-$round" "$(rps "$state/peak-$target-$round.txt")"
  done
done
for target in direct nginx relay node; do
  record "peak-$target" "$(mean $(for r in $(seq 1 "$rounds"); do value "peak-$target-$r"; done))"
  printf '   %-7s %s\n' "$target" "$(value "peak-$target")"
done

echo "== latency at 1 connection (ms, p50 / p99)"
for round in $(seq 1 "$rounds"); do
  for target in direct nginx relay node; do
    wrk_run "$state/one-$target-$round.txt" "$target" 1 0
    record "one50-$target-$round" "$(pct "$state/one-$target-$round.txt" 50)"
    record "one99-$target-$round" "$(pct "$state/one-$target-$round.txt" 99)"
  done
done
for target in direct nginx relay node; do
  for p in 50 99; do record "one$p-$target" "$(mean $(for r in $(seq 1 "$rounds"); do value "one$p-$target-$r"; done))"; done
  printf '   %-7s %s / %s\n' "$target" "$(value "one50-$target")" "$(value "one99-$target")"
done

# Fixed rate: half the node's peak, over 32 connections each paced by `delay`.
rate=$(python3 -c "print(int($(value peak-node) / 2))")
pace=$(python3 -c "print(round(32 * 1000 / $rate, 3))")
# The node's event-loop lag histogram (its timers' lateness), kept before and after a run.
lag_save() { curl -s "$node/metrics" | grep '^switchyard_event_loop_lag_seconds_bucket' > "$state/$1.lag"; }
lag_delta() { # before after -> samples over 1 ms, over 5 ms, over 25 ms, of all
  python3 - "$state/$1.lag" "$state/$2.lag" <<'PY'
import re, sys
def read(path):
    return {m.group(1): float(m.group(2)) for m in (re.search(r'le="([^"]+)"\} (\S+)', l) for l in open(path)) if m}
a, b = read(sys.argv[1]), read(sys.argv[2])
d = {k: b[k] - a.get(k, 0) for k in b}
total = d.get("+Inf", 0)
print(f"{int(total - d.get('0.001', 0))}/{int(total - d.get('0.005', 0))}/{int(total - d.get('0.025', 0))}/{int(total)}")
PY
}
fixed() { # label target [swap]
  write_lua "$state/$2.lua" "$(model "$2" json)" false "$pace"
  taskset -c 0 wrk -t1 -c32 -d"${duration}s" --latency -s "$state/$2.lua" "$(url "$2" json)" > "$state/$1.txt"
  record "$1-rate" "$(rps "$state/$1.txt")"; record "$1-50" "$(pct "$state/$1.txt" 50)"; record "$1-99" "$(pct "$state/$1.txt" 99)"
}
echo "== latency at a fixed rate of about $rate req/s (half the node's peak; ms p50 / p99, achieved req/s)"
for round in $(seq 1 "$rounds"); do
  for target in direct nginx relay; do fixed "rate-$target-$round" "$target"; done
  lag_save "lag0-$round"; fixed "rate-node-$round" node; lag_save "lag1-$round"
  record "lag-node-$round" "$(lag_delta "lag0-$round" "lag1-$round")"
  # The same on the node while the control plane publishes a new snapshot every 100 ms; and on
  # direct as the control: the control plane and PostgreSQL compile on core 0, where wrk and the
  # upstream run, so what direct loses there is the load generator's share, not the node's.
  for target in node direct; do
    ( end=$((SECONDS + duration + 1)); i=0
      while [ $SECONDS -lt $end ]; do
        i=$((i + 1))
        admin PUT /tenants/demo/routes/bench-swap "{\"default\":{\"model\":\"bench-json\"},\"comment\":\"swap $i\"}" || true
        sleep 0.1
      done ) &
    swapper=$!
    v0=$(curl -s "$node/readyz" | sed 's/.*version=//')
    lag_save "lag2-$round"
    if [ $target = node ]; then fixed "rate-swap-$round" node; else fixed "rate-swapdirect-$round" direct; fi
    lag_save "lag3-$round"
    [ $target = node ] && record "lag-swap-$round" "$(lag_delta "lag2-$round" "lag3-$round")"
    v1=$(curl -s "$node/readyz" | sed 's/.*version=//')
    wait $swapper
    [ $target = node ] && record "swapped-$round" $((v1 - v0))
  done
done
for target in direct nginx relay node swap swapdirect; do
  for k in rate 50 99; do record "rate-$target-$k" "$(mean $(for r in $(seq 1 "$rounds"); do value "rate-$target-$r-$k"; done))"; done
  label=$target; [ "$target" = swap ] && label="node, snapshot swapped every 100 ms"
  [ "$target" = swapdirect ] && label="direct, same swaps (control: core 0's share)"
  printf '   %-7s %s / %s at %s req/s\n' "$label" "$(value "rate-$target-50")" "$(value "rate-$target-99")" "$(value "rate-$target-rate")"
done
echo "   snapshots the node applied during the swap runs: $(for r in $(seq 1 "$rounds"); do printf '%s ' "$(value "swapped-$r")"; done)"
echo "   node event-loop lag, timer samples (every 10 ms) late by >1 / >5 / >25 ms of all, per round:"
echo "     without swaps: $(for r in $(seq 1 "$rounds"); do printf '%s ' "$(value "lag-node-$r")"; done)"
echo "     with swaps:    $(for r in $(seq 1 "$rounds"); do printf '%s ' "$(value "lag-swap-$r")"; done)"

echo "== streaming, 30 content events + usage + [DONE]: time to first byte and total (ms, p50 / p99 over 400 requests on one connection)"
python3 - "$state" "$rounds" "$(url direct sse)" "$(url nginx sse)" "$(url node sse)" "$SWITCHYARD_DEMO_KEY" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse
state, rounds, key = sys.argv[1], int(sys.argv[2]), sys.argv[6]
targets = {"direct": sys.argv[3], "nginx": sys.argv[4], "node": sys.argv[5]}
def run(name, url, n):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    body = json.dumps({"model": "bench-stream" if name == "node" else "bench-model", "stream": True,
                       "messages": [{"role": "user", "content": "benchmark request with a few words"}]})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    ttfb, total = [], []
    for _ in range(n):
        start = time.perf_counter()
        conn.request("POST", u.path, body, headers)
        response = response = conn.getresponse()
        response.read(1)
        first = time.perf_counter()
        rest = response.read()
        end = time.perf_counter()
        assert response.status == 200 and rest.endswith(b"data: [DONE]\n\n"), (name, response.status, rest[-80:])
        ttfb.append((first - start) * 1000); total.append((end - start) * 1000)
    return ttfb, total
out = {name: ([], []) for name in targets}
for name, url in targets.items():
    run(name, url, 50)
for _ in range(rounds):
    for name, url in targets.items():
        t, s = run(name, url, 400 // rounds)
        out[name][0].extend(t); out[name][1].extend(s)
def q(v, p): v = sorted(v); return v[min(len(v) - 1, int(p * len(v)))]
with open(f"{state}/results", "a") as results:
    for name, (t, s) in out.items():
        print(f"   {name:7s} first byte {q(t, .5):.3f} / {q(t, .99):.3f}   total {q(s, .5):.3f} / {q(s, .99):.3f}")
        results.write(f"ttfb50-{name} {q(t, .5):.4f}\nttfb99-{name} {q(t, .99):.4f}\ntotal50-{name} {q(s, .5):.4f}\n")
PY

hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$1/status" 2>/dev/null || echo 0; }
proxy_worker=$(pgrep -P "$(cat "$state/proxy.pid")" | head -1)
echo "== peak RSS (MB): node $(hwm "$nodepid"), nginx worker $(hwm "$proxy_worker")"
echo "   snapshot on the node: $(curl -s "$node/readyz")"

if [ -n "${PERF_OUT:-}" ]; then
  # A profile of the node under the 64-connection load (perf from linux-perf).
  perf record -F 2000 -g -p "$nodepid" -o "$state/perf.data" -- sleep "$duration" > /dev/null 2>&1 &
  perfpid=$!
  wrk_run "$state/perf-run.txt" node 64 0
  wait $perfpid || true
  perf report -i "$state/perf.data" --no-children --percent-limit 0.7 --stdio > "$PERF_OUT" 2>/dev/null || true
  cp "$state/perf.data" "$PERF_OUT.data"
  echo "== perf profile of the node under load: $PERF_OUT"
fi

echo "== ratios (node vs nginx as a reverse proxy, same run)"
python3 - "$results" "$(hwm "$nodepid")" <<'PY'
import sys
v = {}
for line in open(sys.argv[1]):
    k, x = line.split()
    try:
        v[k] = float(x)
    except ValueError:
        pass  # the event-loop lag counts (n/n/n/n)
rss = int(sys.argv[2])
def row(name, value, target, ok):
    print(f"   {name:58s} {value:>10s}   target {target:10s} {'met' if ok else 'NOT MET'}")
ratio = v["peak-node"] / v["peak-nginx"]
row("throughput node / nginx (64 connections)", f"{ratio:.2f}", ">= 0.50", ratio >= 0.5)
added = v["one50-node"] - v["one50-direct"]
row("added p50 at 1 connection, node - direct (ms)", f"{added:.3f}", "<= 0.200", added <= 0.2)
print(f"   {'   (nginx adds ' + format(v['one50-nginx'] - v['one50-direct'], '.3f') + ' ms)':58s}")
added99 = v["rate-node-99"] - v["rate-direct-99"]
row("p99 at half the node's peak rate, node (ms)", f"{v['rate-node-99']:.3f}", "<= direct+1", added99 <= 1.0)
row("p99 with a snapshot swap every 100 ms vs without (ms)", f"{v['rate-swap-99']:.3f}", f"~{v['rate-node-99']:.3f}",
    v["rate-swap-99"] <= max(v["rate-node-99"] * 1.25, v["rate-node-99"] + 0.2))
print(f"   {'   (direct: ' + format(v['rate-direct-99'], '.3f') + ' ms without, ' + format(v['rate-swapdirect-99'], '.3f') + ' ms with the same swaps)':58s}")
ttfb = v["ttfb50-node"] - v["ttfb50-direct"]
row("stream first-byte overhead p50, node - direct (ms)", f"{ttfb:.3f}", "<= 1.000", ttfb <= 1.0)
row("node peak RSS (MB)", str(rss), "<= 100", rss <= 100)
print(f"   bare SwiftNIO relay / nginx: throughput {v['peak-relay'] / v['peak-nginx']:.2f}, added p50 at 1 connection "
      f"{v['one50-relay'] - v['one50-direct']:.3f} ms, fixed-rate p99 {v['rate-relay-99']:.3f} ms; "
      f"node / relay: throughput {v['peak-node'] / v['peak-relay']:.2f}")
print(f"   node/nginx: throughput {ratio:.2f}, 1-connection p50 {v['one50-node'] / v['one50-nginx']:.2f}, "
      f"fixed-rate p99 {v['rate-node-99'] / v['rate-nginx-99']:.2f}, stream first byte {v['ttfb50-node'] / v['ttfb50-nginx']:.2f}")
PY
