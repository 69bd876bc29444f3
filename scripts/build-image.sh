#!/usr/bin/env bash
# Builds kube-latch's image from the Dockerfile with buildah, with or without a registry.
#
#   scripts/build-image.sh                 # bases made here (no registry needed), cached; what npm test uses
#   scripts/build-image.sh --bases registry  # the Dockerfile's own bases (node:24-bookworm-slim, debian:bookworm-slim)
#   scripts/build-image.sh --tag registry.example.com/platform/kube-latch:0.1.0
#
# With `--bases local` (the default) the Dockerfile's two base images are made on this machine:
#   DEBIAN_IMAGE  a Debian $IMAGE_DEBIAN_SUITE minbase root filesystem from mmdebstrap, from the mirror in
#                 the apt sources (the runtime's packages come from it);
#   NODE_IMAGE    that root filesystem plus the `node` binary of the node@24 dev dependency and npm
#                 $IMAGE_NPM_VERSION (`npm pack`). It also trusts this machine's extra CAs
#                 (/usr/local/share/ca-certificates), because `npm ci` in the build stage fails with
#                 SELF_SIGNED_CERT_IN_CHAIN behind a TLS-intercepting proxy otherwise. Only the build stages
#                 run on it: the runtime image is assembled FROM scratch and holds Debian's CA bundle alone.
# Each is cached by a hash of its inputs, and the image by the Dockerfile, the lockfile, the tsconfigs, src/
# and the bases, so a warm run takes a second or two. The image is also written as an OCI archive (for
# `ctr image import` or `skopeo copy`). Last stdout line: `<image ref> <oci archive>`. Progress, build time
# and size go to stderr. Needs buildah (and mmdebstrap for local bases): `bash scripts/install-system-deps.sh test`.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=../test/controlplane/versions.env
source "$repo/test/controlplane/versions.env"

bases=local
tag=""
while (($#)); do
  case "$1" in
    --bases) bases="${2:-}"; shift $(($# > 1 ? 2 : 1)) ;;
    --tag) tag="${2:-}"; [[ -n "$tag" ]] || { echo "build-image.sh: --tag needs a name" >&2; exit 2; }; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image.sh: unknown argument '$1' (usage: build-image.sh [--bases local|registry] [--tag NAME])" >&2; exit 2 ;;
  esac
done
case "$bases" in local|registry) ;; *) echo "build-image.sh: --bases must be local or registry, got '$bases'" >&2; exit 2 ;; esac

cache="${KUBE_LATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-latch}/image"
started=$SECONDS
log() { printf '[image %s +%ss] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - started))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
need=(buildah)
[[ "$bases" == local ]] && need+=(mmdebstrap)
for c in "${need[@]}"; do command -v "$c" >/dev/null || die "$c is missing (bash scripts/install-system-deps.sh test installs it)"; done
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
hash_of() { sha256sum | cut -c1-16; }
has_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }
# --network none: buildah's default would set up a CNI bridge (and ip_forward) on the host.
in_ctr() { buildah run --network none "$@"; }

