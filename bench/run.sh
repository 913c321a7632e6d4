#!/usr/bin/env bash
# bench/run.sh -- end-to-end benchmark of putsh against nginx baselines.
#
#   bench/run.sh [ROUNDS] [SUT...]      ROUNDS defaults to 3; SUTs default to all five:
#                                       direct nginx2 yarp2 putsh-v1 putsh-v3
#                                       (yarp2: two chained YARP 2.3 proxies, benchmarks/YarpHop, Native AOT)
#                                       (also known, not run by default: putsh-v3-noack, cranker_3.0 with
#                                       --acknowledge-heads false, to measure what head acknowledgements cost;
#                                       putsh-v3-metrics, cranker_3.0 with --admin and --framework-metrics true on
#                                       router and connector, so the OpenTelemetry SDK aggregates every instrument;
#                                       putsh-v3-metrics-own, --admin alone (the default meters), to measure what
#                                       metrics cost)
#
# Every SUT runs once per round, in the same order each round (A B C D A B C D ...).
# The summary (medians per SUT, ratio to nginx2 from the same rounds) is printed and
# written to bench/results/<date>-<time>/summary.md. See bench/README.md for the method.
#
# Settings (environment variables, defaults in brackets):
#   DURATION   [10]    seconds of each wrk measurement
#   WARMUP     [3]     seconds of each of the two warm-up wrk runs (small, then 100 KiB)
#   CONNS      [64]    connections of the throughput runs
#   SERVER_CPU [0]     CPU for the backend and every SUT process
#   LOAD_CPU   [1]     CPU for wrk and curl
#   LAT_CPU    [=LOAD_CPU] CPU for wrk in the 1-connection latency run (see README: same-CPU vs cross-CPU)
#   QUIET_PCT  [10]    before measuring, wait for a 1 s window in which other processes use
#   QUIET_WAIT [15]      at most QUIET_PCT % of all CPUs, for at most QUIET_WAIT s (0 = don't wait)
#   DL_MAX [20] DL_SECONDS [10]   10 MiB downloads: at most DL_MAX, stopped after DL_SECONDS
#   UL_MAX [5]  UL_SECONDS [10]   100 MB uploads:   at most UL_MAX, stopped after UL_SECONDS
#   BASE_PORT  [28080] backend = BASE_PORT, nginx hops +1/+2, putsh router +10 (clients) / +11 (register)
#   BUILD      [1]     1 = `dotnet publish` putsh first (into bench/out/putsh-aot or bench/out/putsh); 0 = use what is there
#   AOT        [1]     1 = the Native AOT build (PublishAot), started as bench/out/putsh-aot/putsh; it needs clang.
#                      0 = the JIT build, started as `dotnet bench/out/putsh/putsh.dll` (give it WARMUP=20, see README)
#   BENCH_SOCKETS []   if set, passed to the connector as --sockets (default: the connector's own)
#   BASE_REF   []      for the SUTs putsh-v3-base and putsh-v1-base: the commit whose Native AOT build they run
#                      (published from a git worktree into bench/out/putsh-base), so that a change and the code
#                      before it are measured in the same interleaved rounds. Without it, what is there is used.
set -uo pipefail
export LC_ALL=C

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$BENCH/lib.sh"

