#!/usr/bin/env bash
# deploy/release.sh: builds a putsh release into one folder.
#
#   deploy/release.sh [--arch x64|arm64|all] [--output DIR] [--version-suffix SUFFIX] [-- MSBUILD-ARGS...]
#
# It makes, in DIR (default artifacts/release/, under the repository):
#   putsh-VERSION-linux-x64.tar.gz    the Native AOT `putsh` binary for linux-x64 (no .NET runtime needed),
#   putsh-VERSION-linux-arm64.tar.gz  the same for linux-arm64; each holds `putsh` and, where the repository has
#                                     them, LICENSE and README.md, flat: tar -xzf FILE putsh
#   Putsh.Protocol.VERSION.nupkg, Putsh.Router..., Putsh.Connector..., Putsh.Connector.AspNetCore...
#                                     the libraries' NuGet packages, each with its .snupkg (symbols)
#   putsh.VERSION.nupkg               the .NET tool (dotnet tool install putsh), with its .snupkg
#   SHA256SUMS                        sha256sum's format, over every file above: cd DIR && sha256sum -c SHA256SUMS
# and prints what it made. Earlier release files in DIR (putsh-*-linux-*.tar.gz, *.nupkg, *.snupkg, SHA256SUMS) are
# removed first.
#
# VERSION is VersionPrefix in Directory.Build.props, plus -SUFFIX with --version-suffix (a pre-release: rc.1).
# Everything is built afresh in artifacts/release-build/ (--artifacts-path; removed at the end), never in the work
# tree's bin/ and obj/, with ContinuousIntegrationBuild=true: paths in the PDBs are /_/..., so that two clones of
# one commit build the same assemblies byte for byte (the build folder is inside the repository for that: the
# generated sources are mapped and embedded too). Arguments after `--` go to every dotnet publish and dotnet pack
# (-m:1 on a busy machine).
#
# Native AOT needs clang (or gcc, for the machine's own architecture) and zlib1g-dev; with only a versioned clang,
# CLANG=clang-14 names it. The other architecture is a cross-compilation, which needs clang, that architecture's
# binutils and C library: on Debian, for linux-arm64 on x86_64,
#   apt-get install clang llvm binutils-aarch64-linux-gnu gcc-aarch64-linux-gnu
# (and zlib1g-dev:arm64 with dpkg --add-architecture arm64), or a root file system of the target named by
# SYSROOT=/path. Where that is missing, that architecture fails with one line saying so, the rest is still made,
# and the script exits 1; --arch x64 (or arm64) builds one architecture only.
#
# Exit status: 0 when everything asked for was made; 1 when an architecture could not be built; 2 for bad usage.
set -euo pipefail

usage() { sed -n '4p' "$0" | sed 's/^# *//' >&2; exit 2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/artifacts/release"
archs=(x64 arm64)
suffix=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --arch)
      [ $# -ge 2 ] || usage
      case "$2" in
        x64 | arm64) archs=("$2") ;;
        all) archs=(x64 arm64) ;;
        *) echo "release.sh: --arch takes x64, arm64 or all, not '$2'" >&2; exit 2 ;;
      esac
      shift 2 ;;
    --output | -o) [ $# -ge 2 ] || usage; out="$2"; shift 2 ;;
    --version-suffix) [ $# -ge 2 ] || usage; suffix="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ; exit 0 ;;
    *) echo "release.sh: unknown argument '$1'" >&2; usage ;;
  esac
done

case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

command -v dotnet >/dev/null 2>&1 || { echo "release.sh: the .NET SDK (dotnet) is not on PATH" >&2; exit 1; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

cd "$root"
cli=src/Putsh.Cli/Putsh.Cli.csproj
libraries=(src/Putsh.Protocol/Putsh.Protocol.csproj src/Putsh.Router/Putsh.Router.csproj
  src/Putsh.Connector/Putsh.Connector.csproj src/Putsh.Connector.AspNetCore/Putsh.Connector.AspNetCore.csproj)
version_props=()
[ -n "$suffix" ] && version_props+=("-p:VersionSuffix=$suffix")
props=(-c Release -p:ContinuousIntegrationBuild=true "${version_props[@]}")
version=$(dotnet msbuild "$cli" -getProperty:Version "${version_props[@]}")
[ -n "$version" ] || { echo "release.sh: could not read the version from $cli" >&2; exit 1; }

# Reproducible archives: files in name order, owned by 0:0, dated at the commit (now, outside git).
if epoch=$(git -C "$root" log -1 --format=%ct 2>/dev/null) && [ -n "$epoch" ]; then :; else epoch=$(date +%s); fi
export SOURCE_DATE_EPOCH="$epoch"

work=$(mktemp -d "${TMPDIR:-/tmp}/putsh-release.XXXXXX")
build="$root/artifacts/release-build"
[ "$out" != "$build" ] || { echo "release.sh: the output folder cannot be $build, the build's own" >&2; exit 2; }
rm -rf "$build"
trap 'rm -rf "$work" "$build"' EXIT
mkdir -p "$work/dist" "$work/packages"

host=$(uname -m)
case "$host" in x86_64 | amd64) host=x64 ;; aarch64 | arm64) host=arm64 ;; esac