build_args=()
if [[ "$bases" == local ]]; then
  # --- Debian base -------------------------------------------------------------------------------
  mirror="${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p; s/^deb \(http[^ ]*debian\) .*/\1/p' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -1 || true)}"
  [[ -n "$mirror" ]] || die "no Debian mirror in the apt sources; set DEBIAN_MIRROR"
  rootfs="$cache/rootfs-$IMAGE_DEBIAN_SUITE-$(echo "$mirror" | hash_of).tar"
  if [[ ! -s "$rootfs" ]]; then
    log "debian $IMAGE_DEBIAN_SUITE root filesystem: mmdebstrap (minbase, ca-certificates) from $mirror"
    # (mmdebstrap picks the output format from the name: keep .tar at the end)
    nice -n 10 mmdebstrap --quiet --variant=minbase --include=ca-certificates "$IMAGE_DEBIAN_SUITE" "${rootfs%.tar}.tmp.tar" "$mirror" >&2
    mv "${rootfs%.tar}.tmp.tar" "$rootfs"
  fi
  debian="localhost/kube-latch-debian-base:$(sha256sum "$rootfs" | hash_of)"
  if ! has_image "$debian"; then
    log "debian base $debian: importing"
    ctr=$(buildah from --quiet scratch)
    buildah add --quiet "$ctr" "$rootfs" / >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/sh "$ctr"
    buildah commit --quiet --rm "$ctr" "$debian" >/dev/null
  fi

  # --- Node 24 base (build stages only) ----------------------------------------------------------
  node_bin="$repo/node_modules/node/bin/node"
  [[ -x "$node_bin" ]] || die "$node_bin is missing (the node@24 dev dependency: run npm ci)"
  npm_tgz="$cache/npm-$IMAGE_NPM_VERSION.tgz"
  if [[ ! -s "$npm_tgz" ]]; then
    log "npm $IMAGE_NPM_VERSION: npm pack"
    (cd "$cache" && npm pack --silent "npm@$IMAGE_NPM_VERSION" >/dev/null)
  fi
  cas=(/usr/local/share/ca-certificates/*.crt)
  [[ -e "${cas[0]}" ]] || cas=()
  node_base="localhost/kube-latch-node24-base:$( { echo "$debian"; sha256sum "$npm_tgz" "$(readlink -f "$node_bin")" ${cas[@]+"${cas[@]}"} | cut -d' ' -f1; } | hash_of)"
  if ! has_image "$node_base"; then
    log "node 24 base $node_base: building"
    ctr=$(buildah from --quiet "$debian")
    buildah copy --quiet "$ctr" "$(readlink -f "$node_bin")" /usr/local/bin/node >/dev/null
    buildah add --quiet "$ctr" "$npm_tgz" /usr/local/lib/node_modules/ >/dev/null
    in_ctr "$ctr" -- sh -ec 'mv /usr/local/lib/node_modules/package /usr/local/lib/node_modules/npm
      ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
      ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx'
    if ((${#cas[@]})); then
      buildah copy --quiet "$ctr" "${cas[@]}" /usr/local/share/ca-certificates/ >/dev/null
      in_ctr "$ctr" -- update-ca-certificates >/dev/null
      buildah config --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "$ctr"
    fi
    buildah config --cmd node "$ctr"
    buildah commit --quiet --rm "$ctr" "$node_base" >/dev/null
  fi
  build_args=(--build-arg "NODE_IMAGE=$node_base" --build-arg "DEBIAN_IMAGE=$debian")
fi

# --- the image ------------------------------------------------------------------------------------
src_hash="$( { cd "$repo" && git ls-files -co --exclude-standard Dockerfile .dockerignore package.json package-lock.json tsconfig.json tsconfig.build.json src |
  LC_ALL=C sort | xargs sha256sum; echo "${build_args[*]-}"; } | hash_of)"
image="${tag:-localhost/kube-latch:$src_hash}"
archive="$cache/kube-latch-$src_hash.oci.tar"
if has_image "$image" && [[ -s "$archive" ]] && [[ "$(buildah inspect --type image --format '{{index .ImageAnnotations "dev.kube-latch.source"}}' "$image" 2>/dev/null)" == "$src_hash" ]]; then
  log "$image: cached"
else
  t=$SECONDS
  log "$image: buildah bud${build_args[*]:+ (${build_args[*]})}"
  (cd "$repo" && nice -n 10 buildah bud --quiet --layers --network host ${build_args[@]+"${build_args[@]}"} \
    --annotation "dev.kube-latch.source=$src_hash" -t "$image" -f Dockerfile . >&2)
  rm -f "$cache"/kube-latch-*.oci.tar "$cache"/*.tmp "$cache"/*.tmp.tar
  buildah push --quiet "$image" "oci-archive:$archive.tmp:$image" >&2
  mv "$archive.tmp" "$archive"
  log "$image: built in $((SECONDS - t)) s"
fi
size="$(buildah images --format '{{.Size}}' "$image" | head -1)"
log "$image: $size uncompressed, $(( $(stat -c %s "$archive") / 1024 / 1024 )) MiB as an OCI archive"
echo "$image $archive"
