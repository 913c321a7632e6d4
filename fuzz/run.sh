#!/usr/bin/env bash
# fuzz/run.sh -- coverage-guided fuzzing of putsh's wire readers with AFL++ and SharpFuzz.
#
#   fuzz/run.sh [TARGET] [SECONDS]     TARGET: frames (RFC 6455 frames, then cranker_3.0 messages; the default) or v3
#                                      (one cranker_3.0 message); SECONDS: how long afl-fuzz runs [60]
#
# Installs what it needs when missing (Debian's afl++, the SharpFuzz.CommandLine dotnet tool), publishes
# fuzz/Putsh.Fuzz, instruments Putsh.Protocol.dll, and runs afl-fuzz on the seeds in fuzz/corpus/TARGET. Findings go
# to fuzz/out/TARGET/default/crashes and hangs; the script exits 1 when there is any. The test suite runs the same
# targets over the seeds and a fixed set of mutations (FuzzTargetTests), without AFL.
set -euo pipefail
TARGET=${1:-frames}; SECONDS_TO_RUN=${2:-60}
[[ $TARGET == frames || $TARGET == v3 ]] || { echo "unknown target '$TARGET' (frames, v3)" >&2; exit 2; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$HERE/out"; BIN="$OUT/bin"; TOOLS="$OUT/tools"
mkdir -p "$OUT"

command -v afl-fuzz >/dev/null || { echo "installing afl++ (Debian)"; apt-get install -y -qq afl++ >/dev/null; }
[[ -x $TOOLS/sharpfuzz ]] || dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$TOOLS" >/dev/null

rm -rf "$BIN"
dotnet publish "$HERE/Putsh.Fuzz" -c Release -o "$BIN" >"$OUT/publish.log" 2>&1 || { echo "publish failed: $OUT/publish.log" >&2; exit 1; }
"$TOOLS/sharpfuzz" "$BIN/Putsh.Protocol.dll" >"$OUT/instrument.log" 2>&1 || { echo "instrumenting failed: $OUT/instrument.log" >&2; exit 1; }

# .NET needs room: no memory limit, a generous timeout per input; a container seldom has a core-dump handler or
# CPU frequency governor that AFL would like, and neither matters to a managed target.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_SKIP_BIN_CHECK=1
rm -rf "$OUT/$TARGET"
afl-fuzz -i "$HERE/corpus/$TARGET" -o "$OUT/$TARGET" -m none -t 10000 -V "$SECONDS_TO_RUN" -- dotnet "$BIN/Putsh.Fuzz.dll" "$TARGET" || true

found=$(find "$OUT/$TARGET/default/crashes" "$OUT/$TARGET/default/hangs" -type f ! -name README.txt 2>/dev/null | wc -l)
execs=$(awk -F: '/^execs_done/ {gsub(/ /, "", $2); print $2}' "$OUT/$TARGET/default/fuzzer_stats" 2>/dev/null || echo "?")
echo "fuzz $TARGET: $execs executions in ${SECONDS_TO_RUN}s, $found findings"
(( found == 0 ))
