#!/usr/bin/env bash
# Builds the NVML helper (helpers/nvml) from the Go module proxy into a cache keyed by its sources:
#   mdev-nvml-helper       the shipped helper (go-nvml, libnvidia-ml.so.1 loaded at run time)
#   mdev-nvml-helper-mock  the same helper over go-nvml's mock driven by a JSON fixture (dev/tests only)
#   mdev-nvml-bench        the helper called in a loop inside one process over the mock (benchmarks)
# A warm run (sources unchanged) only hashes them. Prints the directory holding the binaries.
# With --install-helper-to-out it also copies the shipped helper to $OUT (npm run image:build,
# dev/image/extra-binaries.ts).
# cgo is required (go-nvml): gcc must be on PATH; no NVIDIA driver is needed to build.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=helpers/nvml
INSTALL=false
case "${1:-}" in
  '') ;;
  --install-helper-to-out) INSTALL=true; [ -n "${OUT:-}" ] || { echo '[nvml-helper] ERROR: --install-helper-to-out needs $OUT, the path to write the helper to' >&2; exit 2; } ;;
  *) echo "[nvml-helper] ERROR: unknown argument '$1' (none, or --install-helper-to-out with \$OUT set)" >&2; exit 2 ;;
esac
# Prints the binaries' directory; copies the shipped helper to $OUT when asked.
finish() { if $INSTALL; then cp "$1/mdev-nvml-helper" "$OUT"; chmod 0755 "$OUT"; fi; echo "$1"; exit 0; }
CACHE_ROOT="${MDEV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mdev-operator}"

die() { printf '[nvml-helper] ERROR: %s\n' "$*" >&2; exit 1; }
command -v go >/dev/null 2>&1 || die "the Go toolchain ('go') is not on PATH: install Go >= 1.26 and run again"
command -v gcc >/dev/null 2>&1 || die "gcc is not on PATH: go-nvml needs cgo (apt-get install gcc) and run again"

# The key covers everything the build reads: module files, Go sources and the toolchain version.
KEY=$( { go env GOVERSION; find "$SRC" -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) ! -name '*_test.go' -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16)
DIR="$CACHE_ROOT/nvml-helper/$KEY"
if [ -x "$DIR/mdev-nvml-helper" ] && [ -x "$DIR/mdev-nvml-helper-mock" ] && [ -x "$DIR/mdev-nvml-bench" ]; then finish "$DIR"; fi

mkdir -p "$CACHE_ROOT/nvml-helper"
exec 9>"$CACHE_ROOT/nvml-helper/.lock"
flock 9 # one build at a time; a second caller finds the first one's result
if [ -x "$DIR/mdev-nvml-helper" ] && [ -x "$DIR/mdev-nvml-helper-mock" ] && [ -x "$DIR/mdev-nvml-bench" ]; then finish "$DIR"; fi
printf '[nvml-helper] building helpers/nvml into %s (first time: fetches go-nvml from the module proxy)\n' "$DIR" >&2
TMP=$(mktemp -d "$CACHE_ROOT/nvml-helper/.build.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export CGO_ENABLED=1 GOFLAGS="${GOFLAGS:-} -mod=mod" GOTOOLCHAIN=local
# go-nvml's cgo prologue calls NVML functions nvml.h marks deprecated; the warnings are noise here.
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} -Wno-deprecated-declarations"
(cd "$SRC" && go build -trimpath -ldflags "-s -w" -o "$TMP/" ./cmd/mdev-nvml-helper ./cmd/mdev-nvml-helper-mock ./cmd/mdev-nvml-bench) \
  || die "building helpers/nvml failed (see above); if go-nvml could not be downloaded, check GOPROXY ($(go env GOPROXY))"
rm -rf "$DIR"; mv "$TMP" "$DIR"
trap - EXIT
finish "$DIR"
