#!/usr/bin/env bash
# Runs every test of the project. The README's test command; `.ci/run` calls it.
#
#   ./test.sh            unit, integration and end-to-end tests
#   ./test.sh --no-e2e   without the end-to-end suite (no control plane build)
#
# Build outputs go to a cache folder outside the work tree (GITVIEW_CACHE, default
# ~/.cache/gitview): the Rust target directory and the control-plane binaries that
# e2e/controlplane/build.sh builds from the Go module proxy (a cold build takes ~10 min on
# 2 cores; later runs reuse it).
set -euo pipefail
cd "$(dirname "$0")"
cache="${GITVIEW_CACHE:-$HOME/.cache/gitview}"
export GITVIEW_CACHE="$cache"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
e2e=1
[[ ${1:-} == --no-e2e ]] && e2e=0

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)" >&2; }

if [[ $e2e == 1 ]]; then
  step "control plane binaries (e2e/controlplane/build.sh)"
  GITVIEW_CONTROLPLANE_BIN=$(bash e2e/controlplane/build.sh | tail -1)
  export GITVIEW_CONTROLPLANE_BIN
fi

step "build (cargo build --workspace --bins)"
cargo build --workspace --bins --locked

step "unit and integration tests (cargo test --workspace)"
cargo test --workspace --locked --exclude gitview-e2e
cargo test --locked -p gitview-e2e --lib

if [[ $e2e == 1 ]]; then
  step "end-to-end suite (real control plane)"
  cargo test --locked -p gitview-e2e --test e2e
fi
