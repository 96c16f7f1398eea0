#!/usr/bin/env bash
# Checks images/build.sh and images/push.sh: builds the three images twice from the same
# binaries (the second time without the package cache, into another directory) and fails
# unless the digests are equal and each image is what the chart expects:
#
#   images/test.sh [--bin-dir DIR]
#
# DIR holds gitview-operator, gitview-gateway and gitview-runner (default: the debug binaries
# of ${CARGO_TARGET_DIR:-${GITVIEW_CACHE:-$HOME/.cache/gitview}/target}/debug, which
# `cargo build` or ./test.sh leave there). Runs as root, like build.sh; the binaries run in
# the images' root filesystems through chroot.
set -euo pipefail

cache="${GITVIEW_CACHE:-$HOME/.cache/gitview}"
bin_dir="${CARGO_TARGET_DIR:-$cache/target}/debug"
case ${1:-} in
  --bin-dir) bin_dir=${2:?--bin-dir needs a directory} ;;
  --bin-dir=*) bin_dir=${1#--bin-dir=} ;;
  "") ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
names=(operator gateway runner)
[[ $(id -u) == 0 ]] || { echo "test.sh: run as root (build.sh and chroot need it)" >&2; exit 1; }
for tool in skopeo umoci jq chroot unshare curl; do
  command -v "$tool" >/dev/null || { echo "test.sh: needs $tool" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/gitview-images-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
json() { jq -e "$@" >/dev/null; } # a jq condition on a file
logged() { # LOG COMMAND...: runs COMMAND into LOG, showing its end if it fails
  local log=$1; shift
  "$@" > "$log" 2>&1 || { tail -n 20 "$log" >&2; return 1; }
}
check() { # DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "ok: $what" >&2; else fail "$what"; fi
}

start=$SECONDS
"$here/build.sh" --out "$work/one" --bin-dir "$bin_dir"
first=$((SECONDS - start))
# The second build starts from nothing: another output directory, no package cache.
GITVIEW_CACHE="$work/cold-cache" "$here/build.sh" --out "$work/two" --bin-dir "$bin_dir"
second=$((SECONDS - start - first))
check "two builds give the same digests" diff "$work/one/digests.txt" "$work/two/digests.txt"
for name in "${names[@]}"; do
  check "$name: the same OCI archive twice" cmp -s "$work/one/$name.oci.tar" "$work/two/$name.oci.tar"
  check "$name: the same SBOM twice" cmp -s "$work/one/$name.sbom.json" "$work/two/$name.sbom.json"
done

revision=$(git -C "$root" rev-parse HEAD)
version=$(awk '/^\[/ { s = $0 } s == "[workspace.package]" && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' \
  "$root/Cargo.toml")

# Runs COMMAND in ROOTFS as nonroot with the image's environment and HOME, as a container
# runtime would, and only /dev/null from the host (a runtime would give the container its /dev).
in_rootfs() { # ROOTFS COMMAND...
  local rootfs=$1; shift
  mkdir -p "$rootfs/dev" && touch "$rootfs/dev/null"
  # shellcheck disable=SC2016 # expanded by the inner shell
  unshare --mount sh -c 'mount --bind /dev/null "$1/dev/null" && shift && exec env -i HOME=/home/nonroot \
    PATH=/usr/local/bin:/usr/bin:/bin "$(command -v chroot)" --userspec=65532:65532 "$@"' sh "$rootfs" "$rootfs" "$@"
}

for name in "${names[@]}"; do
  layout="$work/one/$name"
  config=$(skopeo inspect --config "oci:$layout")
  value() { jq -r "$1" <<<"$config"; }
  check "$name: user 65532:65532" test "$(value .config.User)" == 65532:65532
  check "$name: entrypoint /usr/local/bin/gitview-$name" \
    test "$(value '.config.Entrypoint | join(" ")')" == "/usr/local/bin/gitview-$name"
  expected_cmd=""
  [[ $name == runner ]] && expected_cmd=run
  check "$name: cmd '$expected_cmd'" test "$(value '.config.Cmd // [] | join(" ")')" == "$expected_cmd"
  check "$name: PATH set" test "$(value '.config.Env[] | select(startswith("PATH="))')" == \
    PATH=/usr/local/bin:/usr/bin:/bin
  check "$name: revision label" test "$(value '.config.Labels["org.opencontainers.image.revision"]')" == "$revision"
  check "$name: version label" test "$(value '.config.Labels["org.opencontainers.image.version"]')" == "$version"
  check "$name: title label" test "$(value '.config.Labels["org.opencontainers.image.title"]')" == "gitview-$name"
  check "$name: created = config created" \
    test "$(value '.config.Labels["org.opencontainers.image.created"]')" == "$(value .created)"
  check "$name: source and licenses labels" \
    test -n "$(value '.config.Labels["org.opencontainers.image.source"] // empty')" \
    -a -n "$(value '.config.Labels["org.opencontainers.image.licenses"] // empty')"
  check "$name: the OCI archive holds the same image" test \
    "$(skopeo inspect --format '{{.Digest}}' "oci-archive:$work/one/$name.oci.tar")" == \
    "$(skopeo inspect --format '{{.Digest}}' "oci:$layout")"

  umoci unpack --image "$layout:v$version" "$work/bundle-$name" >/dev/null
  rootfs="$work/bundle-$name/rootfs"
  check "$name: the binary, root's, executable" \
    test -x "$rootfs/usr/local/bin/gitview-$name" -a "$(stat -c %u:%g:%a "$rootfs/usr/local/bin/gitview-$name")" == 0:0:755
  check "$name: the CA bundle" grep -q 'BEGIN CERTIFICATE' "$rootfs/etc/ssl/certs/ca-certificates.crt"
  check "$name: nonroot in /etc/passwd" grep -q '^nonroot:x:65532:65532:.*:/home/nonroot:' "$rootfs/etc/passwd"
  check "$name: nonroot's home" test "$(stat -c %u:%g:%a "$rootfs/home/nonroot")" == 65532:65532:700
  check "$name: no setuid or setgid files" test -z "$(find "$rootfs" -perm /6000)"
  check "$name: runs in its root filesystem (--version)" \
    test "$(in_rootfs "$rootfs" "/usr/local/bin/gitview-$name" --version)" == "gitview-$name $version"
  sbom="$work/one/$name.sbom.json"
  check "$name: SBOM is CycloneDX for this digest" test "$(jq -r '.bomFormat + " " + .metadata.component.purl' "$sbom")" == \
    "CycloneDX pkg:oci/gitview-$name@$(jq -r '.manifests[0].digest | @uri' "$layout/index.json")"
  check "$name: SBOM lists libc6" json 'any(.components[]; .name == "libc6" and (.purl | startswith("pkg:deb/debian/libc6@")))' "$sbom"
  # shellcheck disable=SC2016 # $n is jq's
  check "$name: SBOM lists the binary's crate" json --arg n "gitview-$name" \
    'any(.components[]; .name == $n and .type == "application")' "$sbom"

  if [[ $name == gateway ]]; then
    check "gateway: no shell" test -z "$(find "$rootfs" \( -name sh -o -name dash -o -name bash -o -name busybox \) -print)"
    check "gateway: no ssh" test ! -e "$rootfs/usr/bin/ssh"
  else
    check "$name: SBOM lists gix" json 'any(.components[]; .name == "gix" and (.purl | startswith("pkg:cargo/gix@")))' "$sbom"
    check "$name: ssh -V" grep -q '^OpenSSH_' <(in_rootfs "$rootfs" /usr/bin/ssh -V 2>&1)
    if [[ $name == runner ]]; then
      git clone --quiet --bare "$root" "$rootfs/tmp/repo"
      chmod -R a+rX "$rootfs/tmp/repo"
      check "runner: analyzes a repository in its root filesystem" \
        logged "$work/analyze.log" in_rootfs "$rootfs" /usr/local/bin/gitview-runner analyze /tmp/repo --out /tmp/out
      check "runner: wrote the story" test -s "$rootfs/tmp/out/story.md"
    fi
    # What gix runs when a key is mounted: `sh -c 'ssh -i KEY ... "$@"'`. Port 1 refuses: ssh
    # got as far as connecting (user known, libraries loaded).
    check "$name: sh -c ssh connects" grep -q 'port 1: Connection refused' <(in_rootfs "$rootfs" /bin/sh -c \
      'ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -p 1 "$@"' sh git@127.0.0.1 git-upload-pack x 2>&1)
  fi
done

# push.sh into local OCI layouts keeps the digests.
"$here/push.sh" "$work/one" "oci:$work/pushed" "v$version" > "$work/pushed.txt"
while read -r image digest; do
  check "push.sh: $image keeps $digest" grep -qx "oci:$work/pushed/$image:v$version@$digest" "$work/pushed.txt"
done < "$work/one/digests.txt"

# And into a registry over its HTTP API, when Debian's docker-registry is installed.
if command -v docker-registry >/dev/null; then
  port=$(( 20000 + RANDOM % 20000 ))
  printf '%s\n' 'version: 0.1' 'log: {level: error}' \
    "storage: {filesystem: {rootdirectory: $work/registry}}" "http: {addr: 127.0.0.1:$port}" \
    > "$work/registry.yml"
  docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 50); do
    curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  GITVIEW_DEST_TLS_VERIFY=false "$here/push.sh" "$work/one" "127.0.0.1:$port/gitview" "v$version" \
    > "$work/pushed-registry.txt" || fail "push.sh to a registry"
  while read -r image digest; do
    check "push.sh: the registry serves $image with $digest" test \
      "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://127.0.0.1:$port/gitview/$image:v$version")" \
      == "$digest"
  done < "$work/one/digests.txt"
  kill "$registry_pid"
  wait "$registry_pid" 2>/dev/null || true
else
  echo "images/test.sh: no docker-registry (Debian package), so no push to a registry" >&2
fi

echo "images/test.sh: builds took ${first}s and ${second}s (without the package cache), all in $((SECONDS - start))s" >&2
if (( failures )); then
  echo "images/test.sh: $failures checks failed" >&2
  exit 1
fi
echo "images/test.sh: all checks passed" >&2
