#!/usr/bin/env bash
# Runs every test of the project. The README's test command; `.ci/run` calls it.
#
# Build outputs go to a cache folder outside the work tree (GITVIEW_CACHE, default
# ~/.cache/gitview) so a second run, even from a fresh clone, skips the dependency build.
set -euo pipefail
cd "$(dirname "$0")"
cache="${GITVIEW_CACHE:-$HOME/.cache/gitview}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== unit and integration tests (cargo test --workspace)" >&2
cargo test --workspace --locked
