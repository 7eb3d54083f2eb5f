#!/usr/bin/env bash
# Builds the local control plane's binaries from the Go module proxy into a cache keyed by version:
#   kube-apiserver + kube-controller-manager, etcd, helm; and krew (the kubectl plugin manager the
#   krew packaging test installs the plugin with; stamped, not part of the directory key).
# Each tool gets its own throw-away Go module so MVS never mixes their dependency graphs.
# Idempotent: a binary that exists with a matching stamp is not rebuilt.
set -euo pipefail

K8S_VERSION="${MDEV_K8S_VERSION:-1.36.3}"
ETCD_VERSION="${MDEV_ETCD_VERSION:-3.6.13}"
HELM_VERSION="${MDEV_HELM_VERSION:-3.22.0}"
KREW_VERSION="${MDEV_KREW_VERSION:-0.4.3}"
CACHE_ROOT="${MDEV_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mdev-operator}"
KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}"
OUT="$CACHE_ROOT/control-plane/$KEY"
BIN="$OUT/bin"
WORK="$OUT/modules"

step() { printf '[control-plane] %s\n' "$*" >&2; }
die() { printf '[control-plane] ERROR: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "the Go toolchain ('go') is not on PATH, and the control plane must be built from source: install Go >= 1.26 from https://go.dev/dl/ (e.g. unpack it into /usr/local/go), add its bin directory to PATH, and run again"
GOV=$(go env GOVERSION | sed 's/^go//'); GOMINOR=$(echo "$GOV" | cut -d. -f2)
[ "${GOMINOR:-0}" -ge 26 ] || die "Go $GOV is too old: Kubernetes $K8S_VERSION needs Go >= 1.26"

mkdir -p "$BIN" "$WORK"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod" GOTOOLCHAIN=local
# Two cores and ~24 GiB: limit parallelism so the openapi package does not push peak RSS too far.
export GOMAXPROCS="${GOMAXPROCS:-2}"

# Names the module proxy and how to reach it; used whenever a download from it fails.
proxy_fail() { die "could not download $1 from the Go module proxy (GOPROXY=$(go env GOPROXY)): check the network and GOPROXY (the default is https://proxy.golang.org,direct; behind a firewall point it at a reachable mirror), then run again"; }

have() { [ -x "$BIN/$1" ] && [ -f "$BIN/$1.stamp" ] && [ "$(cat "$BIN/$1.stamp")" = "$2" ]; }

build_k8s() {
  if have kube-apiserver "$K8S_VERSION" && have kube-controller-manager "$K8S_VERSION"; then return; fi
  local dir="$WORK/k8s" stg="0.${K8S_VERSION#1.}" minor
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  mkdir -p "$dir"; cd "$dir"
  [ -f go.mod ] || go mod init local.invalid/k8sbins >/dev/null 2>&1
  step "resolving k8s.io/kubernetes@v$K8S_VERSION from the module proxy"
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p') \
    || proxy_fail "k8s.io/kubernetes@v$K8S_VERSION"
  [ -n "$gomod" ] || die "module proxy gave no go.mod for k8s.io/kubernetes@v$K8S_VERSION"
  # The published go.mod lists staging modules at v0.0.0 with no replace: pin each to the matching v0.X.Y.
  for m in $(awk '$1 ~ /^k8s\.io\// && $2=="v0.0.0" {print $1}' "$gomod" | sort -u); do
    go mod edit -replace "$m=$m@v$stg"
  done
  step "fetching kube-apiserver and kube-controller-manager sources (first time: ~1 GB)"
  go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" "k8s.io/kubernetes/cmd/kube-controller-manager@v$K8S_VERSION" \
    || proxy_fail "the modules of k8s.io/kubernetes@v$K8S_VERSION"
  local ld="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  step "compiling kube-apiserver and kube-controller-manager (cold: 10-25 min on 2 cores)"
  go build -p 2 -trimpath -ldflags "$ld" -o "$BIN/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    || die "compiling Kubernetes failed (see above); if it was killed for memory, retry with GOMAXPROCS=1"
  echo "$K8S_VERSION" > "$BIN/kube-apiserver.stamp"; echo "$K8S_VERSION" > "$BIN/kube-controller-manager.stamp"
}

build_etcd() {
  have etcd "$ETCD_VERSION" && return
  local dir="$WORK/etcd"; mkdir -p "$dir"; cd "$dir"
  [ -f go.mod ] || go mod init local.invalid/etcdbin >/dev/null 2>&1
  step "fetching and compiling etcd v$ETCD_VERSION"
  go get -tool "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" || proxy_fail "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3 || die "compiling etcd failed (see above)"
  echo "$ETCD_VERSION" > "$BIN/etcd.stamp"
}

build_helm() {
  have helm "$HELM_VERSION" && return
  step "fetching and compiling helm v$HELM_VERSION"
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" || proxy_fail "helm.sh/helm/v3@v$HELM_VERSION"
  echo "$HELM_VERSION" > "$BIN/helm.stamp"
}

build_krew() {
  have krew "$KREW_VERSION" && return
  step "fetching and compiling krew v$KREW_VERSION"
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/krew/cmd/krew@v$KREW_VERSION" || proxy_fail "sigs.k8s.io/krew@v$KREW_VERSION"
  echo "$KREW_VERSION" > "$BIN/krew.stamp"
}

case "${1:-all}" in
  all) build_etcd; build_helm; build_krew; build_k8s ;;
  etcd) build_etcd ;; helm) build_helm ;; krew) build_krew ;; k8s) build_k8s ;;
  --print-bin) echo "$BIN"; exit 0 ;;
  *) die "unknown target '$1' (use all, etcd, helm, krew, k8s or --print-bin)" ;;
esac
step "binaries ready in $BIN"
echo "$BIN"
