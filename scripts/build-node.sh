#!/usr/bin/env bash
# Builds the components of ONE real local worker node into a cache keyed by version, next to the
# control plane's (scripts/build-control-plane.sh):
#   kubelet, kube-scheduler, kube-proxy  Kubernetes from the Go module proxy, in a copy of the control
#                                         plane's module (same replaces, so its build cache is reused)
#   containerd, ctr, containerd-shim-runc-v2, runc
#                                         from the Go module proxy (ADR 0013: the kubelet reads the
#                                         cgroup driver from a 2.x runtime; 1.37 drops the 1.x fallback)
#   pause                                 Kubernetes' pause.c, linked statically with gcc
#   CNI plugins, nft, umoci               Debian packages, unpacked (apt-get download + dpkg-deb -x):
#                                         nothing is installed on the host, no service is registered
# Idempotent: a component whose stamp matches its version is not rebuilt.
# Usage: build-node.sh [all|k8s|runtime|pause|debs|--print-dir]   (prints the node directory last)
set -euo pipefail
SCRIPTS="$(cd "$(dirname "$0")" && pwd)"

K8S_VERSION="${MDEV_K8S_VERSION:-1.36.3}"
CONTAINERD_VERSION="${MDEV_CONTAINERD_VERSION:-2.4.2}"
RUNC_VERSION="${MDEV_RUNC_VERSION:-1.5.3}"
DEBIAN_SUITE="${MDEV_NODE_DEBIAN:-bookworm}"
CACHE_ROOT="${MDEV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mdev-operator}"
KEY="k8s-${K8S_VERSION}_containerd-${CONTAINERD_VERSION}_runc-${RUNC_VERSION}_deb-${DEBIAN_SUITE}"
OUT="$CACHE_ROOT/node/$KEY"
BIN="$OUT/bin"
ROOT="$OUT/root"          # the unpacked Debian packages (usr/lib/cni, usr/sbin/nft, usr/bin/umoci, ...)
WORK="$OUT/modules"
# Debian packages unpacked for the node (never installed). The libraries nft needs beyond these
# (libmnl0, libjansson4, libxtables12, libgmp10, libedit2) are checked with ldd below.
DEBS="containernetworking-plugins nftables libnftables1 libnftnl11 umoci"

step() { printf '[node] %s\n' "$*" >&2; }
die() { printf '[node] ERROR: %s\n' "$*" >&2; exit 1; }