ALL_SUTS=(direct nginx2 yarp2 putsh-v1 putsh-v3)
KNOWN_SUTS=("${ALL_SUTS[@]}" putsh-v3-noack putsh-v3-metrics putsh-v3-metrics-own putsh-v3-base putsh-v1-base)
ROUNDS=3
if [[ ${1:-} =~ ^[0-9]+$ ]]; then ROUNDS=$1; shift; fi
(( ROUNDS >= 1 )) || fail "ROUNDS must be at least 1"
SUTS=("$@"); (( ${#SUTS[@]} )) || SUTS=("${ALL_SUTS[@]}")
for s in "${SUTS[@]}"; do [[ " ${KNOWN_SUTS[*]} " == *" $s "* ]] || fail "unknown SUT '$s' (known: ${KNOWN_SUTS[*]})"; done

DURATION=${DURATION:-10}; WARMUP=${WARMUP:-3}; CONNS=${CONNS:-64}
SERVER_CPU=${SERVER_CPU:-0}; LOAD_CPU=${LOAD_CPU:-1}; LAT_CPU=${LAT_CPU:-$LOAD_CPU}
QUIET_PCT=${QUIET_PCT:-10}; QUIET_WAIT=${QUIET_WAIT:-15}
DL_MAX=${DL_MAX:-20}; DL_SECONDS=${DL_SECONDS:-10}
UL_MAX=${UL_MAX:-5};  UL_SECONDS=${UL_SECONDS:-10}
BASE_PORT=${BASE_PORT:-28080}; BUILD=${BUILD:-1}; AOT=${AOT:-1}; BENCH_SOCKETS=${BENCH_SOCKETS:-}
[[ $AOT == 0 || $AOT == 1 ]] || fail "AOT must be 0 or 1"
P_BACKEND=$BASE_PORT; P_HOP_IN=$((BASE_PORT + 1)); P_HOP_OUT=$((BASE_PORT + 2))
P_ROUTER=$((BASE_PORT + 10)); P_REGISTER=$((BASE_PORT + 11))
HZ=$(getconf CLK_TCK)
UL_BYTES=100000000
SIZES=(small:100 1k:1024 100k:102400 10m:10485760)

OUT="$BENCH/out"; STATE="$OUT/state"; WWW="$OUT/www/b"; UL_FILE="$OUT/upload-100MB.bin"
PUTSH_DLL="$OUT/putsh/putsh.dll"; PUTSH_AOT="$OUT/putsh-aot/putsh"
# how a putsh process is started: the JIT build through the dotnet host, or the native executable
if [[ $AOT == 1 ]]; then PUTSH=("$PUTSH_AOT"); PUTSH_BUILD="Native AOT (bench/out/putsh-aot/putsh)"
else PUTSH=(dotnet "$PUTSH_DLL"); PUTSH_BUILD="JIT (dotnet bench/out/putsh/putsh.dll)"; fi
RES="$BENCH/results/$(date -u +%Y%m%d-%H%M%S)"
RAW="$RES/raw.tsv"

# ---------------------------------------------------------------- prerequisites
for tool in nginx wrk curl taskset sha256sum; do
  command -v "$tool" >/dev/null || fail "$tool not found (Debian 12: apt-get install nginx libnginx-mod-http-echo wrk curl)"
done
[[ -f /usr/lib/nginx/modules/ngx_http_echo_module.so ]] || fail "nginx echo module missing (apt-get install libnginx-mod-http-echo)"
(( $(nproc) >= 2 )) || say "WARNING: fewer than 2 CPUs; SERVER_CPU and LOAD_CPU will share one"

mkdir -p "$OUT" "$STATE/logs" "$STATE/tmp" "$STATE/conf" "$WWW" "$RES/logs"
exec 9>"$OUT/run.lock"
flock -n 9 || fail "another bench/run.sh is running (lock $OUT/run.lock)"

needs_putsh=0; for s in "${SUTS[@]}"; do [[ $s == putsh-* ]] && needs_putsh=1; done
if (( needs_putsh )); then
  command -v dotnet >/dev/null || fail "dotnet not found"
  if [[ $BUILD == 1 && $AOT == 1 ]]; then
    # Native AOT links with clang (Debian 12: apt-get install clang zlib1g-dev); about 80 s on 2 cores.
    command -v clang >/dev/null || fail "Native AOT needs clang on PATH (Debian 12: apt-get install clang zlib1g-dev), or run with AOT=0"
    say "publishing putsh (Release, Native AOT) into bench/out/putsh-aot"
    dotnet publish "$REPO/src/Putsh.Cli" -c Release --use-current-runtime -p:PublishAot=true -o "$OUT/putsh-aot" \
      >"$RES/logs/publish.log" 2>&1 || fail "dotnet publish failed; see $RES/logs/publish.log"
  elif [[ $BUILD == 1 ]]; then
    say "publishing putsh (Release) into bench/out/putsh"
    dotnet publish "$REPO/src/Putsh.Cli" -c Release -o "$OUT/putsh" >"$RES/logs/publish.log" 2>&1 \
      || fail "dotnet publish failed; see $RES/logs/publish.log"
  fi
  if [[ $AOT == 1 ]]; then [[ -x $PUTSH_AOT ]] || fail "$PUTSH_AOT missing (run with BUILD=1)"
  else [[ -f $PUTSH_DLL ]] || fail "$PUTSH_DLL missing (run with BUILD=1)"; fi
fi
if [[ " ${SUTS[*]} " == *"-base "* ]]; then
  if [[ -n ${BASE_REF:-} ]]; then
    say "publishing putsh at $BASE_REF (Release, Native AOT) into bench/out/putsh-base"
    rm -rf "$OUT/base-src"; git -C "$REPO" worktree prune
    git -C "$REPO" worktree add --detach "$OUT/base-src" "$BASE_REF" >"$RES/logs/publish-base.log" 2>&1 || fail "git worktree add $BASE_REF failed"
    dotnet publish "$OUT/base-src/src/Putsh.Cli" -c Release --use-current-runtime -p:PublishAot=true -o "$OUT/putsh-base" \
      >>"$RES/logs/publish-base.log" 2>&1 || fail "dotnet publish of $BASE_REF failed; see $RES/logs/publish-base.log"
    git -C "$REPO" worktree remove --force "$OUT/base-src"
  fi
  [[ -x $OUT/putsh-base/putsh ]] || fail "$OUT/putsh-base/putsh missing (give BASE_REF)"
fi
if [[ " ${SUTS[*]} " == *" yarp2 "* ]]; then
  if [[ " ${SUTS[*]} " == *" yarp2 "* && $BUILD == 1 ]]; then
    say "publishing the YARP hop (Release, Native AOT) into bench/out/yarp-aot"
    dotnet publish "$REPO/benchmarks/YarpHop" -c Release --use-current-runtime -p:PublishAot=true -o "$OUT/yarp-aot" \
      >"$RES/logs/publish-yarp.log" 2>&1 || fail "dotnet publish of the YARP hop failed; see $RES/logs/publish-yarp.log"
  fi
  if [[ " ${SUTS[*]} " == *" yarp2 "* ]]; then [[ -x $OUT/yarp-aot/YarpHop ]] || fail "$OUT/yarp-aot/YarpHop missing (run with BUILD=1)"; fi
fi

# ---------------------------------------------------------------- content
for entry in "${SIZES[@]}"; do
  name=${entry%%:*}; bytes=${entry#*:}
  [[ $(stat -c %s "$WWW/$name" 2>/dev/null) == "$bytes" ]] || head -c "$bytes" /dev/urandom > "$WWW/$name"
done
[[ $(stat -c %s "$UL_FILE" 2>/dev/null) == "$UL_BYTES" ]] || head -c "$UL_BYTES" /dev/urandom > "$UL_FILE"
declare -A SHA=()
for entry in "${SIZES[@]}"; do name=${entry%%:*}; SHA[$name]=$(sha256sum < "$WWW/$name" | cut -d' ' -f1); done
head -c 1000000 "$UL_FILE" > "$OUT/upload-1MB.bin"

render() { # TEMPLATE OUTPUT KEY=VALUE...
  local tpl=$1 dst=$2 expr=() kv; shift 2
  for kv in "$@"; do expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${expr[@]}" "$tpl" > "$dst"; }
render "$BENCH/conf/backend.nginx.conf" "$STATE/conf/backend.conf" PORT="$P_BACKEND"
render "$BENCH/conf/hop.nginx.conf" "$STATE/conf/hop-in.conf"  NAME=hop-in  PORT="$P_HOP_IN"  UPSTREAM="$P_BACKEND"
render "$BENCH/conf/hop.nginx.conf" "$STATE/conf/hop-out.conf" NAME=hop-out PORT="$P_HOP_OUT" UPSTREAM="$P_HOP_IN"
for c in backend hop-in hop-out; do
  nginx -t -q -p "$OUT/" -c "$STATE/conf/$c.conf" -e "$STATE/logs/$c.error.log" >"$RES/logs/nginx-t-$c.log" 2>&1 \
    || fail "nginx rejects $c.conf; see $RES/logs/nginx-t-$c.log"
done

cleanup() { terminate "${TRACKED[@]}"; TRACKED=(); }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- systems under test
# sut_start NAME : start the SUT's processes (pinned to SERVER_CPU), wait until it serves, set URL
sut_start() {
  case $1 in
    direct)
      URL="http://127.0.0.1:$P_BACKEND" ;;
    nginx2)
      ports_must_be_free "$P_HOP_IN" "$P_HOP_OUT"
      launch hop-in "$SERVER_CPU" nginx -p "$OUT/" -c "$STATE/conf/hop-in.conf" -e "$STATE/logs/hop-in.error.log"
      SUT_ROOTS+=("$LAUNCHED")
      launch hop-out "$SERVER_CPU" nginx -p "$OUT/" -c "$STATE/conf/hop-out.conf" -e "$STATE/logs/hop-out.error.log"
      SUT_ROOTS+=("$LAUNCHED")
      ready_port "$P_HOP_IN" 10; ready_port "$P_HOP_OUT" 10
      URL="http://127.0.0.1:$P_HOP_OUT" ;;
    yarp2)
      ports_must_be_free "$P_HOP_IN" "$P_HOP_OUT"
      launch yarp-in "$SERVER_CPU" "$OUT/yarp-aot/YarpHop" --listen "http://127.0.0.1:$P_HOP_IN" --to "http://127.0.0.1:$P_BACKEND"
      SUT_ROOTS+=("$LAUNCHED")
      launch yarp-out "$SERVER_CPU" "$OUT/yarp-aot/YarpHop" --listen "http://127.0.0.1:$P_HOP_OUT" --to "http://127.0.0.1:$P_HOP_IN"
      SUT_ROOTS+=("$LAUNCHED")
      ready_port "$P_HOP_IN" 30; ready_port "$P_HOP_OUT" 30
      URL="http://127.0.0.1:$P_HOP_OUT" ;;
    putsh-v1|putsh-v3|putsh-v3-noack|putsh-v3-metrics|putsh-v3-metrics-own|putsh-v3-base|putsh-v1-base)
      local proto=cranker_3.0; [[ $1 == putsh-v1* ]] && proto=cranker_1.0
      local bin=("${PUTSH[@]}"); [[ $1 == *-base ]] && bin=("$OUT/putsh-base/putsh")
      local extra=(); [[ -n $BENCH_SOCKETS ]] && extra=(--sockets "$BENCH_SOCKETS")
      [[ $1 == putsh-v3-noack ]] && extra+=(--acknowledge-heads false)
      local router_extra=()
      if [[ $1 == putsh-v3-metrics* ]]; then
        extra+=(--admin "http://127.0.0.1:$((P_ROUTER + 3))"); router_extra=(--admin "http://127.0.0.1:$((P_ROUTER + 2))")
        if [[ $1 == putsh-v3-metrics ]]; then extra+=(--framework-metrics true); router_extra+=(--framework-metrics true); fi
      fi
      ports_must_be_free "$P_ROUTER" "$P_REGISTER"
      launch router "$SERVER_CPU" "${bin[@]}" router \
        --listen "http://127.0.0.1:$P_ROUTER" --register "http://127.0.0.1:$P_REGISTER" --log-level Warning "${router_extra[@]}"
      SUT_ROOTS+=("$LAUNCHED")
      ready_port "$P_REGISTER" 30
      launch connector "$SERVER_CPU" "${bin[@]}" connector \
        --routers "ws://127.0.0.1:$P_REGISTER" --route b --target "http://127.0.0.1:$P_BACKEND" \
        --protocols "$proto" --log-level Warning "${extra[@]}"
      SUT_ROOTS+=("$LAUNCHED")
      URL="http://127.0.0.1:$P_ROUTER" ;;
  esac
  ready_get "$URL/b/small" 30
}

# ---------------------------------------------------------------- measurements
record() { printf '%s\t%s\t%s\t%s\n' "$ROUND" "$SUT" "$1" "$2" >> "$RAW"; }

# wrk_run KEY CONNS SECONDS PATH : run wrk on LOAD_CPU; fills W[] from the SUMMARY line
declare -A W=()
wrk_run() { local key=$1 conns=$2 secs=$3 path=$4 out="$LOG_DIR/wrk-$1.txt" kv cpu=$LOAD_CPU
  (( conns == 1 )) && cpu=$LAT_CPU
  timeout $(( secs + 20 )) taskset -c "$cpu" wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s --latency \
    -s "$BENCH/wrk-summary.lua" "$URL$path" > "$out" 2>&1
  W=()
  # shellcheck disable=SC2013  # the SUMMARY line is split into words on purpose
  for kv in $(grep -m1 '^SUMMARY ' "$out" | cut -d' ' -f2-); do W[${kv%%=*}]=${kv#*=}; done
  if [[ -z ${W[reqs]:-} ]]; then say "wrk $key produced no summary (see $out)"; W=([reqs]=0 [rps]=0 [p50_us]=- [p99_us]=- [bytes]=0 [secs]=1); ERRORS=$((ERRORS + 1)); return; fi
  local e=$(( W[connect_err] + W[read_err] + W[write_err] + W[timeouts] + W[non2xx] ))
  (( e )) && say "  wrk $key: $e errors (connect ${W[connect_err]} read ${W[read_err]} write ${W[write_err]} timeout ${W[timeouts]} non-2xx ${W[non2xx]})"
  [[ $key == warm* ]] || ERRORS=$(( ERRORS + e )); }

smoke_test() { local entry name bytes got
  for entry in "${SIZES[@]}"; do
    name=${entry%%:*}; bytes=${entry#*:}
    got=$(curl -s -m 30 -w '%{http_code}' -o "$LOG_DIR/smoke-$name" "$URL/b/$name")
    [[ $got == 200 ]] || fail "smoke: GET /b/$name through $SUT answered $got"
    [[ $(stat -c %s "$LOG_DIR/smoke-$name") == "$bytes" ]] || fail "smoke: /b/$name has the wrong size through $SUT"
    [[ $(sha256sum < "$LOG_DIR/smoke-$name" | cut -d' ' -f1) == "${SHA[$name]}" ]] || fail "smoke: /b/$name differs (sha256) through $SUT"
    rm -f "$LOG_DIR/smoke-$name"
  done
  got=$(curl -s -m 30 -X POST -H 'Expect:' -T "$OUT/upload-1MB.bin" "$URL/b/upload")
  upload_ok "$got" 1000000 || fail "smoke: 1 MB upload through $SUT answered '$got'"
  say "  smoke test passed (4 GETs size+sha256, 1 MB upload)"; }

# upload_ok RESPONSE BODYBYTES : the backend counted the whole body ($request_length = body + request head)
upload_ok() { local n=${1#received=}; [[ $1 == received=* && $n =~ ^[0-9]+$ ]] && (( n >= $2 && n < $2 + 16384 )); }

downloads() { local end=$(( $(now_ms) + DL_SECONDS * 1000 )) n=0 code size speed speeds=()
  while (( n < DL_MAX && $(now_ms) < end )); do
    read -r code size speed < <(taskset -c "$LOAD_CPU" curl -s -m 30 -o /dev/null \
      -w '%{http_code} %{size_download} %{speed_download}\n' "$URL/b/10m")
    n=$((n + 1))
    if [[ $code == 200 && $size == 10485760 ]]; then speeds+=("$speed")
    else ERRORS=$((ERRORS + 1)); say "  download $n: status $code, $size bytes"; fi
  done
  printf '%s\n' "${speeds[@]}" > "$LOG_DIR/download-speeds.txt"
  DL_N=${#speeds[@]}
  DL_MBPS=$(printf '%s\n' "${speeds[@]}" | awk 'NF{print $1/1e6}' | median); }

uploads() { local end=$(( $(now_ms) + UL_SECONDS * 1000 )) n=0 code speed body speeds=()
  while (( n < UL_MAX && $(now_ms) < end )); do
    read -r code speed < <(taskset -c "$LOAD_CPU" curl -s -m 60 -X POST -H 'Expect:' -T "$UL_FILE" \
      -o "$LOG_DIR/upload-response.txt" -w '%{http_code} %{speed_upload}\n' "$URL/b/upload")
    n=$((n + 1)); body=$(cat "$LOG_DIR/upload-response.txt" 2>/dev/null)
    if [[ $code == 200 ]] && upload_ok "$body" "$UL_BYTES"; then speeds+=("$speed")
    else ERRORS=$((ERRORS + 1)); say "  upload $n: status $code, backend said '$body'"; fi
  done
  printf '%s\n' "${speeds[@]}" > "$LOG_DIR/upload-speeds.txt"
  UL_N=${#speeds[@]}
  UL_MBPS=$(printf '%s\n' "${speeds[@]}" | awk 'NF{print $1/1e6}' | median); }

# one_run : backend + SUT up, smoke test, warm-up, measure, record, tear down
one_run() {
  LOG_DIR="$RES/logs/r$ROUND-$SUT"; mkdir -p "$LOG_DIR"
  SUT_ROOTS=(); BACKEND_ROOTS=(); ERRORS=0
  say "round $ROUND/$ROUNDS: $SUT"
  ports_must_be_free "$P_BACKEND"
  launch backend "$SERVER_CPU" nginx -p "$OUT/" -c "$STATE/conf/backend.conf" -e "$STATE/logs/backend.error.log"
  BACKEND_ROOTS=("$LAUNCHED")
  ready_port "$P_BACKEND" 10
  sut_start "$SUT"
  smoke_test

  wrk_run warm-small "$CONNS" "$WARMUP" /b/small
  wrk_run warm-100k  "$CONNS" "$WARMUP" /b/100k

  local sut_pids backend_pids s0 b0 s1 b1 waited=0 pct
  while (( waited < QUIET_WAIT )); do
    noise_mark; sleep 1; pct=$(noise_read); waited=$((waited + 1))
    (( pct <= QUIET_PCT )) && break
  done
  (( waited > 1 )) && say "  waited ${waited}s for other processes to quieten (last window: ${pct}% CPU)"
  mapfile -t sut_pids < <(descendants "${SUT_ROOTS[@]}")
  mapfile -t backend_pids < <(descendants "${BACKEND_ROOTS[@]}")
  noise_mark
  s0=$(cpu_ticks "${sut_pids[@]}"); b0=$(cpu_ticks "${backend_pids[@]}")
  wrk_run small64 "$CONNS" "$DURATION" /b/small
  s1=$(cpu_ticks "${sut_pids[@]}"); b1=$(cpu_ticks "${backend_pids[@]}")
  record small64_rps "${W[rps]}"
  record small64_p50_ms "$(awk -v u="${W[p50_us]}" 'BEGIN{print (u == "-") ? "-" : u / 1000}')"
  record small64_p99_ms "$(awk -v u="${W[p99_us]}" 'BEGIN{print (u == "-") ? "-" : u / 1000}')"
  if (( ${#sut_pids[@]} )) && (( W[reqs] > 0 )); then
    record cpu_us "$(awk -v t=$((s1 - s0)) -v hz="$HZ" -v n="${W[reqs]}" 'BEGIN{printf "%.2f", t * 1e6 / hz / n}')"
  else record cpu_us -; fi
  (( W[reqs] > 0 )) && record server_cpu_us "$(awk -v t=$((s1 - s0 + b1 - b0)) -v hz="$HZ" -v n="${W[reqs]}" 'BEGIN{printf "%.2f", t * 1e6 / hz / n}')"

  wrk_run small1 1 "$DURATION" /b/small
  record small1_p50_ms "$(awk -v u="${W[p50_us]}" 'BEGIN{print (u == "-") ? "-" : u / 1000}')"
  record small1_p99_ms "$(awk -v u="${W[p99_us]}" 'BEGIN{print (u == "-") ? "-" : u / 1000}')"

  wrk_run 100k64 "$CONNS" "$DURATION" /b/100k
  record k100_rps "${W[rps]}"
  record k100_mbps "$(awk -v b="${W[bytes]}" -v s="${W[secs]}" 'BEGIN{printf "%.1f", b / s / 1e6}')"

  downloads; record dl_mbps "$DL_MBPS"; record dl_n "$DL_N"
  uploads;   record ul_mbps "$UL_MBPS"; record ul_n "$UL_N"
  record noise_pct "$(noise_read)"

  mapfile -t sut_pids < <(descendants "${SUT_ROOTS[@]}")
  local p; for p in "${SUT_ROOTS[@]}"; do alive "$p" || { say "  SUT process $p died during the run"; ERRORS=$((ERRORS + 1)); }; done
  if (( ${#sut_pids[@]} )); then
    record rss_mib "$(awk -v k="$(kb_field VmHWM "${sut_pids[@]}")" 'BEGIN{printf "%.1f", k / 1024}')"
  else record rss_mib -; fi
  record errors "$ERRORS"
  say "  small@$CONNS $(grep -P "^$ROUND\t$SUT\tsmall64_rps" "$RAW" | cut -f4 | cut -d. -f1) req/s, 10m ${DL_MBPS} MB/s (n=$DL_N), upload ${UL_MBPS} MB/s (n=$UL_N), errors $ERRORS"

  # stop in reverse start order (connector before router, outer hop before inner), then the origin
  local i; for (( i = ${#SUT_ROOTS[@]} - 1; i >= 0; i-- )); do terminate "${SUT_ROOTS[i]}"; done
  terminate "${BACKEND_ROOTS[@]}"
  TRACKED=(); SUT_ROOTS=(); BACKEND_ROOTS=()
}

# ---------------------------------------------------------------- main
COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$REPO" status --porcelain -- src 2>/dev/null | grep -q . && echo " (src/ has uncommitted changes)")
CMDLINE="bench/run.sh $ROUNDS ${SUTS[*]}"; [[ $AOT == 0 ]] && CMDLINE="AOT=0 $CMDLINE"
say "results: $RES"
say "rounds $ROUNDS, SUTs ${SUTS[*]}; server CPU $SERVER_CPU, load CPU $LOAD_CPU (1-conn latency: $LAT_CPU); commit $COMMIT$DIRTY"
(( needs_putsh )) && say "putsh build: $PUTSH_BUILD"
printf 'round\tsut\tmetric\tvalue\n' > "$RAW"
START=$(now_ms)
for (( ROUND = 1; ROUND <= ROUNDS; ROUND++ )); do
  for SUT in "${SUTS[@]}"; do one_run; done
done
ELAPSED=$(( ($(now_ms) - START) / 1000 ))

# ---------------------------------------------------------------- summary
{
  echo "# putsh benchmark summary"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $COMMIT$DIRTY; CPUs: $(nproc) ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo))"
  echo "- command: \`$CMDLINE\` (rounds: $ROUNDS, order each round: ${SUTS[*]}; took ${ELAPSED}s)"
  echo "- settings: DURATION=${DURATION}s WARMUP=${WARMUP}s CONNS=$CONNS SERVER_CPU=$SERVER_CPU LOAD_CPU=$LOAD_CPU LAT_CPU=$LAT_CPU DL_MAX=$DL_MAX/${DL_SECONDS}s UL_MAX=$UL_MAX/${UL_SECONDS}s${BENCH_SOCKETS:+ BENCH_SOCKETS=$BENCH_SOCKETS}"
  (( needs_putsh )) && echo "- putsh build: $PUTSH_BUILD"
  echo "- tools: $(nginx -v 2>&1 | sed 's/^nginx version: //'), wrk $(wrk -v 2>&1 | awk 'NR==1{print $2}'), curl $(curl -V | awk 'NR==1{print $2}'), $(uname -r)"
  echo
  echo "Each cell: median over the rounds, and in brackets the median over rounds of (SUT / nginx2 in the same round)."
  echo "MB = 10^6 bytes. Higher is better for req/s and MB/s; lower for latency, RSS and CPU."
  echo
  awk -F'\t' -v suts="${SUTS[*]}" '
    NR == 1 { next }
    { v[$2, $3, $1] = $4; rounds[$1] = 1 }
    function med(arr, n,   i, j, t) {
      for (i = 2; i <= n; i++) for (j = i; j > 1 && arr[j-1] > arr[j]; j--) { t = arr[j]; arr[j] = arr[j-1]; arr[j-1] = t }
      return (n % 2) ? arr[(n+1)/2] : (arr[n/2] + arr[n/2+1]) / 2 }
    function cell(s, m, fmt,   r, n, k, a, b, x, y) {
      n = 0; k = 0; delete a; delete b
      for (r in rounds) {
        x = v[s, m, r]; if (x == "" || x == "-") continue
        a[++n] = x + 0
        y = v["nginx2", m, r]
        if (s != "nginx2" && has_ref && y != "" && y != "-" && y + 0 > 0 && m != "errors" && m != "noise_pct") b[++k] = (x + 0) / (y + 0)
      }
      if (!n) return "-"
      out = sprintf(fmt, med(a, n))
      if (k) out = out sprintf(" (%.2f×)", med(b, k))
      return out }
    END {
      ns = split(suts, S, " "); has_ref = 0
      for (i = 1; i <= ns; i++) if (S[i] == "nginx2") has_ref = 1
      nm = split("small64_rps small64_p50_ms small64_p99_ms small1_p50_ms small1_p99_ms k100_rps k100_mbps dl_mbps ul_mbps rss_mib cpu_us server_cpu_us errors noise_pct", M, " ")
      L["small64_rps"] = "small GET req/s @64 conns";        F["small64_rps"] = "%.0f"
      L["small64_p50_ms"] = "small GET p50 ms @64";          F["small64_p50_ms"] = "%.3f"
      L["small64_p99_ms"] = "small GET p99 ms @64";          F["small64_p99_ms"] = "%.3f"
      L["small1_p50_ms"] = "small GET p50 ms @1 conn";       F["small1_p50_ms"] = "%.3f"
      L["small1_p99_ms"] = "small GET p99 ms @1 conn";       F["small1_p99_ms"] = "%.3f"
      L["k100_rps"] = "100 KiB GET req/s @64";               F["k100_rps"] = "%.0f"
      L["k100_mbps"] = "100 KiB GET MB/s @64";               F["k100_mbps"] = "%.0f"
      L["dl_mbps"] = "10 MiB download MB/s (1 stream)";      F["dl_mbps"] = "%.0f"
      L["ul_mbps"] = "100 MB upload MB/s (1 stream)";        F["ul_mbps"] = "%.0f"
      L["rss_mib"] = "SUT peak RSS MiB (sum of VmHWM)";      F["rss_mib"] = "%.1f"
      L["cpu_us"] = "SUT CPU µs/request (small @64)";        F["cpu_us"] = "%.1f"
      L["server_cpu_us"] = "SUT+backend CPU µs/request";     F["server_cpu_us"] = "%.1f"
      L["errors"] = "errors (all measurements)";             F["errors"] = "%d"
      L["noise_pct"] = "other processes CPU % (noise)";      F["noise_pct"] = "%.0f"
      hdr = "| metric |"; sep = "|---|"
      for (i = 1; i <= ns; i++) { hdr = hdr " " S[i] " |"; sep = sep "---:|" }
      print hdr; print sep
      for (j = 1; j <= nm; j++) {
        line = "| " L[M[j]] " |"
        for (i = 1; i <= ns; i++) line = line " " cell(S[i], M[j], F[M[j]]) " |"
        print line }
    }' "$RAW"
  echo
  echo "Raw values: \`raw.tsv\`; wrk output, curl speeds and process logs: \`logs/\`."
} > "$RES/summary.md"
echo
cat "$RES/summary.md"
