#!/usr/bin/env bash
# Builds the gitview-operator, gitview-gateway and gitview-runner images without a container
# engine: OCI image layouts from Debian bookworm packages and the release binaries.
#
#   images/build.sh --out DIR [--bin-dir DIR]
#
# writes, for NAME in operator, gateway and runner:
#   DIR/NAME/             the OCI image layout (one manifest; `skopeo inspect oci:DIR/NAME`)
#   DIR/NAME.oci.tar      the same layout as an OCI archive (`oci-archive:DIR/NAME.oci.tar`)
#   DIR/NAME.sbom.json    its software bill of materials (CycloneDX 1.5 JSON)
#   DIR/digests.txt       "gitview-NAME sha256:..." per image
#   DIR/values-digests.yaml  the chart values that pin the three images to these digests
#
# --bin-dir DIR packages DIR/gitview-NAME as they are (the end-to-end suite's debug binaries,
# say) instead of building the release binaries with
# `cargo build --release --locked -p gitview-operator -p gitview-gateway -p gitview-runner`
# (CARGO_TARGET_DIR, default ${GITVIEW_CACHE:-$HOME/.cache/gitview}/target-release).
#
# Reproducible: the same sources, binaries and Debian packages give the same digests.
# SOURCE_DATE_EPOCH (default: the HEAD commit's time) is every timestamp: the config's
# `created`, the history, the label and the files' mtimes (clamped). GITVIEW_DEBIAN_MIRROR
# replaces mmdebstrap's default bookworm, bookworm-updates and bookworm-security sources
# (e.g. a snapshot.debian.org URL, to pin the packages in time; it is a mmdebstrap MIRROR
# argument, several separated by `|`). Package downloads are kept in
# ${GITVIEW_CACHE:-$HOME/.cache/gitview}/images/debs.
#
# Runs as root (mmdebstrap in root mode, files owned by root in the layers).
# Needs mmdebstrap, umoci, jq, dpkg-deb, GNU tar, cargo and git; images/README.md explains
# what goes into each image and why.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }

out="" bin_dir=""
while (( $# )); do
  case $1 in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --bin-dir) bin_dir=${2:?--bin-dir needs a directory}; shift 2 ;;
    --bin-dir=*) bin_dir=${1#--bin-dir=}; shift ;;
    -h|--help) usage 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; usage ;;
  esac
done
[[ -n $out ]] || usage

root=$(cd "$(dirname "$0")/.." && pwd)
cache="${GITVIEW_CACHE:-$HOME/.cache/gitview}"
names=(operator gateway runner)

step() { printf '== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)" >&2; }
die() { echo "build.sh: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (mmdebstrap --mode=root; the layers' files belong to root)"
for tool in mmdebstrap umoci jq dpkg-deb tar cargo git sha256sum; do
  command -v "$tool" >/dev/null || die "needs $tool (Debian: apt-get install mmdebstrap umoci jq)"
done

# --- What the images are made of ------------------------------------------------------------

# Every image: the C library and libgcc (what `ldd` shows the Rust binaries need), the CA
# certificates (rustls verifies against the system's bundle), base-files for /etc/os-release
# (so scanners know the distribution) and gcc-12-base (libgcc-s1's copyright lives there).
base_packages=(base-files libc6 libgcc-s1 gcc-12-base ca-certificates)
# The operator and the runner also spawn `ssh` for ssh:// remotes, through `/bin/sh -c` when
# a key is mounted (gix runs a `core.sshCommand` with arguments through the shell): dash, and
# the OpenSSH client with the libraries `ldd /usr/bin/ssh` names.
ssh_packages=(dash openssh-client libselinux1 libpcre2-8-0 libgssapi-krb5-2 libkrb5-3
  libk5crypto3 libcom-err2 libkrb5support0 libkeyutils1 libssl3 zlib1g)
packages_of() { # NAME -> the packages of its root filesystem
  case $1 in
    gateway) echo "${base_packages[*]}" ;;
    operator|runner) echo "${base_packages[*]} ${ssh_packages[*]}" ;;
  esac
}
# Packages of which only some paths are needed (the rest of each package is extracted, minus
# the documentation pruned below): ssh alone of the OpenSSH client (not the setuid
# ssh-keysign, nor sftp and the agent whose libraries are left out), the certificates without
# the update-ca-certificates shell script (the bundle is generated here), os-release alone of
# base-files.
declare -A only=(
  [openssh-client]="./etc/ssh ./usr/bin/ssh ./usr/share/doc/openssh-client/copyright"
  [ca-certificates]="./etc/ssl/certs ./usr/share/ca-certificates ./usr/share/doc/ca-certificates/copyright"
  [base-files]="./etc/os-release ./usr/lib/os-release ./usr/share/doc/base-files/copyright"
)

