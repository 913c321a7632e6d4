#!/usr/bin/env bash
# bench/scale.sh -- one putsh router holding many idle connector sockets: its memory, then traffic through them.
#
#   bench/scale.sh                         10 connectors x 1000 sockets, cranker_3.0
#   PROTOCOL=cranker_1.0 bench/scale.sh    the same over cranker_1.0
#   CONNECTORS=2 SOCKETS=500 BUILD=0 bench/scale.sh
#
# Starts an origin (nginx, 1 worker, one static file), one router and CONNECTORS connector processes, each keeping
# SOCKETS sockets open to the router. Connectors are started one at a time; the next starts once the router holds
# all sockets so far (counted as ESTABLISHED TCP connections on the register port, which is what the router's
# process pays for). Then, after SETTLE s idle, it records the router's and the connectors' VmRSS and VmHWM
# (/proc/PID/status), serves DURATION s of wrk through the router (every response checked: 200 and FILE_BYTES
# long), waits for the sockets to be back (cranker_1.0 replaces every used socket), settles again and records
# RSS again. Everything is stopped by PID. The table is printed and saved, with the raw numbers and the logs, in
# bench/results/scale-<date>-<time>/. Ports: BASE_PORT (origin), +10 (router clients), +11 (router register).
#
# Settings (environment variables, defaults in brackets):
#   CONNECTORS [10]          connector processes
#   SOCKETS    [1000]        --sockets of each connector
#   PROTOCOL   [cranker_3.0] --protocols of each connector (cranker_3.0 or cranker_1.0)
#   BASE_PORT  [29080]       away from bench/run.sh's 28080+, so both can run
#   WAIT       [120]         seconds allowed for all sockets to be established (and again after the traffic)
#   SETTLE     [10]          seconds idle before each memory reading (the router's idle CPU is measured over it)
#   DURATION   [10]          seconds of wrk (0 = no traffic)
#   CONNS      [32]          wrk connections (one thread)
#   FILE_BYTES [1024]        size of the file served (/b/file)
#   CPUS       [all]         taskset CPU list for every process started (e.g. 0 to pin)
#   NICE       [0]           nice level of every process started (e.g. 10 when sharing the host)
#   BUILD      [1]           1 = `dotnet publish src/Putsh.Cli -c Release -o BENCH_PUTSH_DIR` first; 0 = use what is there
#   AOT        [0]           1 = the Native AOT build (PublishAot, needs clang), started as BENCH_PUTSH_DIR/putsh
#   BENCH_PUTSH_DIR  [bench/out/putsh, or bench/out/putsh-aot with AOT=1]  the published putsh, shared with bench/run.sh
#                            (never rebuilt while run.sh runs)
#   ROUTER_ENV, CONNECTOR_ENV []  extra environment for the router / connectors, "K=V K2=V2" (e.g. DOTNET_GCgen0size=0x400000)
#   ROUTER_ARGS, CONNECTOR_ARGS [] extra flags for `putsh router` / `putsh connector`, split on spaces
#   PROBE      []            a command run by `bash -c` after the idle reading and after the last one, with PHASE
#                            (idle, after), ROUTER_PID, CONNECTOR_PIDS and RESULTS set, e.g.
#                            'dotnet-gcdump collect -p $ROUTER_PID -o $RESULTS/router-$PHASE.gcdump'; output: logs/probe-PHASE.log
set -euo pipefail
export LC_ALL=C

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$BENCH/lib.sh"

CONNECTORS=${CONNECTORS:-10}; SOCKETS=${SOCKETS:-1000}; PROTOCOL=${PROTOCOL:-cranker_3.0}
BASE_PORT=${BASE_PORT:-29080}; WAIT=${WAIT:-120}; SETTLE=${SETTLE:-10}
DURATION=${DURATION:-10}; CONNS=${CONNS:-32}; FILE_BYTES=${FILE_BYTES:-1024}
CPUS=${CPUS:-0-$(( $(nproc) - 1 ))}; NICE=${NICE:-0}; BUILD=${BUILD:-1}; AOT=${AOT:-0}
[[ $AOT == 0 || $AOT == 1 ]] || fail "AOT must be 0 or 1"
if [[ $AOT == 1 ]]; then BENCH_PUTSH_DIR=${BENCH_PUTSH_DIR:-$BENCH/out/putsh-aot}; else BENCH_PUTSH_DIR=${BENCH_PUTSH_DIR:-$BENCH/out/putsh}; fi
PROBE=${PROBE:-}; ROUTER_ENV=${ROUTER_ENV:-}; CONNECTOR_ENV=${CONNECTOR_ENV:-}; ROUTER_ARGS=${ROUTER_ARGS:-}; CONNECTOR_ARGS=${CONNECTOR_ARGS:-}
P_ORIGIN=$BASE_PORT; P_ROUTER=$((BASE_PORT + 10)); P_REGISTER=$((BASE_PORT + 11))
TOTAL=$(( CONNECTORS * SOCKETS ))
HZ=$(getconf CLK_TCK)

