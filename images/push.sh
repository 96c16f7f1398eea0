#!/usr/bin/env bash
# Pushes the images images/build.sh wrote to DIR, with skopeo, digests unchanged:
#
#   images/push.sh DIR REGISTRY TAG [skopeo copy options...]
#
# copies oci:DIR/NAME to docker://REGISTRY/gitview-NAME:TAG for NAME in operator, gateway and
# runner, and prints each pushed reference with its digest (REGISTRY/gitview-NAME:TAG@sha256:...).
# The chart's default REGISTRY is ghcr.io/gitview and its default TAG v<appVersion>.
#
# Credentials and TLS: options after TAG go to `skopeo copy` as they are (--dest-creds USER:TOKEN,
# --dest-tls-verify=false, --dest-authfile FILE, ...); GITVIEW_DEST_CREDS and
# GITVIEW_DEST_TLS_VERIFY (true/false) set the first two from the environment, and skopeo reads
# REGISTRY_AUTH_FILE or `skopeo login`'s file by itself.
#
# REGISTRY may also be oci:PATH or dir:PATH, to copy into local OCI layouts
# (PATH/gitview-NAME, tagged TAG) or skopeo directories (PATH/gitview-NAME) instead, e.g. to
# try this script without a registry.
set -euo pipefail

if (( $# < 3 )); then
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
fi
dir=$1 registry=$2 tag=$3
shift 3
command -v skopeo >/dev/null || { echo "push.sh: needs skopeo (apt-get install skopeo)" >&2; exit 1; }

options=(--preserve-digests)
[[ -n ${GITVIEW_DEST_CREDS:-} ]] && options+=(--dest-creds="$GITVIEW_DEST_CREDS")
[[ -n ${GITVIEW_DEST_TLS_VERIFY:-} ]] && options+=(--dest-tls-verify="$GITVIEW_DEST_TLS_VERIFY")
options+=("$@")

digestfile=$(mktemp)
trap 'rm -f "$digestfile"' EXIT
for name in operator gateway runner; do
  layout="$dir/$name"
  [[ -f $layout/index.json ]] || { echo "push.sh: no OCI layout at $layout (run images/build.sh)" >&2; exit 1; }
  built=$(skopeo inspect --format '{{.Digest}}' "oci:$layout")
  case $registry in
    oci:*) mkdir -p "${registry#oci:}"; dest="$registry/gitview-$name:$tag" shown=$dest ;;
    dir:*) mkdir -p "${registry#dir:}"; dest="$registry/gitview-$name" shown=$dest ;;
    *) dest="docker://$registry/gitview-$name:$tag" shown="$registry/gitview-$name:$tag" ;;
  esac
  echo "push.sh: $layout -> $dest" >&2
  skopeo copy --quiet --digestfile "$digestfile" "${options[@]}" "oci:$layout" "$dest"
  pushed=$(<"$digestfile")
  if [[ $pushed != "$built" ]]; then
    echo "push.sh: $dest has digest $pushed, not the built $built" >&2
    exit 1
  fi
  echo "$shown@$pushed"
done