# The C compiler and linker Native AOT calls: clang, else CLANG, else the newest clang-N, else (native only) gcc.
compiler() {
  if [ -n "${CLANG:-}" ]; then command -v "$CLANG" >/dev/null 2>&1 && echo "$CLANG"; return 0; fi
  command -v clang >/dev/null 2>&1 && { echo clang; return; }
  local versioned
  versioned=$(compgen -c clang- | grep -E '^clang-[0-9]+$' | sort -t- -k2 -n | tail -n 1 || true)
  [ -n "$versioned" ] && { echo "$versioned"; return; }
  [ "$1" = native ] && command -v gcc >/dev/null 2>&1 && echo gcc
  return 0
}

# check_toolchain ARCH: sets problem to why linux-ARCH cannot be built here (one line; empty when it can) and
# aot_props to the properties that name the compiler and the target's root file system.
check_toolchain() {
  local arch=$1 triple cc
  problem=""
  aot_props=()
  if [ "$arch" = "$host" ]; then
    cc=$(compiler native)
    if [ -z "$cc" ]; then
      problem="no C compiler for Native AOT (apt-get install clang zlib1g-dev)"
    elif [ "$cc" != clang ]; then
      aot_props+=("-p:CppCompilerAndLinker=$cc")
    fi
    return 0
  fi
  case "$arch" in x64) triple=x86_64-linux-gnu ;; arm64) triple=aarch64-linux-gnu ;; esac
  cc=$(compiler cross)
  local missing=()
  [ -n "$cc" ] || missing+=(clang)
  if [ -n "${SYSROOT:-}" ]; then
    [ -f "$SYSROOT/usr/lib/$triple/crt1.o" ] || [ -f "$SYSROOT/usr/lib/crt1.o" ] || [ -f "$SYSROOT/lib/$triple/crt1.o" ] ||
      missing+=("$triple C library in SYSROOT=$SYSROOT")
    aot_props+=("-p:SysRoot=$SYSROOT")
  else
    command -v "$triple-ld" >/dev/null 2>&1 || missing+=("$triple-ld")
    [ -f "/usr/$triple/lib/crt1.o" ] || [ -f "/usr/lib/$triple/crt1.o" ] || missing+=("$triple C library")
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    local list
    list=$(printf ', %s' "${missing[@]}")
    problem="cannot cross-compile Native AOT from linux-$host: no ${list:2} (apt-get install clang llvm binutils-$triple gcc-$triple, or SYSROOT=/path/to/a/linux-$arch/rootfs); skipped"
    return 0
  fi
  [ "$cc" = clang ] || aot_props+=("-p:CppCompilerAndLinker=$cc")
}

failed=()
for arch in "${archs[@]}"; do
  rid=linux-$arch
  check_toolchain "$arch"
  if [ -n "$problem" ]; then
    echo "release.sh: $rid: $problem" >&2
    failed+=("$rid")
    continue
  fi
  echo "release.sh: $rid: Native AOT publish (a few minutes)"
  log="$work/publish-$rid.log"
  if ! dotnet publish "$cli" "${props[@]}" -r "$rid" -p:PublishAot=true "${aot_props[@]}" \
      --artifacts-path "$build" -o "$work/publish/$rid" "${extra[@]}" >"$log" 2>&1; then
    echo "release.sh: $rid: dotnet publish failed; its last lines:" >&2
    tail -n 25 "$log" >&2
    failed+=("$rid")
    continue
  fi
  binary="$work/publish/$rid/putsh"
  [ -x "$binary" ] || { echo "release.sh: $rid: no putsh binary in the publish output" >&2; failed+=("$rid"); continue; }
  if [ "$arch" = "$host" ]; then
    # The binary runs here: a last check that it is the executable it should be.
    "$binary" --version >/dev/null || { echo "release.sh: $rid: the binary does not run (putsh --version)" >&2; failed+=("$rid"); continue; }
  fi
  stage="$work/stage/$rid"
  mkdir -p "$stage"
  install -m 0755 "$binary" "$stage/putsh"
  for doc in LICENSE LICENSE.md LICENSE.txt README.md; do
    [ -f "$root/$doc" ] && install -m 0644 "$root/$doc" "$stage/$doc"
  done
  archive="putsh-$version-$rid.tar.gz"
  (cd "$stage" && tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" -cf - -- * |
    gzip -9 -n >"$work/dist/$archive")
done

echo "release.sh: NuGet packages (the libraries and the putsh tool)"
for project in "${libraries[@]}" "$cli"; do
  log="$work/pack-$(basename "$project" .csproj).log"
  if ! dotnet pack "$project" "${props[@]}" --artifacts-path "$build" -o "$work/packages" "${extra[@]}" >"$log" 2>&1; then
    echo "release.sh: dotnet pack $project failed; its last lines:" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
done
cp "$work"/packages/*.nupkg "$work"/packages/*.snupkg "$work/dist/"

mkdir -p "$out"
(cd "$out" && rm -f -- putsh-*-linux-*.tar.gz ./*.nupkg ./*.snupkg SHA256SUMS)
cp "$work"/dist/* "$out/"
made=()
while IFS= read -r f; do made+=("$f"); done < <(find "$work/dist" -maxdepth 1 -type f -printf '%f\n' | LC_ALL=C sort)
(cd "$out" && sha256sum -- "${made[@]}" >SHA256SUMS)

echo "release.sh: putsh $version in $out:"
(cd "$out" && for f in "${made[@]}" SHA256SUMS; do printf '  %-48s %10s bytes\n' "$f" "$(stat -c %s -- "$f")"; done)
echo "release.sh: check with: (cd $out && sha256sum -c SHA256SUMS)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "release.sh: not built: ${failed[*]}" >&2
  exit 1
fi
