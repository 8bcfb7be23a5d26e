#!/usr/bin/env bash
# Zero-downtime reload under load, with wrk: serves hello.wasm as /hello,
# runs wrk against it, replaces the module file half-way (the server's
# file watcher reloads it) and reports requests sent, failed, and the time
# from the file change to the first answer of the new module.
#
#   cmd/wasigate-bench/reload/run.sh [SECONDS] [CONNECTIONS]     (default 10 s, 8)
#
# Needs Go and wrk (Debian: apt-get install wrk). Traffic goes to
# 127.0.0.1 only; wrk stops by itself after SECONDS.
set -euo pipefail
cd "$(dirname "$0")/../../.."
secs=${1:-10}
conns=${2:-8}
port=${PORT:-18080}
admin=${ADMIN_PORT:-19090}

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/wasigate" ./cmd/wasigate
cp testdata/guests/hello.wasm "$work/app.wasm"
# The new module: the same guest answering HELLO (its data segment edited).
perl -0777 -pe 's/\nhello\n/\nHELLO\n/' "$work/app.wasm" >"$work/app-new.wasm"
cat > "$work/wasigate.toml" <<TOML
listen = "127.0.0.1:$port"
admin_listen = "127.0.0.1:$admin"
cache_dir = "cache"
[[route]]
path = "/hello"
module = "app.wasm"
TOML
"$work/wasigate" serve -c "$work/wasigate.toml" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

wrk -t2 -c"$conns" -d"${secs}s" -s cmd/wasigate-bench/reload/count.lua "http://127.0.0.1:$port/hello" >"$work/wrk.out" &
wrkpid=$!
sleep "$(awk -v s="$secs" 'BEGIN{print s/2}')"
t0=$(date +%s.%N)
cp "$work/app-new.wasm" "$work/app.wasm.tmp" && mv "$work/app.wasm.tmp" "$work/app.wasm"
for _ in $(seq 6000); do # at most about 30 s
  [ "$(curl -fsS "http://127.0.0.1:$port/hello" 2>/dev/null)" = "HELLO" ] && break
  sleep 0.005
done
t1=$(date +%s.%N)
wait "$wrkpid"
cat "$work/wrk.out"
echo "time to switch (file replaced -> first new answer, includes the watcher's debounce): $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", (b-a)*1000}') ms"
grep '"trigger":"changed' "$work/log" | grep -o '"build":[0-9.]*' | sed 's/"build":/reload build (ms): /' || true
echo "rejected reloads: $(grep -c '"message":"reload rejected' "$work/log" || true)"
