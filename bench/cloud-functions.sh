#!/usr/bin/env bash
# Cloud function throughput: a function returning a constant, a function running one
# Parse.Query, and the same query over REST, with wrk (32 connections, 10 s each).
# Usage: cargo build --release && bench/cloud-functions.sh [port]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
port="${1:-18888}"
data="$(mktemp -d)"
url="http://127.0.0.1:$port/parse"
"$root/target/release/basalt" serve --data-dir "$data" --port "$port" --app-id bench --master-key mk \
  --cloud "$root/bench/cloud/main.js" >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server; rm -rf "$data"' EXIT
until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do
  kill -0 $server || { cat "$data/server.log"; exit 1; }
  sleep 0.05
done

requests="$(python3 -c 'import json; print(json.dumps({"requests": [{"method": "POST", "path": "/parse/classes/Item", "body": {"n": i}} for i in range(100)]}))')"
curl -sf -X POST "$url/batch" -H 'X-Parse-Application-Id: bench' -H 'X-Parse-Master-Key: mk' \
  -H 'Content-Type: application/json' -d "$requests" >/dev/null

script="$data/post.lua"
cat >"$script" <<'LUA'
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Parse-Application-Id"] = "bench"
LUA
for name in constant oneQuery; do
  echo "== POST /functions/$name"
  wrk -t2 -c32 -d10s -s "$script" "$url/functions/$name" | grep -E 'Latency|Requests/sec'
done
echo '== GET /classes/Item?where={"n":7}&limit=1'
wrk -t2 -c32 -d10s -H 'X-Parse-Application-Id: bench' "$url/classes/Item?where=%7B%22n%22%3A7%7D&limit=1" \
  | grep -E 'Latency|Requests/sec'
