#!/usr/bin/env bash
# Runs every test of the project. The README's test command; `.ci/run` calls it.
#
#   ./test.sh            format, lints and docs, then unit, integration and end-to-end tests
#   ./test.sh --no-e2e   without the end-to-end suite (no control plane build)
#
# Build outputs go to a cache folder outside the work tree (GITVIEW_CACHE, default
# ~/.cache/gitview): the Rust target directory and the control-plane binaries that
# e2e/controlplane/build.sh builds from the Go module proxy (a cold build takes ~15 min on
# 2 cores, in the background while Rust builds and tests; later runs reuse it).
set -euo pipefail
cd "$(dirname "$0")"
cache="${GITVIEW_CACHE:-$HOME/.cache/gitview}"
export GITVIEW_CACHE="$cache"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# No incremental compilation caches: on these shared disks they grew to 8.5 GiB beside the
# 10 GiB of build outputs, and a fresh clone rebuilds the workspace's crates anyway.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
e2e=1
[[ ${1:-} == --no-e2e ]] && e2e=0

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)" >&2; }

# System tools the tests run for real: git (fixtures, git daemon, http-backend), the
# PostgreSQL 15 server binaries (initdb, pg_ctl), the OpenSSH server and client (the
# runner's ssh transport) and iproute2 (network namespaces). Installed from Debian's packages when missing and we are root.
missing=()
command -v git >/dev/null || missing+=(git)
[[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
command -v ssh >/dev/null || missing+=(openssh-client)
# The egress tests and the end-to-end suite run in network namespaces of their own (ip, unshare).
command -v ip >/dev/null || missing+=(iproute2)
[[ -x /usr/lib/postgresql/15/bin/initdb ]] || missing+=(postgresql-15)
# The real node (e2e/tests/node.rs): Debian's containerd and runc run its pods, iptables carries
# kube-proxy's Service rules and, with ipset, kube-router's NetworkPolicy firewall (umoci,
# below, assembles its test images).
if [[ $e2e == 1 ]]; then
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v ipset >/dev/null || missing+=(ipset)
fi
# The images (images/build.sh, images/test.sh): mmdebstrap assembles their root filesystems
# from Debian's packages, umoci and skopeo write and read OCI layouts, jq reads their JSON.
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v umoci >/dev/null || missing+=(umoci)
command -v skopeo >/dev/null || missing+=(skopeo)
command -v jq >/dev/null || missing+=(jq)
# The browser tests (runner/tests/browser.rs, gateway/tests/browser.rs) drive headless Chromium
# through chromedriver: Debian's, unless GITVIEW_CHROMIUM / GITVIEW_CHROMEDRIVER name others.
# With their recommended packages (fonts), so screenshots show text.
browser=()
[[ -x ${GITVIEW_CHROMIUM:-/usr/bin/chromium} ]] || browser+=(chromium)
[[ -x ${GITVIEW_CHROMEDRIVER:-/usr/bin/chromedriver} ]] || browser+=(chromium-driver)
if (( ${#missing[@]} + ${#browser[@]} )); then
  step "system packages: ${missing[*]} ${browser[*]}"
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt-get update -qq
    if (( ${#missing[@]} )); then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if (( ${#browser[@]} )); then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${browser[@]}" >/dev/null
    fi
  else
    echo "missing: ${missing[*]} ${browser[*]} (install them; the tests that need them fail or skip without)" >&2
  fi
fi

# Fast failures first, before the long builds: formatting, lints (warnings are errors) and the
# API docs' links.
step "format (cargo fmt --all --check)"
cargo fmt --all --check

# The control plane's and node's Go binaries build in the background (at a lower priority)
# while Rust builds and tests: a cold build is ~15 minutes of CPU, and the tests leave cores
# idle while they wait on databases, browsers and child processes. Cached, it takes ~50 ms.
if [[ $e2e == 1 ]]; then
  step "control plane binaries (e2e/controlplane/build.sh, in the background)"
  controlplane_log=$(mktemp)
  bash e2e/controlplane/build.sh >"$controlplane_log.out" 2>"$controlplane_log" &
  controlplane_pid=$!
  trap 'kill "$controlplane_pid" 2>/dev/null || true' EXIT
fi
step "lints (cargo clippy --workspace --all-targets -- -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "docs (cargo doc --workspace --no-deps, warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "build (cargo build --workspace --bins)"
cargo build --workspace --bins --locked

step "unit and integration tests (cargo test --workspace)"
cargo test --workspace --locked --exclude gitview-e2e

step "images (images/test.sh: two builds from the debug binaries, same digests, contents)"
images/test.sh --bin-dir "$CARGO_TARGET_DIR/debug"

if [[ $e2e == 1 ]]; then
  step "waiting for the control plane binaries"
  if ! wait "$controlplane_pid"; then
    cat "$controlplane_log" >&2
    echo "e2e/controlplane/build.sh failed" >&2
    exit 1
  fi
  trap - EXIT
  grep -E 'took|built in|cached' "$controlplane_log" >&2 || true
  GITVIEW_CONTROLPLANE_BIN=$(tail -1 "$controlplane_log.out")
  rm -f "$controlplane_log" "$controlplane_log.out"
  export GITVIEW_CONTROLPLANE_BIN
fi
cargo test --locked -p gitview-e2e --lib

if [[ $e2e == 1 ]]; then
  step "real node (kubelet, kube-proxy, CoreDNS, kube-router, containerd) on the real control plane"
  cargo test --locked -p gitview-e2e --test node
  step "end-to-end suite (real control plane)"
  cargo test --locked -p gitview-e2e --test e2e
fi