# --- Sources: version, revision, time ------------------------------------------------------

cd "$root"
revision=$(git rev-parse HEAD)
[[ -z $(git status --porcelain --untracked-files=no) ]] \
  || echo "build.sh: warning: the work tree has changes; the revision label names HEAD ($revision)" >&2
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct HEAD)}"
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
# Files written now get SOURCE_DATE_EPOCH through tar's --clamp-mtime: only if it is past.
(( SOURCE_DATE_EPOCH <= $(date +%s) )) || die "SOURCE_DATE_EPOCH ($created) is in the future"
target_triple=x86_64-unknown-linux-gnu
metadata=$(cargo metadata --locked --offline --format-version 1 --filter-platform "$target_triple" 2>/dev/null \
  || cargo metadata --locked --format-version 1 --filter-platform "$target_triple")
# The workspace's version, license and repository ([workspace.package] in Cargo.toml).
workspace_field() { # FIELD
  awk -v key="$1" '/^\[/ { section = $0 } section == "[workspace.package]" && $1 == key && $2 == "=" {
    sub(/^[^=]*= *"/, ""); sub(/".*$/, ""); print; exit }' Cargo.toml
}
version=$(workspace_field version)
license=$(workspace_field license)
source_url=$(workspace_field repository)
[[ -n $version ]] || die "no version in Cargo.toml's [workspace.package]"
tag="v$version"

work=$(mktemp -d "${TMPDIR:-/tmp}/gitview-images.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
out=$(cd "$out" && pwd)

# --- Binaries ---------------------------------------------------------------------------------

if [[ -z $bin_dir ]]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target-release}"
  step "cargo build --release (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  # Without SOURCE_DATE_EPOCH: the cc crate's build scripts rerun when it changes, which would
  # rebuild ring, jemalloc and all that depends on them at every commit; the binaries' bytes do
  # not depend on it (images/README.md).
  env -u SOURCE_DATE_EPOCH cargo build --release --locked -p gitview-operator -p gitview-gateway -p gitview-runner
  bin_dir="$CARGO_TARGET_DIR/release"
fi
for name in "${names[@]}"; do
  [[ -x $bin_dir/gitview-$name ]] || die "no executable $bin_dir/gitview-$name"
done

# --- Debian packages --------------------------------------------------------------------------

step "Debian bookworm packages (mmdebstrap)"
# mmdebstrap resolves the packages' dependencies, downloads them from the signed archive and
# hands them to the extract hook, which copies them out; the root filesystems are assembled
# below from the listed packages only (the dependency closure brings adduser, passwd, PAM, dpkg
# and more that nothing here runs). The extract variant runs no maintainer scripts.
debs="$work/debs" debcache="$cache/images/debs"
mkdir -p "$debs" "$debcache"
read -r -a all_packages <<<"$(packages_of operator)"
mirrors=()
if [[ -n ${GITVIEW_DEBIAN_MIRROR:-} ]]; then
  IFS='|' read -r -a mirrors <<<"$GITVIEW_DEBIAN_MIRROR"
fi
# shellcheck disable=SC2016 # $1 and $MMDEBSTRAP_ESSENTIAL are expanded by the hook's shell
mmdebstrap --mode=root --variant=extract --format=null --quiet \
  --include="$(IFS=,; echo "${all_packages[*]}")" \
  --setup-hook="mkdir -p \"\$1/var/cache/apt/archives\"; cp -p '$debcache'/*.deb \"\$1/var/cache/apt/archives/\" 2>/dev/null || true" \
  --extract-hook='for deb in $MMDEBSTRAP_ESSENTIAL; do cp -p "$1/$deb" '"'$debs/'"'; done' \
  bookworm "$work/null" "${mirrors[@]}"