# One line per missing prerequisite, naming the remedy (the caller shows the ERROR line).
prereqs() {
  command -v go >/dev/null 2>&1 || die "Go is missing: install Go >= 1.26 (https://go.dev/dl/) and add it to PATH"
  [ "$(go env GOVERSION | sed 's/^go1\.\([0-9]*\).*/\1/')" -ge 26 ] || die "Go $(go env GOVERSION) is too old: install Go >= 1.26"
  command -v gcc >/dev/null 2>&1 || die "gcc is missing (runc and pause are compiled with it): apt-get install -y gcc libc6-dev"
  [ -f /usr/include/seccomp.h ] || die "libseccomp-dev is missing (runc's seccomp support): apt-get install -y libseccomp-dev"
  [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || die "libc6-dev is missing (the static pause binary): apt-get install -y libc6-dev"
  command -v dpkg-deb >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 || die "apt-get/dpkg-deb are missing: the node's CNI plugins, nft and umoci come from Debian packages (Debian 12 or later)"
}

have() { [ -x "$BIN/$1" ] && [ -f "$BIN/$1.stamp" ] && [ "$(cat "$BIN/$1.stamp")" = "$2" ]; }
proxy_fail() { die "could not download $1 from the Go module proxy (GOPROXY=$(go env GOPROXY)): check the network and GOPROXY, then run again"; }

export GOFLAGS="${GOFLAGS:-} -mod=mod" GOTOOLCHAIN=local GOMAXPROCS="${GOMAXPROCS:-2}"

build_k8s() {
  if have kubelet "$K8S_VERSION" && have kube-scheduler "$K8S_VERSION" && have kube-proxy "$K8S_VERSION"; then return; fi
  local cp_bin minor ld p dir="$WORK/k8s"
  # The control plane's module carries the generated staging replaces; start from a copy of it.
  cp_bin=$(bash "$SCRIPTS/build-control-plane.sh" k8s | tail -1) || die "the control plane build failed (see above)"
  mkdir -p "$dir" && cp "$cp_bin/../modules/k8s/go.mod" "$cp_bin/../modules/k8s/go.sum" "$dir/"
  cd "$dir"
  step "fetching kubelet, kube-scheduler and kube-proxy v$K8S_VERSION"
  CGO_ENABLED=0 go get -tool "k8s.io/kubernetes/cmd/kubelet@v$K8S_VERSION" "k8s.io/kubernetes/cmd/kube-scheduler@v$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-proxy@v$K8S_VERSION" || proxy_fail "k8s.io/kubernetes@v$K8S_VERSION"
  minor=$(echo "$K8S_VERSION" | cut -d. -f2); ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  step "compiling kubelet, kube-scheduler and kube-proxy (cold: ~4 min on 2 cores)"
  CGO_ENABLED=0 go build -p 2 -trimpath -ldflags "$ld" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy \
    || die "compiling the node's Kubernetes binaries failed (see above)"
  for p in kubelet kube-scheduler kube-proxy; do echo "$K8S_VERSION" > "$BIN/$p.stamp"; done
}

build_runtime() {
  if ! have containerd "$CONTAINERD_VERSION"; then
    local dir="$WORK/containerd"; mkdir -p "$dir"; cd "$dir"
    [ -f go.mod ] || go mod init local.invalid/containerdbins >/dev/null 2>&1
    step "fetching and compiling containerd v$CONTAINERD_VERSION"
    CGO_ENABLED=0 go get -tool "github.com/containerd/containerd/v2/cmd/containerd@v$CONTAINERD_VERSION" \
      "github.com/containerd/containerd/v2/cmd/ctr@v$CONTAINERD_VERSION" \
      "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@v$CONTAINERD_VERSION" \
      || proxy_fail "github.com/containerd/containerd/v2@v$CONTAINERD_VERSION"
    local ld="-s -w -X github.com/containerd/containerd/v2/version.Version=v$CONTAINERD_VERSION"
    # no_btrfs: the btrfs snapshotter needs C headers; overlayfs is what the node uses.
    CGO_ENABLED=0 go build -trimpath -tags no_btrfs -ldflags "$ld" -o "$BIN/" \
      github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/ctr \
      github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 || die "compiling containerd failed (see above)"
    for p in containerd ctr containerd-shim-runc-v2; do echo "$CONTAINERD_VERSION" > "$BIN/$p.stamp"; done
  fi
  if ! have runc "$RUNC_VERSION"; then
    local dir="$WORK/runc"; mkdir -p "$dir"; cd "$dir"
    [ -f go.mod ] || go mod init local.invalid/runcbin >/dev/null 2>&1
    step "fetching and compiling runc v$RUNC_VERSION (cgo, seccomp)"
    CGO_ENABLED=0 go get -tool "github.com/opencontainers/runc@v$RUNC_VERSION" || proxy_fail "github.com/opencontainers/runc@v$RUNC_VERSION"
    CGO_ENABLED=1 go build -trimpath -tags seccomp -ldflags "-s -w -X main.version=$RUNC_VERSION" -o "$BIN/runc" github.com/opencontainers/runc \
      || die "compiling runc failed (see above; it needs gcc and libseccomp-dev)"
    echo "$RUNC_VERSION" > "$BIN/runc.stamp"
  fi
}

build_pause() {
  have pause "$K8S_VERSION" && return
  local src
  src="$(cd "$WORK/k8s" 2>/dev/null && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
  [ -f "$src" ] || die "pause.c not found in k8s.io/kubernetes@v$K8S_VERSION (build the k8s target first)"
  step "compiling pause (static)"
  gcc -Os -static -o "$BIN/pause" "$src" || die "compiling pause failed: it needs gcc and libc6-dev"
  strip "$BIN/pause" 2>/dev/null || true
  echo "$K8S_VERSION" > "$BIN/pause.stamp"
}

unpack_debs() {
  [ -f "$ROOT/.stamp" ] && [ "$(cat "$ROOT/.stamp")" = "$DEBS" ] && return
  local d="$OUT/debs"; rm -rf "$d" "$ROOT"; mkdir -p "$d" "$ROOT"
  step "downloading Debian packages: $DEBS"
  (cd "$d" && apt-get download $DEBS >"$OUT/apt.log" 2>&1) \
    || die "apt-get download failed ($(tail -1 "$OUT/apt.log")): run 'apt-get update' first"
  for f in "$d"/*.deb; do dpkg-deb -x "$f" "$ROOT"; done
  local missing
  missing=$(LD_LIBRARY_PATH="$ROOT/usr/lib/x86_64-linux-gnu" ldd "$ROOT/usr/sbin/nft" | awk '/not found/ {print $1}' | tr '\n' ' ')
  [ -z "$missing" ] || die "nft needs shared libraries that are missing: $missing(apt-get install -y nftables installs them)"
  echo "$DEBS" > "$ROOT/.stamp"
}

case "${1:-all}" in
  all) prereqs; mkdir -p "$BIN" "$WORK"; unpack_debs; build_runtime; build_k8s; build_pause ;;
  k8s) prereqs; mkdir -p "$BIN" "$WORK"; build_k8s; build_pause ;;
  runtime) prereqs; mkdir -p "$BIN" "$WORK"; build_runtime ;;
  debs) prereqs; mkdir -p "$OUT"; unpack_debs ;;
  --print-dir) echo "$OUT"; exit 0 ;;
  *) die "unknown target '$1' (use all, k8s, runtime, debs or --print-dir)" ;;
esac
step "node components ready in $OUT"
echo "$OUT"