[[ $PROTOCOL == cranker_3.0 || $PROTOCOL == cranker_1.0 ]] || fail "PROTOCOL must be cranker_3.0 or cranker_1.0"
for n in CONNECTORS SOCKETS WAIT SETTLE DURATION CONNS FILE_BYTES; do
  [[ ${!n} =~ ^[0-9]+$ ]] || fail "$n must be a whole number"
done
(( CONNECTORS >= 1 && SOCKETS >= 1 && CONNS >= 1 && FILE_BYTES >= 1 )) || fail "CONNECTORS, SOCKETS, CONNS and FILE_BYTES must be at least 1"
for tool in nginx wrk curl ss taskset; do command -v "$tool" >/dev/null || fail "$tool not found"; done
command -v dotnet >/dev/null || fail "dotnet not found"

OUT="$BENCH/out/scale"; STATE="$OUT/state"
RES="$BENCH/results/scale-$(date -u +%Y%m%d-%H%M%S)"
LOG_DIR="$RES/logs"; RAW="$RES/raw.tsv"
mkdir -p "$OUT/www/b" "$STATE/tmp" "$STATE/logs" "$LOG_DIR"
exec 9>"$OUT/scale.lock"   # fd 9: launch() closes it in the processes it starts
flock -n 9 || fail "another bench/scale.sh is running (lock $OUT/scale.lock)"

# Every process needs a descriptor per socket; the router needs TOTAL plus the clients'.
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]] || (( hard > 1048576 )); then hard=1048576; fi
ulimit -n "$hard" 2>/dev/null || true
(( $(ulimit -n) >= TOTAL + CONNS + 1024 )) \
  || fail "file-descriptor limit $(ulimit -n) is too low for $TOTAL sockets (raise the hard limit, or lower CONNECTORS x SOCKETS)"

if [[ $BUILD == 1 ]]; then
  # bench/run.sh holds out/run.lock while it runs from out/putsh(-aot): never replace its binaries under it.
  exec 7>"$BENCH/out/run.lock"
  if [[ $BENCH_PUTSH_DIR -ef $BENCH/out/putsh || $BENCH_PUTSH_DIR -ef $BENCH/out/putsh-aot ]] && ! flock -n 7; then
    fail "bench/run.sh is running from $BENCH_PUTSH_DIR: use BUILD=0, or another BENCH_PUTSH_DIR"
  fi
  aot_flags=(); (( AOT )) && aot_flags=(--use-current-runtime -p:PublishAot=true)
  say "publishing putsh (Release$( (( AOT )) && echo ", Native AOT")) into $BENCH_PUTSH_DIR"
  dotnet publish "$REPO/src/Putsh.Cli" -c Release "${aot_flags[@]}" -o "$BENCH_PUTSH_DIR" >"$LOG_DIR/publish.log" 2>&1 \
    || fail "dotnet publish failed; see $LOG_DIR/publish.log"
  exec 7>&-
fi
if (( AOT )); then PUTSH=("$BENCH_PUTSH_DIR/putsh"); [[ -x ${PUTSH[0]} ]] || fail "${PUTSH[0]} missing (run with BUILD=1)"
else PUTSH=(dotnet "$BENCH_PUTSH_DIR/putsh.dll"); [[ -f ${PUTSH[1]} ]] || fail "${PUTSH[1]} missing (run with BUILD=1)"; fi

# ---------------------------------------------------------------- origin and wrk check script
[[ $(stat -c %s "$OUT/www/b/file" 2>/dev/null || echo 0) == "$FILE_BYTES" ]] || head -c "$FILE_BYTES" /dev/urandom > "$OUT/www/b/file"
cat > "$STATE/origin.conf" <<EOF
# bench/scale.sh origin, rendered on each run: one static file under /b/ (the connector keeps the route segment).
daemon off;
master_process on;
worker_processes 1;
pid state/origin.pid;
error_log state/logs/origin.error.log error;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
    access_log off;
    server_tokens off;
    default_type application/octet-stream;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    client_body_temp_path state/tmp/body;
    proxy_temp_path state/tmp/proxy;
    fastcgi_temp_path state/tmp/fastcgi;
    uwsgi_temp_path state/tmp/uwsgi;
    scgi_temp_path state/tmp/scgi;
    server {
        listen 127.0.0.1:$P_ORIGIN backlog=4096;
        root www;
    }
}
EOF
cat > "$STATE/check.lua" <<'EOF'
-- bench/scale.sh: count responses that are not 200 with exactly the expected length; print one SCALE line.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) expected = tonumber(args[1]); ok = 0; bad_status = 0; bad_size = 0 end
function response(status, headers, body)
  if status ~= 200 then bad_status = bad_status + 1
  elseif #body ~= expected then bad_size = bad_size + 1
  else ok = ok + 1 end
