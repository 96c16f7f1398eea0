#!/usr/bin/env bash
# Build the real Kubernetes control plane and node used by the e2e tests
# (kube-apiserver, kube-controller-manager, kube-scheduler, etcd, helm; kubelet,
# kube-proxy, the CNI reference plugins, CoreDNS, kube-router's NetworkPolicy firewall and the
# node scenarios' probe)
# from the Go module proxy, into a cache directory outside the work tree keyed
# by version:
#
#   ${GITVIEW_CACHE:-$HOME/.cache/gitview}/controlplane/k8s-<v>-etcd-<v>-helm-<v>-cni-<v>-coredns-<v>-kube-router-<v>-src-<hash>/bin/
#
# Usage: BIN=$(e2e/controlplane/build.sh | tail -1)
#
# The bin dir is the last line on stdout; progress goes to stderr. If all the
# binaries are already cached, it prints the bin dir and exits at once. A build
# happens in a temp dir next to the cache entry, is smoke-checked, and is then
# renamed into place, so an interrupted build never leaves a half cache entry.
#
# The versions are read from the go.mod files beside this script (the single
# source of truth): kube/, etcd/, helm/, cni/, coredns/ and kube-router/go.mod. See README.md.
#
# Environment:
#   GITVIEW_CACHE            cache root (default $HOME/.cache/gitview)
#   GITVIEW_SKIP_SMOKE=1     skip the smoke check after a build
#   GOMODCACHE, GOCACHE, GOFLAGS, GOPROXY  honoured as usual by go
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf '[controlplane] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# modversion GOMOD MODULE: the version MODULE is required at in GOMOD.
modversion() {
  local v
  v=$(sed -n -E "s#^(require[[:space:]]+|[[:space:]]+)$2[[:space:]]+(v[^[:space:]]+).*#\\2#p" "$1" | head -1)
  [[ -n $v ]] || die "no requirement on $2 in $1"
  printf '%s\n' "$v"
}

k8s_version=$(modversion "$here/kube/go.mod" k8s.io/kubernetes)
etcd_version=$(modversion "$here/etcd/go.mod" go.etcd.io/etcd/server/v3)
helm_version=$(modversion "$here/helm/go.mod" helm.sh/helm/v4)
cni_version=$(modversion "$here/cni/go.mod" github.com/containernetworking/plugins)
coredns_version=$(modversion "$here/coredns/go.mod" github.com/coredns/coredns)
kube_router_version=$(modversion "$here/kube-router/go.mod" github.com/cloudnativelabs/kube-router/v2)

cache_root=${GITVIEW_CACHE:-$HOME/.cache/gitview}/controlplane
# Our own sources (go.mod/go.sum, the wrappers' main.go, the probe) too: a change rebuilds.
sources=$(cd "$here" && find kube etcd helm cni coredns kube-router probe -type f | LC_ALL=C sort | xargs sha256sum | sha256sum)
key=k8s-$k8s_version-etcd-$etcd_version-helm-$helm_version-cni-$cni_version-coredns-$coredns_version-kube-router-$kube_router_version-src-${sources:0:12}
dest=$cache_root/$key
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy etcd helm
  cni/bridge cni/host-local cni/loopback cni/portmap coredns kube-router probe)

cached() {
  local b
  for b in "${binaries[@]}"; do [[ -x $dest/bin/$b ]] || return 1; done
}

if cached; then
  log "cached: $dest/bin"
  printf '%s\n' "$dest/bin"
  exit 0
fi

mkdir -p "$cache_root"
# Serialise concurrent builds of the same key; the second one finds the cache.
exec 9>"$cache_root/.$key.lock"
log "taking lock $cache_root/.$key.lock (another build of this key may hold it)"
flock 9
if cached; then
  log "cached (built by a concurrent run): $dest/bin"
  printf '%s\n' "$dest/bin"
  exit 0
fi

# Leftovers of a build that was killed hard (SIGKILL); we hold the lock, so no
# other build is using them.
rm -rf "$cache_root/.tmp-$key."* "$cache_root/.old-$key."*

command -v go >/dev/null || die "go not found on PATH (need Go >= 1.26)"
log "building $key with $(go version)"

