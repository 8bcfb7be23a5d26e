#!/usr/bin/env bash
# Memory of the sample site under a mixed load: starts `wasigate serve` on
# samples/wasigate.toml, samples its RSS every second, loads 9 sample
# routes at once with wrk (CONNS connections each) for LOAD seconds, then
# leaves it idle IDLE seconds, and prints RSS idle after start, the peak,
# RSS at the end of the load and IDLE seconds after, and requests and
# errors per route. At idle and at the end it keeps a heap profile and
# /proc/PID/smaps_rollup, and sums /proc/PID/smaps by kind of mapping
# (anonymous executable memory is compiled machine code).
#
#   cmd/wasigate-bench/mixed/run.sh [LOAD] [IDLE] [CONNS]   (default 180 s, 60 s, 2)
#
# Needs Go, curl and wrk (Debian: apt-get install wrk), the Python and
# Ruby interpreters (samples/python/README.md, samples/ruby/README.md) and
# clang, rustc and wat2wasm for the scripts the site builds. Traffic goes
# to 127.0.0.1 only. Environment: PORT and ADMIN_PORT (18480, 19480),
# OUT (the folder for the samples, profiles and logs; default a new
# temporary one, kept), SETTLE (how long the server must be
# next to idle after start before the idle figure, 15 s), GOGC and GOMEMLIMIT as for wasigate serve.
set -euo pipefail
cd "$(dirname "$0")/../../.."
load=${1:-180}
idle=${2:-60}
conns=${3:-2}
port=${PORT:-18480}
admin=${ADMIN_PORT:-19480}
settle=${SETTLE:-15}
out=${OUT:-$(mktemp -d /tmp/wasigate-mixed.XXXXXX)}
mkdir -p "$out"

# name and path of each route: C, Go, Rust (calling the site's own API),
# WAT, Python, Ruby, a WSGI hello, Flask and the Go chi application.
routes=(
  "c /hello"
  "go /s/hello-go"
  "rust /outbound/quotes"
  "wat /s/hello.wat"
  "python /s/hello.py"
  "ruby /s/hello.rb"
  "wsgi /s/hello.wsgi/"
  "flask /s/flask.wsgi/"
  "chi /app/"
)

# The site's own configuration with another port (the outbound sample
# names the site's address too) and the admin listener with pprof. It has
# to sit beside samples/wasigate.toml: its paths are relative to its folder.
cfg=samples/.mixed-$$.toml
pid=
sampler=
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -f "$cfg"
}
trap cleanup EXIT
sed -e "s/127\.0\.0\.1:8080/127.0.0.1:$port/g" \
    -e "/^listen = /a admin_listen = \"127.0.0.1:$admin\"\npprof = true" samples/wasigate.toml >"$cfg"

echo "mixed: building wasigate; samples, profiles and logs in $out"
go build -o "$out/wasigate" ./cmd/wasigate
"$out/wasigate" serve -c "$cfg" 2>"$out/server.log" &
pid=$!
t0=$(date +%s)

echo phase=start >"$out/phase"
# One line a second: seconds since start, phase, VmRSS and VmHWM in kB.
(
  while [ -r "/proc/$pid/status" ]; do
    awk -v t=$(( $(date +%s) - t0 )) -v p="$(cat "$out/phase")" \
      '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {if (r) print t, p, r, h}' "/proc/$pid/status" 2>/dev/null || true
    sleep 1
  done
) >"$out/rss.tsv" &
sampler=$!

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }
mb() { awk -v k="$1" 'BEGIN {printf "%.0f MB", k*1024/1e6}'; }
peak() { awk -v p="$1" '$2==p && $3>m {m=$3} END {print m+0}' "$out/rss.tsv"; }

# snapshot NAME: smaps_rollup, smaps summed by kind, a heap profile and the
# Go runtime's memory figures, into $out/NAME.*.
snapshot() {
  cat "/proc/$pid/smaps_rollup" >"$out/$1.smaps_rollup"
  awk '
    /^[0-9a-f]+-[0-9a-f]+ / {
      perms = $2; name = $6
      if (name == "") kind = "anon " perms
      else if (name ~ /^\[/) kind = name " " perms
      else if (name ~ /memfd:/) kind = "memfd " perms " " name
      else { n = split(name, a, "/"); kind = "file " perms " " a[n] }
      next
    }
    /^Rss:/ { rss[kind] += $2 }
    /^Swap:/ { }
    END { for (k in rss) if (rss[k] >= 1024) printf "%8.1f MB  %s\n", rss[k] * 1024 / 1e6, k }
  ' "/proc/$pid/smaps" | sort -rn >"$out/$1.smaps_by_kind"
  curl -fsS "http://127.0.0.1:$admin/metrics" 2>/dev/null |
    grep -E '^go_memstats_(heap_(alloc|inuse|sys|released|idle)|next_gc|sys|stack_inuse|mspan_inuse|other_sys|gc_sys)_bytes |^go_gc_gogc_percent |^go_gc_gomemlimit_bytes ' \
      >"$out/$1.gomem" || true
  if curl -fsS "http://127.0.0.1:$admin/debug/pprof/heap" -o "$out/$1.heap.pprof" 2>/dev/null; then
    go tool pprof -top -sample_index=inuse_space -nodecount=25 "$out/$1.heap.pprof" >"$out/$1.heap.top" 2>/dev/null || true
  fi
}

gomem() { # the Go heap in one line, from a snapshot's .gomem
  awk '{v[$1] = $2}
    END {printf "Go heap: inuse %.0f MB, sys %.0f MB, released %.0f MB, next GC %.0f MB; runtime sys %.0f MB\n",
      v["go_memstats_heap_inuse_bytes"]/1e6, v["go_memstats_heap_sys_bytes"]/1e6,
      v["go_memstats_heap_released_bytes"]/1e6, v["go_memstats_next_gc_bytes"]/1e6, v["go_memstats_sys_bytes"]/1e6}' "$out/$1.gomem"
}

echo -n "mixed: waiting for the site (compiling on a cold cache can take minutes)"
for i in $(seq 1800); do
  curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo; echo "mixed: the server exited; $out/server.log:"; tail -20 "$out/server.log"; exit 1; }
  [ $((i % 50)) = 0 ] && echo -n .
  sleep 0.2