end
function done(summary, latency, requests)
  local o, s, z = 0, 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); s = s + t:get("bad_status"); z = z + t:get("bad_size") end
  local e = summary.errors
  io.write(string.format("SCALE reqs=%d rps=%.0f ok=%d bad_status=%d bad_size=%d sock_errors=%d p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.requests / (summary.duration / 1e6), o, s, z,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
EOF
nginx -t -q -p "$OUT/" -c "$STATE/origin.conf" -e "$STATE/logs/origin.error.log" >"$LOG_DIR/nginx-t.log" 2>&1 \
  || fail "nginx rejects the origin config; see $LOG_DIR/nginx-t.log"

# Connectors first (all at once), then the router and the origin. terminate's `wait` returns the exit status of
# the process it reaps, hence the `|| true`.
cleanup() { (( ${#CONNECTOR_PIDS[@]} )) && { terminate "${CONNECTOR_PIDS[@]}" || true; }
  terminate "${TRACKED[@]}" || true; TRACKED=(); CONNECTOR_PIDS=(); }
CONNECTOR_PIDS=()
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
# start LABEL [ENV...] -- CMD... : launch on CPUS at NICE, with extra environment
start() { local label=$1; shift; local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done; shift
  launch "$label" "$CPUS" env "${envs[@]}" nice -n "$NICE" "$@"; }

established() { ss -Htn state established "( sport = :$P_REGISTER )" | wc -l; }

# wait_sockets N SECONDS : until the router holds at least N sockets; fails after SECONDS
wait_sockets() { local want=$1 limit=$(( $(now_ms) + $2 * 1000 )) p n
  while true; do
    n=$(established)
    (( n >= want )) && return 0
    for p in "${TRACKED[@]}"; do alive "$p" || fail "a started process ($p) exited; see $LOG_DIR"; done
    (( $(now_ms) < limit )) || fail "the router holds $n of $want sockets after $2 s"
    sleep 0.5
  done; }

# kb FIELD PID : one /proc/PID/status field in kB
kb() { kb_field "$1" "$2"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
record() { printf '%s\t%s\n' "$1" "$2" >> "$RAW"; }

# snapshot PHASE : record router and connector memory under PHASE
snapshot() { local phase=$1 csum=0 chwm=0 p
  for p in "${CONNECTOR_PIDS[@]}"; do csum=$(( csum + $(kb VmRSS "$p") )); chwm=$(( chwm + $(kb VmHWM "$p") )); done
  record "$phase.sockets" "$(established)"
  record "$phase.router_rss_kb" "$(kb VmRSS "$ROUTER")"
  record "$phase.router_hwm_kb" "$(kb VmHWM "$ROUTER")"
  record "$phase.router_anon_kb" "$(kb RssAnon "$ROUTER")"
  record "$phase.router_threads" "$(awk '/^Threads:/{print $2}' "/proc/$ROUTER/status")"
  record "$phase.connectors_rss_kb" "$csum"
  record "$phase.connectors_hwm_kb" "$chwm"
  say "  $phase: $(established) sockets; router VmRSS $(mib "$(kb VmRSS "$ROUTER")") MiB (VmHWM $(mib "$(kb VmHWM "$ROUTER")")), connectors VmRSS $(mib "$csum") MiB in all"; }

# settle : SETTLE s with nothing to do; records the router's CPU over it
settle() { local t0 t1; t0=$(cpu_ticks "$ROUTER"); sleep "$SETTLE"; t1=$(cpu_ticks "$ROUTER")
  SETTLE_CPU=$(awk -v t=$(( t1 - t0 )) -v hz="$HZ" -v s="$SETTLE" 'BEGIN { printf "%.1f", s ? 100 * t / hz / s : 0 }'); }

# probe PHASE : run PROBE, if any (bounded at 300 s)
probe() { [[ -n $PROBE ]] || return 0
  say "  probe ($1): $PROBE"
  PHASE=$1 ROUTER_PID=$ROUTER CONNECTOR_PIDS="${CONNECTOR_PIDS[*]}" RESULTS=$RES timeout 300 bash -c "$PROBE" \
    >"$LOG_DIR/probe-$1.log" 2>&1 || say "  the probe failed ($?); see $LOG_DIR/probe-$1.log"; }

# ---------------------------------------------------------------- run
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=""
if git -C "$REPO" status --porcelain -- src 2>/dev/null | grep -q .; then DIRTY=" (src/ has uncommitted changes)"; fi
EXTRA=""
for n in ROUTER_ENV CONNECTOR_ENV ROUTER_ARGS CONNECTOR_ARGS; do if [[ -n ${!n} ]]; then EXTRA+=" $n=\"${!n}\""; fi; done
say "results: $RES"
say "$CONNECTORS connectors x $SOCKETS sockets over $PROTOCOL; ports $P_ORIGIN/$P_ROUTER/$P_REGISTER; commit $COMMIT$DIRTY"
printf 'key\tvalue\n' > "$RAW"
ports_must_be_free "$P_ORIGIN" "$P_ROUTER" "$P_REGISTER"

start origin -- nginx -p "$OUT/" -c "$STATE/origin.conf" -e "$STATE/logs/origin.error.log"
ready_port "$P_ORIGIN" 10
URL="http://127.0.0.1:$P_ROUTER/b/file"

read -r -a rargs <<< "$ROUTER_ARGS"; read -r -a renv <<< "$ROUTER_ENV"
# The router's per-connector, per-source and per-route socket limits (256, 2048, 10,000 by default) are what this
# measures past: lifted, as an operator running this many sockets from one host would.
start router "${renv[@]}" -- "${PUTSH[@]}" router --listen "http://127.0.0.1:$P_ROUTER" \
  --register "http://127.0.0.1:$P_REGISTER" --log-level Warning \
  --max-sockets-per-connector unlimited --max-sockets-per-source unlimited --max-sockets-per-route unlimited "${rargs[@]}"
ROUTER=$LAUNCHED
ready_port "$P_REGISTER" 30
ready_port "$P_ROUTER" 30
settle
snapshot empty
record empty.router_idle_cpu_pct "$SETTLE_CPU"

read -r -a cargs <<< "$CONNECTOR_ARGS"; read -r -a cenv <<< "$CONNECTOR_ENV"
START=$(now_ms)
for (( i = 1; i <= CONNECTORS; i++ )); do
  start "connector-$i" "${cenv[@]}" -- "${PUTSH[@]}" connector --routers "ws://127.0.0.1:$P_REGISTER" \
    --route b --target "http://127.0.0.1:$P_ORIGIN" --protocols "$PROTOCOL" --sockets "$SOCKETS" --log-level Warning "${cargs[@]}"
  CONNECTOR_PIDS+=("$LAUNCHED")
  left=$(( WAIT - ($(now_ms) - START) / 1000 )); (( left > 0 )) || left=1
  wait_sockets $(( i * SOCKETS )) "$left"
  record "ramp.$i.sockets" "$(established)"
  record "ramp.$i.router_rss_kb" "$(kb VmRSS "$ROUTER")"
done
record ramp_seconds "$(( ($(now_ms) - START) / 1000 ))"
say "  the router holds $(established) sockets after $(( ($(now_ms) - START) / 1000 )) s"
settle
snapshot idle
record idle.router_idle_cpu_pct "$SETTLE_CPU"
probe idle

# Served: a smoke check, then wrk with every response checked.
code=$(curl -s -m 10 -o "$LOG_DIR/smoke.body" -w '%{http_code}' "$URL" || true)
[[ $code == 200 && $(stat -c %s "$LOG_DIR/smoke.body") == "$FILE_BYTES" ]] || fail "GET $URL through the router answered $code"
cmp -s "$LOG_DIR/smoke.body" "$OUT/www/b/file" || fail "GET $URL through the router returned different bytes"
WRK_LINE="SCALE reqs=0 rps=0 ok=0 bad_status=0 bad_size=0 sock_errors=0 p50_ms=- p99_ms=-"
if (( DURATION > 0 )); then
  say "  serving: wrk -t1 -c$CONNS -d${DURATION}s on /b/file"
  timeout $(( DURATION + 30 )) taskset -c "$CPUS" wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s --latency \
    -s "$STATE/check.lua" "$URL" -- "$FILE_BYTES" > "$LOG_DIR/wrk.txt" 2>&1 || say "  wrk exited with $?"
  WRK_LINE=$(grep -m1 '^SCALE ' "$LOG_DIR/wrk.txt" || echo "$WRK_LINE")
fi
declare -A W=()
# shellcheck disable=SC2013  # the SCALE line is split into words on purpose
for kv in $(cut -d' ' -f2- <<< "$WRK_LINE"); do W[${kv%%=*}]=${kv#*=}; done
for k in "${!W[@]}"; do record "wrk.$k" "${W[$k]}"; done
say "  wrk: ${W[reqs]} requests, ${W[rps]} req/s, ${W[ok]} ok, ${W[bad_status]} bad status, ${W[bad_size]} bad size, ${W[sock_errors]} socket errors"
snapshot served
wait_sockets "$TOTAL" "$WAIT"
settle
snapshot after
record after.router_idle_cpu_pct "$SETTLE_CPU"
probe after
for p in "$ROUTER" "${CONNECTOR_PIDS[@]}"; do alive "$p" || fail "process $p died during the run; see $LOG_DIR"; done
say "  stopping"
cleanup

# ---------------------------------------------------------------- summary
v() { awk -F'\t' -v k="$1" '$1 == k { print $2; exit }' "$RAW"; }
if (( CONNECTORS > 1 )); then
  record marginal_kib "$(awk -v a="$(v "ramp.$CONNECTORS.router_rss_kb")" -v b="$(v ramp.1.router_rss_kb)" \
    -v n="$(v "ramp.$CONNECTORS.sockets")" -v m="$(v ramp.1.sockets)" 'BEGIN { printf "%.1f", (a - b) / (n - m) }')"
fi
per_socket() { awk -v a="$(v "$1.router_rss_kb")" -v b="$(v empty.router_rss_kb)" -v n="$TOTAL" 'BEGIN { printf "%.1f", (a - b) / n }'; }
row() { local phase=$1 label=$2 cpu=${3:--}
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$(v "$phase.sockets")" \
    "$(mib "$(v "$phase.router_rss_kb")")" "$(mib "$(v "$phase.router_hwm_kb")")" \
    "$(if [[ $phase == empty ]]; then echo -; else per_socket "$phase"; fi)" \
    "$(mib "$(v "$phase.connectors_rss_kb")")" "$(v "$phase.router_threads")" "$cpu"; }
{
  echo "# putsh scale: one router, $TOTAL idle sockets"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $COMMIT$DIRTY; CPUs: $(nproc); $(uname -r)"
  echo "- command: \`$( (( AOT )) && echo "AOT=1 ")CONNECTORS=$CONNECTORS SOCKETS=$SOCKETS PROTOCOL=$PROTOCOL bench/scale.sh\`" \
       "(SETTLE=$SETTLE DURATION=$DURATION CONNS=$CONNS FILE_BYTES=$FILE_BYTES CPUS=$CPUS NICE=$NICE$EXTRA)"
  echo "- putsh: \`${PUTSH[*]}\`$( [[ $BUILD == 1 ]] && echo " (published by this run)" )"
  echo "- all $TOTAL sockets registered in $(v ramp_seconds) s (connectors started one after another)"
  echo "- traffic: ${W[reqs]} requests in ${DURATION} s (${W[rps]} req/s, p50 ${W[p50_ms]} ms, p99 ${W[p99_ms]} ms): ${W[ok]} were 200 with $FILE_BYTES bytes;" \
       "${W[bad_status]} other status, ${W[bad_size]} wrong size, ${W[sock_errors]} socket errors"
  echo
  echo "| phase | sockets | router VmRSS MiB | router VmHWM MiB | router KiB/socket | connectors VmRSS MiB (sum of $CONNECTORS) | router threads | router CPU % idle |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  row empty "router alone" "$(v empty.router_idle_cpu_pct)"
  row idle "all sockets idle, after ${SETTLE} s" "$(v idle.router_idle_cpu_pct)"
  row served "just after the traffic"
  row after "sockets back, after ${SETTLE} s" "$(v after.router_idle_cpu_pct)"
  echo
  echo "KiB/socket = (router VmRSS - VmRSS of the router alone) / $TOTAL. Router VmRSS while the connectors joined:" \
       "$(for (( i = 1; i <= CONNECTORS; i++ )); do printf '%s sockets %s MiB; ' "$(v "ramp.$i.sockets")" "$(mib "$(v "ramp.$i.router_rss_kb")")"; done)"
  if (( CONNECTORS > 1 )); then
    echo "Marginal cost, from the first connector's sockets to all of them (without the one-time cost of the first" \
         "registrations): $(v marginal_kib) KiB per socket."
  fi
  echo
  echo "Raw values: \`raw.tsv\`; process output and wrk: \`logs/\`."
} > "$RES/summary.md"
echo
cat "$RES/summary.md"
