# shellcheck shell=bash
# bench/lib.sh -- helpers sourced by bench/run.sh (not meant to be run on its own).
#
# Process rule: the suite only ever signals PIDs it started itself (recorded in
# TRACKED, plus their descendants found through /proc), never processes by name.

say()  { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
fail() { say "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- numbers
# median of the numbers on stdin ("-" when there are none)
median() { sort -g | awk '{v[NR]=$1} END { if (!NR) { print "-"; exit }
  if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2] + v[NR/2+1]) / 2 }'; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $(( t / 1000 )); }

# ---------------------------------------------------------------- processes
TRACKED=()          # PIDs started by this run (all roles)
# SUT_ROOTS: the subset that belongs to the SUT being measured; BACKEND_ROOTS: the origin.
# shellcheck disable=SC2034  # both are filled and read by run.sh
{ SUT_ROOTS=(); BACKEND_ROOTS=(); }

# launch LABEL CPU CMD... : start CMD in the background pinned to CPU, output to the
# round's log folder; sets LAUNCHED to CMD's own PID (the subshell execs taskset, which execs CMD).
launch() { local label=$1 cpu=$2; shift 2
  ( exec taskset -c "$cpu" "$@" </dev/null >"$LOG_DIR/$label.log" 2>&1 9>&- ) &
  LAUNCHED=$!
  TRACKED+=("$LAUNCHED"); }

alive() { local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && ${st:0:1} != Z && ${st:0:1} != X ]]; }

# descendants PIDs... : the given PIDs and every live descendant
descendants() { (( $# )) || return 0
  ps -e -o pid=,ppid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) mine[r[i]] = 1 }
    { parent[$1] = $2 }
    END { grew = 1
          while (grew) { grew = 0
            for (p in parent) if (!(p in mine) && (parent[p] in mine)) { mine[p] = 1; grew = 1 } }
          for (p in mine) if (p in parent) print p }'; }

# cpu_ticks PIDs... : utime+stime (+ reaped children's) summed over the PIDs
cpu_ticks() { local sum=0 p t
  for p in "$@"; do
    t=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}')
    sum=$(( sum + ${t:-0} ))
  done; echo "$sum"; }

# kb_field FIELD PIDs... : sum of one /proc/PID/status field (kB)
kb_field() { local field=$1 sum=0 p k v _; shift
  for p in "$@"; do
    while read -r k v _; do [[ $k == "$field:" ]] && { sum=$(( sum + v )); break; }; done \
      < "/proc/$p/status" 2>/dev/null
  done; echo "$sum"; }

# terminate PIDs... : SIGTERM the PIDs and their descendants, SIGKILL whatever is left after 10 s
terminate() { (( $# )) || return 0
  local all p
  mapfile -t all < <(descendants "$@")
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 100); do
    local left=0; for p in "${all[@]}"; do alive "$p" && left=1; done
    (( left )) || break; sleep 0.1
  done
  for p in "${all[@]}"; do alive "$p" && { say "SIGKILL $p"; kill -KILL "$p" 2>/dev/null; }; done
  for p in "$@"; do wait "$p" 2>/dev/null; done
  return 0; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ports_must_be_free() { local p; for p in "$@"; do port_busy "$p" && fail "127.0.0.1:$p is already in use"; done; return 0; }

# ready_port PORT SECONDS : wait until the port accepts connections
ready_port() { local port=$1 limit=$(( $(now_ms) + $2 * 1000 )) p
  while (( $(now_ms) < limit )); do
    port_busy "$port" && return 0
    for p in "${TRACKED[@]}"; do alive "$p" || fail "a started process ($p) exited; see $LOG_DIR"; done
    sleep 0.1
  done; fail "port $port not open after $2 s"; }

# ready_get URL SECONDS : wait until GET URL answers 200
ready_get() { local url=$1 limit=$(( $(now_ms) + $2 * 1000 )) p code
  while (( $(now_ms) < limit )); do
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url")
    [[ $code == 200 ]] && return 0
    for p in "${TRACKED[@]}"; do alive "$p" || fail "a started process ($p) exited; see $LOG_DIR"; done
    sleep 0.2
  done; fail "$url did not answer 200 within $2 s (last status $code)"; }

# ---------------------------------------------------------------- host noise
# CPU used by processes outside this run, in % of all CPUs, between mark and read.
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }
own_ticks() { local ours; mapfile -t ours < <(descendants "${TRACKED[@]}")
  echo $(( $(cpu_ticks $$) + $(cpu_ticks "${ours[@]}") )); }
noise_mark() { NOISE_T0=$(now_ms); NOISE_B0=$(busy_ticks); NOISE_O0=$(own_ticks); }
noise_read() { local dt=$(( $(now_ms) - NOISE_T0 )) db=$(( $(busy_ticks) - NOISE_B0 )) do=$(( $(own_ticks) - NOISE_O0 ))
  awk -v f=$(( db - do )) -v dt="$dt" -v hz="$HZ" -v n="$(nproc)" \
    'BEGIN { x = dt ? 100 * f / (dt / 1000 * hz * n) : 0; if (x < 0) x = 0; printf "%.0f", x }'; }