done
echo " ready after $(( $(date +%s) - t0 )) s, RSS $(mb "$(rss)")"
# After serving, the site builds its cgi-bin's scripts and loads its WSGI
# applications in the background (Django's for most of a minute, logging
# nothing meanwhile): idle is once the server has used under 2% of a CPU
# for SETTLE seconds.
echo phase=idle-start >"$out/phase"
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
for _ in $(seq 60); do
  c0=$(cpu); sleep "$settle"; c1=$(cpu)
  [ $(( (c1 - c0) * 100 )) -lt $(( 2 * hz * settle )) ] && break
  echo "mixed: still busy ($(( (c1 - c0) * 100 / hz / settle ))% of a CPU), RSS $(mb "$(rss)")"
done
idle_start=$(rss)
snapshot idle
echo "mixed: idle (under 2% CPU for ${settle} s) $(( $(date +%s) - t0 )) s after start: RSS $(mb "$idle_start"); $(gomem idle)"

# One request to each route first: scripts are built and WSGI applications
# snapshotted on their first request, which must not count as load.
echo phase=warmup >"$out/phase"
for r in "${routes[@]}"; do
  set -- $r
  code=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 600 "http://127.0.0.1:$port$2" || echo "000 -")
  echo "mixed: warm-up $1 $2: $code s"
done
warm=$(rss)
echo "mixed: after warm-up: RSS $(mb "$warm")"

echo phase=load >"$out/phase"
echo "mixed: loading ${#routes[@]} routes, $conns connections each, for $load s"
wpids=()
for r in "${routes[@]}"; do
  set -- $r
  wrk -t1 -c"$conns" -d"${load}s" --timeout 10s -s cmd/wasigate-bench/mixed/count.lua \
    "http://127.0.0.1:$port$2" >"$out/wrk.$1.out" 2>&1 &
  wpids+=($!)
done
start=$(date +%s)
while :; do
  running=0
  for w in "${wpids[@]}"; do kill -0 "$w" 2>/dev/null && running=1; done
  [ "$running" = 0 ] && break
  sleep 10
  echo "mixed: load $(( $(date +%s) - start ))/$load s: RSS $(mb "$(rss)"), peak so far $(mb "$(peak phase=load)")"
done
for w in "${wpids[@]}"; do wait "$w" || true; done
end_load=$(rss)
snapshot endload
echo "mixed: end of load: RSS $(mb "$end_load"); $(gomem endload)"

echo phase=after >"$out/phase"
for s in $(seq 10 10 "$idle"); do
  sleep 10
  echo "mixed: idle after the load $s/$idle s: RSS $(mb "$(rss)")"
done
sleep $(( idle % 10 ))
after=$(rss)
snapshot after
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
peak_load=$(peak phase=load)

echo
echo "== mixed load: ${#routes[@]} routes x $conns connections, $load s; figures in $out"
printf '%-8s %-22s %10s %8s %8s %8s %8s %8s\n' route path requests req/s non2xx sockerr p50ms p99ms
total=0; errs=0
for r in "${routes[@]}"; do
  set -- $r
  line=$(grep '^mixed:' "$out/wrk.$1.out" || echo "mixed: requests=0 non2xx=0 socket_errors=0 timeouts=0 p50_ms=0 p99_ms=0")
  eval "$(echo "$line" | sed 's/^mixed: //')"
  printf '%-8s %-22s %10d %8.0f %8d %8d %8s %8s\n' "$1" "$2" "$requests" "$(awk -v n="$requests" -v d="$load" 'BEGIN {print n/d}')" \
    "$non2xx" "$socket_errors" "$p50_ms" "$p99_ms"
  total=$((total + requests)); errs=$((errs + non2xx + socket_errors))
done
echo "total: $total requests ($((total / load)) req/s), $errs errors"
echo
printf '%-44s %10s  %s\n' "RSS" "" "goal"
printf '%-44s %10s  %s\n' "idle after start (quiet ${settle} s)" "$(mb "$idle_start")" "<= 300 MB"
printf '%-44s %10s\n' "after one request per route" "$(mb "$warm")"
printf '%-44s %10s  %s\n' "peak during the load (1 s samples)" "$(mb "$peak_load")" "<= 1 GB"
printf '%-44s %10s\n' "peak since start (VmHWM, includes compiling)" "$(mb "$hwm")"
printf '%-44s %10s\n' "end of the load" "$(mb "$end_load")"
printf '%-44s %10s  %s\n' "$idle s after the load" "$(mb "$after")" "< 400 MB"
echo
echo "idle: $(gomem idle)"
echo "end of load: $(gomem endload)"
echo "after: $(gomem after)"
echo
echo "smaps at idle by kind (anon r-xp: compiled code; anon rw-p: Go heap, guests' memory, images):"
head -12 "$out/idle.smaps_by_kind"
echo
echo "smaps_rollup at idle:"
grep -E '^(Rss|Pss|Pss_Anon|Pss_File|Shared_Clean|Private_Clean|Private_Dirty|Anonymous):' "$out/idle.smaps_rollup"
if [ -s "$out/idle.heap.top" ]; then
  echo
  echo "heap profile at idle (inuse_space; all of it in $out/idle.heap.top):"
  sed -n '1,20p' "$out/idle.heap.top"
fi
