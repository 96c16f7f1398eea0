#!/usr/bin/env bash
# Regenerates everything derived from the Rust types and the chart, so one source stays true:
#   crds/yaml/*.yaml            from the types (crdgen)
#   charts/gitview/crds/*.yaml  copies of those (the chart installs them)
#   config/rbac/operator.yaml   the chart's operator RBAC, for running the operator by hand
#   config/catalog/profiles.yaml the chart's default AnalysisProfile catalog
# Tests fail when any of these is stale. Needs cargo, and helm on PATH or in $HELM.
#
#   sync.sh           regenerate
#   sync.sh --check   regenerate the config/ files into a temporary directory and fail if
#                     they differ from the committed ones (the CRD copies are checked by
#                     `cargo test -p gitview-crds`)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
helm="${HELM:-helm}"
check=false
[ "${1:-}" = "--check" ] && check=true

out="$root"
if $check; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
else
  cargo run --quiet -p gitview-crds --bin crdgen -- --out-dir crds/yaml
  rm -f charts/gitview/crds/*.yaml
  cp crds/yaml/*.yaml charts/gitview/crds/
fi

render() { # render TEMPLATE OUT HEADER
  {
    printf '%s\n' "$3"
    "$helm" template gitview charts/gitview --namespace gitview-system --show-only "$1" \
      | sed -e '/^# Source: /d' -e '/app.kubernetes.io\/managed-by: Helm/d' -e '/helm.sh\/chart: /d' \
            -e '/app.kubernetes.io\/instance: gitview$/d' -e '/app.kubernetes.io\/version: /d'
  } > "$2"
}
mkdir -p "$out/config/rbac" "$out/config/catalog"
render templates/rbac.yaml "$out/config/rbac/operator.yaml" \
  "# Generated from charts/gitview/templates/rbac.yaml by charts/gitview/sync.sh. Do not edit.
# The operator's least-privilege RBAC (release \"gitview\" in gitview-system), and the aggregated
# roles that let namespace editors create Analyses and viewers read them."
render templates/catalog.yaml "$out/config/catalog/profiles.yaml" \
  "# Generated from charts/gitview/templates/catalog.yaml by charts/gitview/sync.sh. Do not edit.
# The default AnalysisProfile catalog: kubectl apply -f config/catalog/profiles.yaml"
if $check; then
  for file in config/rbac/operator.yaml config/catalog/profiles.yaml; do
    if ! diff -u "$file" "$out/$file"; then
      echo "$file is stale: run charts/gitview/sync.sh" >&2
      exit 1
    fi
  done
  echo "in sync"
else
  echo "synced"
fi