work=$(mktemp -d "$cache_root/.tmp-$key.XXXXXX")
etcd_pid=
cleanup() {
  if [[ -n $etcd_pid ]]; then kill "$etcd_pid" 2>/dev/null || true; wait "$etcd_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 755 "$work"  # mktemp -d makes it 0700
mkdir -p "$work/bin" "$work/gotmp"
# go's own scratch dirs, so a killed build leaves nothing in $TMPDIR either.
export GOTMPDIR=$work/gotmp

export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false -mod=readonly"

# gobuild MODDIR LDFLAGS PKG...: download the modules PKG needs, then build
# into $work/bin (or $out, when set).
gobuild() {
  local dir=$1 ldflags=$2 t out=${out:-$work/bin/}
  shift 2
  t=$SECONDS
  log "downloading modules for $*"
  (cd "$here/$dir" && nice -n 10 go list -deps "$@" >/dev/null)
  log "  download took $((SECONDS - t))s"
  t=$SECONDS
  log "compiling $*"
  (cd "$here/$dir" && nice -n 10 go build -trimpath -ldflags="-s -w $ldflags" -o "$out" "$@")
  log "  compile took $((SECONDS - t))s"
}

total=$SECONDS

# Version stamps as hack/lib/version.sh sets them, so --version, kubectl
# version and discovery (/version) report the real release.
k8s_minor=${k8s_version#v1.}; k8s_minor=${k8s_minor%%.*}
kube_ldflags=
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
gobuild kube "$kube_ldflags" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy

# The wrapper module's path ends in /etcd, so `go build -o bin/ .` writes bin/etcd.
gobuild etcd "" .

gobuild helm "-X helm.sh/helm/v4/internal/version.version=$helm_version -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  helm.sh/helm/v4/cmd/helm

# The real node's pod network: the CNI plugins containerd runs (a directory of their own).
mkdir -p "$work/bin/cni"
out=$work/bin/cni/ gobuild cni "" github.com/containernetworking/plugins/plugins/main/bridge \
  github.com/containernetworking/plugins/plugins/ipam/host-local \
  github.com/containernetworking/plugins/plugins/main/loopback \
  github.com/containernetworking/plugins/plugins/meta/portmap

# The cluster's DNS, with only the plugins it needs (the module's main.go).
gobuild coredns "-X github.com/coredns/coredns/coremain.GitCommit=$coredns_version" .

# The node's NetworkPolicy firewall: kube-router's, alone (the module's main.go).
gobuild kube-router "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$kube_router_version \
-X github.com/cloudnativelabs/kube-router/v2/pkg/version.BuildDate=1970-01-01T00:00:00Z" .

# The node scenarios' test program, also the pod sandbox's pause process.
gobuild probe "" .

for b in "${binaries[@]}"; do [[ -x $work/bin/$b ]] || die "missing $work/bin/$b after build"; done
log "built in $((SECONDS - total))s:"
(cd "$work/bin" && ls -l "${binaries[@]}" >&2)

# ---- smoke check ---------------------------------------------------------
# freeport: a TCP port on 127.0.0.1 that nothing listens on right now.
freeport() {
  local p i
  for i in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then printf '%s\n' "$p"; return 0; fi
  done
  die "no free port found"
}

smoke() {
  local bin=$work/bin out cport pport i
  out=$("$bin/kube-apiserver" --version)
  [[ $out == "Kubernetes $k8s_version" ]] || die "kube-apiserver --version: '$out'"
  log "smoke: kube-apiserver --version: $out"
  local b
  for b in kube-controller-manager kube-scheduler kubelet kube-proxy; do
    out=$("$bin/$b" --version)
    [[ $out == "Kubernetes $k8s_version" ]] || die "$b --version: '$out'"
  done
  # The first line, without `| head -1`: with pipefail, a program that writes on after head
  # exits dies of SIGPIPE and set -e ends the script without a word.
  out=$("$bin/coredns" -version); out=${out%%$'\n'*}
  [[ $out == "CoreDNS-${coredns_version#v}" ]] || die "coredns -version: '$out'"
  log "smoke: $out"
  out=$("$bin/kube-router" --version 2>&1)  # it prints on stderr
  [[ $out == *" version $kube_router_version, "* ]] || die "kube-router --version: '$out'"
  log "smoke: $out"
  out=$("$bin/helm" version --short)
  [[ $out == "$helm_version"* ]] || die "helm version: '$out'"
  log "smoke: helm version: $out"
  out=$("$bin/etcd" --version); out=${out%%$'\n'*}
  [[ $out == "etcd Version: ${etcd_version#v}" ]] || die "etcd --version: '$out'"

  cport=$(freeport); pport=$(freeport)
  "$bin/etcd" --name smoke --data-dir "$work/etcd-data" --log-level warn \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "smoke=http://127.0.0.1:$pport" >"$work/etcd.log" 2>&1 &
  etcd_pid=$!
  for i in $(seq 1 100); do
    if out=$(curl -fsS "http://127.0.0.1:$cport/health" 2>/dev/null) && [[ $out == *'"health":"true"'* ]]; then
      log "smoke: etcd healthy on 127.0.0.1:$cport"
      kill "$etcd_pid"; wait "$etcd_pid" 2>/dev/null || true; etcd_pid=
      return 0
    fi
    kill -0 "$etcd_pid" 2>/dev/null || break
    sleep 0.2
  done
  cat "$work/etcd.log" >&2
  die "etcd did not become healthy"
}

if [[ ${GITVIEW_SKIP_SMOKE:-} == 1 ]]; then
  log "smoke check skipped (GITVIEW_SKIP_SMOKE=1)"
else
  smoke
fi

# ---- publish atomically --------------------------------------------------
rm -rf "$work/etcd-data" "$work/etcd.log" "$work/gotmp"
if [[ -e $dest ]]; then
  # An incomplete entry (a binary was deleted by hand): replace it.
  old=$(mktemp -d "$cache_root/.old-$key.XXXXXX")
  mv "$dest" "$old/"
  rm -rf "$old"
fi
mv -T "$work" "$dest"
log "cached: $dest/bin (total $((SECONDS - total))s)"
printf '%s\n' "$dest/bin"
