#!/usr/bin/env bash
# End-to-end check of `switchyard dev` with the built binaries: it comes up and serves the demo
# route; with the control-plane process stopped both nodes keep serving and stay ready; Ctrl-C
# stops every process it started; a second run reuses the data (same demo key).
set -uo pipefail
cd "$(dirname "$0")/.."
bin=.build/debug
state=$(mktemp -d /tmp/switchyard-smoke-XXXXXX)
chmod 755 "$state"   # as root, PostgreSQL runs as the postgres user and must reach its folder
# Below the kernel's ephemeral range (32768+ here): a block inside it can lose a port to one of
# the cluster's own outgoing connections before the server binds it (seen in CI).
low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
if (( low > 21000 )); then base=$((20000 + RANDOM % (low - 20000 - 40))); else base=$((10000 + RANDOM % 1000)); fi
passed=0
failed=0
check() { # name, command...
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}

start_dev() {
  : > "$state/dev.out"
  "$bin/switchyard" dev --state-dir "$state" --base-port "$base" --token-latency-ms 1 >> "$state/dev.out" 2>&1 &
  dev_pid=$!
  for _ in $(seq 1 240); do
    grep -q "Switchyard dev cluster is up" "$state/dev.out" && return 0
    kill -0 "$dev_pid" 2>/dev/null || break
    sleep 0.5
  done
  echo "switchyard dev did not come up:"; tail -n 50 "$state/dev.out"; for f in "$state"/logs/*.log; do echo "== $f"; tail -n 20 "$f"; done
  return 1
}

chat() { # node URL -> prints HTTP status
  curl -s -o "$state/last.json" -w '%{http_code}' -m 20 "$1/v1/chat/completions" \
    -H "Authorization: Bearer $SWITCHYARD_DEMO_KEY" -H "Content-Type: application/json" \
    -d "{\"model\":\"$SWITCHYARD_DEMO_MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"smoke test\"}]}"
}

stop_dev() {
  kill -INT "$dev_pid" 2>/dev/null
  for _ in $(seq 1 60); do kill -0 "$dev_pid" 2>/dev/null || break; sleep 0.5; done
  ! kill -0 "$dev_pid" 2>/dev/null
}

no_leftovers() { ! pgrep -f -- "--port $base|--port $((base + 1))|--port $((base + 2))|--port $((base + 9))|-p $((base + 32))" >/dev/null; }

if start_dev; then
  check "dev.env written" test -s "$state/dev.env"
  set -a; . "$state/dev.env"; set +a
  node1=${SWITCHYARD_NODE_URLS%%,*}
  node2=${SWITCHYARD_NODE_URLS##*,}
  check "demo route answers on node 1" test "$(chat "$node1")" = 200
  check "answer is the mock's reply" grep -q '"mock reply to: smoke test"' "$state/last.json"
  check "demo route answers on node 2" test "$(chat "$node2")" = 200
  first_key=$SWITCHYARD_DEMO_KEY
  tagged=$(curl -s -D - -o /dev/null -m 20 "$node1/v1/chat/completions" -H "Authorization: Bearer $SWITCHYARD_DEMO_KEY" \
    -H "Content-Type: application/json" -H "x-switchyard-tag: summarize" \
    -d "{\"model\":\"$SWITCHYARD_DEMO_MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")
  check "a tag rule routes to the Gemini-format model" grep -qi '^x-switchyard-rule: summaries' <<< "$tagged"
  messages=$(curl -s -m 20 "$node1/v1/messages" -H "x-api-key: $SWITCHYARD_DEMO_KEY" -H "anthropic-version: 2023-06-01" \
    -H "Content-Type: application/json" \
    -d "{\"model\":\"$SWITCHYARD_DEMO_MODEL\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")
  check "Anthropic clients are served on /v1/messages" grep -q '"type":"message"' <<< "$messages"
  check "switchyard get lists the demo route" bash -c "'$bin/switchyard' get routes --tenant demo --env-file '$state/dev.env' | grep -q 'alias: demo-chat'"
  check "switchyard apply creates the example route" bash -c "'$bin/switchyard' apply -f docs/examples/canary.yaml --env-file '$state/dev.env' | grep -q 'demo/demo-canary: created'"
  check "a second apply changes nothing" bash -c "'$bin/switchyard' apply -f docs/examples/canary.yaml --env-file '$state/dev.env' | grep -q 'demo/demo-canary: unchanged'"
  check "switchyard apply creates the example prompt and its route" bash -c "'$bin/switchyard' apply -f docs/examples/prompts.yaml --env-file '$state/dev.env' | grep -q 'demo/support-reply: created (version 1)'"
  prompted() { # node URL, prompt_variables JSON -> prints the response head and body
    curl -s -D - -m 20 "$1/v1/chat/completions" -H "Authorization: Bearer $SWITCHYARD_DEMO_KEY" -H "Content-Type: application/json" \
      -d "{\"model\":\"demo-support\",\"messages\":[{\"role\":\"user\",\"content\":\"where is my parcel\"}],\"metadata\":{\"prompt_variables\":$2}}"
  }
  prompt_ok=0
  for _ in $(seq 1 20); do
    prompted "$node1" '{"customer":"Acme"}' | grep -qi '^x-switchyard-prompt: support-reply@1' && { prompt_ok=1; break; }
    sleep 0.25
  done
  check "the node renders the prompt for the route" test "$prompt_ok" = 1
  missing=$(prompted "$node1" '{}')
  check "a missing prompt variable is a 400 that names it" grep -q '"code":"missing_prompt_variable"' <<< "$missing"

  pkill -TERM -f -- "switchyard-control --port $base"
  for _ in $(seq 1 40); do curl -s -m 1 "$SWITCHYARD_ADMIN_URL/healthz" >/dev/null || break; sleep 0.25; done
  check "control plane is down" test "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "$SWITCHYARD_ADMIN_URL/healthz")" = 000
  check "node 1 serves without the control plane" test "$(chat "$node1")" = 200
  check "node 2 serves without the control plane" test "$(chat "$node2")" = 200
  check "node 1 stays ready" test "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "$node1/readyz")" = 200

  check "Ctrl-C stops switchyard dev" stop_dev
  check "no process left behind" no_leftovers

  if start_dev; then
    set -a; . "$state/dev.env"; set +a
    check "second run reuses the demo key" test "$SWITCHYARD_DEMO_KEY" = "$first_key"
    check "second run serves the demo route" test "$(chat "$node1")" = 200
    check "second run stops cleanly" stop_dev
  else
    failed=$((failed + 1))
  fi
else
  failed=$((failed + 1))
fi
check "no process left behind at the end" no_leftovers
echo "smoke: $passed passed, $failed failed"
if [ "$failed" = 0 ]; then rm -rf "$state"; fi
[ "$failed" = 0 ]