# Keep exactly this run's downloads for the next one, replacing the cache whole so that a run
# beside this one never reads a half-copied file (if two finish together, one cache stays).
fresh=$(mktemp -d "$debcache.XXXXXX")
cp -p "$debs"/*.deb "$fresh/"
rm -rf "$debcache"
mv -T "$fresh" "$debcache" 2>/dev/null || rm -rf "$fresh"

deb_of() { # PACKAGE -> its .deb (NAME_VERSION_ARCH.deb; package names have no "_")
  local found=("$debs/$1"_*.deb)
  [[ ${#found[@]} == 1 && -f ${found[0]} ]] || die "mmdebstrap fetched no single .deb of $1: ${found[*]}"
  echo "${found[0]}"
}

# A root filesystem from PACKAGES, owned by root but for nonroot's home.
make_rootfs() { # DIR PACKAGE...
  local dir=$1 pkg deb; shift
  mkdir -p "$dir"
  for pkg in "$@"; do
    deb=$(deb_of "$pkg")
    read -r -a members <<<"${only[$pkg]:-}"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" "${members[@]}"
    # The package's control stanza, where distroless images keep theirs, so that scanners
    # (syft, grype, trivy) list the packages.
    mkdir -p "$dir/var/lib/dpkg/status.d"
    dpkg-deb -f "$deb" > "$dir/var/lib/dpkg/status.d/$pkg"
    # Package, version, architecture, source package and the .deb's SHA-256, for the SBOM.
    # shellcheck disable=SC2016 # dpkg-deb expands ${Package} and the others
    dpkg-deb --show --showformat='${Package}\t${Version}\t${Architecture}\t${source:Package}\t' "$deb" >> "$dir.debs.tsv"
    sha256sum "$deb" | cut -d' ' -f1 >> "$dir.debs.tsv"
  done
  # Nothing reads documentation, manuals, translations or lintian overrides at run time; the
  # copyright files stay. Nothing here converts character sets (glibc's gconv modules).
  rm -rf "$dir"/usr/share/{man,info,locale,lintian,bug,menu,apport,debianutils} \
    "$dir"/usr/lib/systemd "$dir"/usr/lib/x86_64-linux-gnu/gconv
  find "$dir/usr/share/doc" -mindepth 2 ! -type d ! -name copyright -delete
  find "$dir/usr/share" -mindepth 1 -depth -type d -empty -delete
  # The CA bundle update-ca-certificates would write: every certificate, in its order.
  if [[ -d $dir/usr/share/ca-certificates ]]; then
    (cd "$dir/usr/share/ca-certificates" && find . -name '*.crt' -printf '%P\n' | LC_ALL=C sort \
      | while read -r crt; do cat "$crt"; [[ -z $(tail -c 1 "$crt") ]] || echo; done) \
      > "$dir/etc/ssl/certs/ca-certificates.crt"
  fi
  printf '%s\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin' > "$dir/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' > "$dir/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'shadow: files' 'hosts: files dns' \
    'networks: files' 'protocols: files' 'services: files' > "$dir/etc/nsswitch.conf"
  mkdir -p "$dir/tmp" "$dir/root" "$dir/home/nonroot" "$dir/usr/local/bin"
  chown -R 0:0 "$dir"
  chmod 1777 "$dir/tmp"
  chmod 0700 "$dir/root" "$dir/home/nonroot"
  chown 65532:65532 "$dir/home/nonroot"
}

# A layer: sorted, numeric owners, mtimes clamped to SOURCE_DATE_EPOCH, no atime/ctime/xattrs.
layer_tar() { # DIR TAR PATH...
  local dir=$1 tarfile=$2; shift 2
  tar --create --file="$tarfile" --directory="$dir" --sort=name --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime --numeric-owner \
    --no-acls --no-xattrs --no-selinux "$@"
}

step "root filesystems"
read -r -a gateway_packages <<<"$(packages_of gateway)"
make_rootfs "$work/base-gateway" "${gateway_packages[@]}"
make_rootfs "$work/base-ssh" "${all_packages[@]}"
layer_tar "$work/base-gateway" "$work/base-gateway.tar" .
layer_tar "$work/base-ssh" "$work/base-ssh.tar" .

# --- Images -----------------------------------------------------------------------------------

# Rust crates linked into PACKAGE (normal dependencies, no proc macros or build scripts), as
# edges "parent-name parent-version child-name child-version"; the root is "- - NAME VERSION".
crate_edges() { # PACKAGE
  cargo tree --locked --offline -p "$1" -e normal,no-proc-macro --target "$target_triple" \
    --prefix depth --format '{p}' \
    | awk '{ match($0, /^[0-9]+/); d = substr($0, 1, RLENGTH) + 0; rest = substr($0, RLENGTH + 1)
             split(rest, f, " "); name[d] = f[1]; ver[d] = substr(f[2], 2)
             if (d == 0) print "-", "-", name[d], ver[d]; else print name[d-1], ver[d-1], name[d], ver[d] }' \
    | sort -u
}
# Cargo.lock as "name version source checksum" lines.
lock_entries() {
  awk -v OFS='\t' '
    function entry() { if (n != "") print n, v, (s == "" ? "-" : s), (c == "" ? "-" : c); n = v = s = c = "" }
    /^\[\[package\]\]/ { entry() }
    /^name = / { n = $3 } /^version = / { v = $3 } /^source = / { s = $3 } /^checksum = / { c = $3 }
    END { entry() }' Cargo.lock | tr -d '"'
}
lock_entries > "$work/lock.txt"
jq -r '.packages[] | [.name, .version, (.license // "-")] | join("\t")' <<<"$metadata" \
  | sort -u > "$work/licenses.txt"

# CycloneDX 1.5: the image, its binary, the crates in the binary and the Debian packages, with
# the crates' dependency graph. Written from the image's digest, so never inside the image.
write_sbom() { # NAME DIGEST BINARY DEBS_TSV OUTPUT
  local name=$1 digest=$2 binary=$3 debs_tsv=$4 output=$5
  crate_edges "gitview-$name" > "$work/edges-$name.txt"
  jq -n \
    --arg name "gitview-$name" --arg version "$version" --arg digest "$digest" \
    --arg created "$created" --arg revision "$revision" --arg source "$source_url" \
    --arg binary_sha "$(sha256sum "$binary" | cut -d' ' -f1)" \
    --rawfile edges "$work/edges-$name.txt" --rawfile lock "$work/lock.txt" \
    --rawfile licenses "$work/licenses.txt" --rawfile debs "$debs_tsv" '
    def lines($s; $sep): $s | split("\n") | map(select(length > 0) | split($sep));
    def crate_ref($n; $v): "cargo:\($n)@\($v)";
    (lines($lock; "\t") | map({key: "\(.[0]) \(.[1])", value: {source: .[2], checksum: .[3]}}) | from_entries) as $locked
    | (lines($licenses; "\t") | map({key: "\(.[0]) \(.[1])", value: .[2]}) | from_entries) as $license
    | lines($edges; " ") as $edges
    | ($edges | map([.[2], .[3]]) | unique) as $crates
    | lines($debs; "\t") as $debs
    | ($digest | ltrimstr("sha256:")) as $hex
    | {
      bomFormat: "CycloneDX",
      specVersion: "1.5",
      serialNumber: "urn:uuid:\($hex[0:8])-\($hex[8:12])-5\($hex[13:16])-8\($hex[17:20])-\($hex[20:32])",
      version: 1,
      metadata: {
        timestamp: $created,
        tools: {components: [{type: "application", name: "gitview images/build.sh"}]},
        component: {
          type: "container", "bom-ref": "image:\($name)", name: $name, version: $version,
          purl: "pkg:oci/\($name)@\($digest | @uri)",
          properties: [{name: "org.opencontainers.image.revision", value: $revision},
                       {name: "org.opencontainers.image.source", value: $source}]
        }
      },
      components: (
        [$crates[] | . as [$n, $v] | ($locked["\($n) \($v)"] // {source: "-", checksum: "-"}) as $l
         | {type: (if $n == $name then "application" else "library" end),
            "bom-ref": crate_ref($n; $v), name: $n, version: $v}
         + (if $l.source | startswith("registry+https://github.com/rust-lang/crates.io-index")
            then {purl: "pkg:cargo/\($n)@\($v | @uri)"} else {} end)
         + (if $l.checksum != "-" then {hashes: [{alg: "SHA-256", content: $l.checksum}]}
            elif $n == $name then {hashes: [{alg: "SHA-256", content: $binary_sha}]} else {} end)
         + (if ($license["\($n) \($v)"] // "-") != "-" then {licenses: [{expression: $license["\($n) \($v)"]}]} else {} end)
         + {properties: ([{name: "cargo:source", value: (if $l.source == "-" then "workspace" else $l.source end)}]
            + (if $n == $name then [{name: "path", value: "/usr/local/bin/\($name)"}] else [] end))}]
        + [$debs[] | . as [$n, $v, $a, $src, $sha]
         | {type: "library", "bom-ref": "deb:\($n)@\($v)", name: $n, version: $v,
            purl: "pkg:deb/debian/\($n)@\($v | @uri)?arch=\($a)&distro=debian-12",
            hashes: [{alg: "SHA-256", content: $sha}],
            properties: [{name: "debian:architecture", value: $a}, {name: "debian:source", value: $src}]}]),
      dependencies: (
        [{ref: "image:\($name)", dependsOn: ([crate_ref($name; $version)] + [$debs[] | "deb:\(.[0])@\(.[1])"])}]
        + [$crates[] | . as [$n, $v]
           | {ref: crate_ref($n; $v),
              dependsOn: [$edges[] | select(.[0] == $n and .[1] == $v) | crate_ref(.[2]; .[3])] | unique}])
    }' > "$output"
}

for name in "${names[@]}"; do
  step "image gitview-$name"
  base="base-ssh"
  [[ $name == gateway ]] && base="base-gateway"
  app="$work/app-$name"
  mkdir -p "$app/usr/local/bin"
  cp "$bin_dir/gitview-$name" "$app/usr/local/bin/gitview-$name"
  chmod 0755 "$app/usr" "$app/usr/local" "$app/usr/local/bin" "$app/usr/local/bin/gitview-$name"
  chown -R 0:0 "$app"
  layer_tar "$app" "$work/app-$name.tar" "./usr/local/bin/gitview-$name"

  layout="$out/$name"
  rm -rf "$layout" "$out/$name.oci.tar" "$out/$name.sbom.json"
  umoci init --layout "$layout"
  umoci new --image "$layout:$tag"
  umoci raw add-layer --image "$layout:$tag" --history.created="$created" \
    --history.created_by="images/build.sh: Debian bookworm: $(packages_of "$name")" "$work/$base.tar"
  umoci raw add-layer --image "$layout:$tag" --history.created="$created" \
    --history.created_by="images/build.sh: /usr/local/bin/gitview-$name" "$work/app-$name.tar"
  labels=(
    "org.opencontainers.image.title=gitview-$name"
    "org.opencontainers.image.source=$source_url"
    "org.opencontainers.image.revision=$revision"
    "org.opencontainers.image.version=$version"
    "org.opencontainers.image.created=$created"
  )
  [[ -n $license ]] && labels+=("org.opencontainers.image.licenses=$license")
  config=(--no-history --created="$created" --os=linux --architecture=amd64
    --config.user=65532:65532 --config.env=PATH=/usr/local/bin:/usr/bin:/bin
    --config.entrypoint="/usr/local/bin/gitview-$name")
  [[ $name == runner ]] && config+=(--config.cmd=run)
  for label in "${labels[@]}"; do
    config+=(--config.label="$label" --manifest.annotation="$label")
  done
  umoci config --image "$layout:$tag" "${config[@]}"
  umoci gc --layout "$layout"

  # The OCI archive: the layout in a tar as reproducible as the layers.
  layer_tar "$layout" "$out/$name.oci.tar" .
  digest=$(jq -r '.manifests[0].digest' "$layout/index.json")
  write_sbom "$name" "$digest" "$bin_dir/gitview-$name" "$work/$base.debs.tsv" "$out/$name.sbom.json"
  printf 'gitview-%s %s\n' "$name" "$digest" >> "$work/digests.txt"
done

mv "$work/digests.txt" "$out/digests.txt"
{
  echo "# Pins the chart's images to the digests images/build.sh built ($tag, $revision)."
  echo "image:"
  echo "  tag: $tag"
  echo "  digests:"
  while read -r image digest; do echo "    ${image#gitview-}: $digest"; done < "$out/digests.txt"
} > "$out/values-digests.yaml"
step "done: $out"
cat "$out/digests.txt"
