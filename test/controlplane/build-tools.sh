#!/usr/bin/env bash
# Builds (or finds cached) the real tools of the e2e loop from their wrapper modules in
# test/controlplane/<tool>/: metrics-server, source-controller, kustomize-controller, helm-controller, helm4
# (Helm 4's CLI; the control plane's helm is Helm 3), and kyverno (the admission controller, for bench/peers.ts only).
#   bash test/controlplane/build-tools.sh <tool>...
# Each lands in ${KUBE_LATCH_CACHE:-~/.cache/kube-latch}/<tool>-<version>/ (the binary, plus the CRDs of the
# module's config/crd/bases, or Kyverno's config/crds, in crds/); stdout gets one line per tool: that folder. Progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
log_name=tools
lazy_lock=1
# shellcheck source=lib.sh
source "$here/lib.sh"

# tool -> main package (the module is the package minus any /cmd/... tail).
declare -A pkg_of=(
  [metrics-server]=sigs.k8s.io/metrics-server/cmd/metrics-server
  [source-controller]=github.com/fluxcd/source-controller
  [kustomize-controller]=github.com/fluxcd/kustomize-controller
  [helm-controller]=github.com/fluxcd/helm-controller
  [helm4]=helm.sh/helm/v4/cmd/helm
  [kyverno]=github.com/kyverno/kyverno/cmd/kyverno
)
# extra -X flags: the version a tool reports about itself
declare -A version_flag_of=(
  [helm4]=helm.sh/helm/v4/internal/version.version
)
(($# > 0)) || { echo "usage: build-tools.sh <tool>... (tools: ${!pkg_of[*]})" >&2; exit 2; }
for t in "$@"; do [[ -n "${pkg_of[$t]:-}" ]] || { echo "build-tools.sh: unknown tool '$t' (tools: ${!pkg_of[*]})" >&2; exit 2; }; done

for t in "$@"; do leftovers+=("$cache_root/.$t.*"); done
for t in "$@"; do
  var="$(echo "$t" | tr 'a-z-' 'A-Z_')_VERSION"; version="${!var:-}"
  [[ -n "$version" ]] || die "$var is not set in versions.env"
  wrapper="$here/$t"; pkg="${pkg_of[$t]}"; module="${pkg%%/cmd/*}"
  dir="$cache_root/$t-$version"
  xflag="${version_flag_of[$t]:+-X ${version_flag_of[$t]}=$version}"; ldflags="-s -w${xflag:+ $xflag}"
  stamp="$(stamp_of "$version" "$(cat "$wrapper/go.mod" "$wrapper/go.sum")$xflag")"
  if cached_or_lock "$dir" "$stamp" "$t"; then
    log "$t $version: cached"
  else
    need_go
    log "$t $version: building (wrapper module test/controlplane/$t)"
    t0=$SECONDS
    tmp="$(mktemp -d "$cache_root/.$t.XXXXXX")"
    (cd "$wrapper" && run_logged "$t" "$cache_root/$t-build.log" \
      "${go_build[@]}" -mod=readonly -ldflags "$ldflags" -o "$tmp/$t" "$pkg")
    src="$(cd "$wrapper" && go list -mod=readonly -m -f '{{.Dir}}' "$module")"
    for crds in "$src/config/crd/bases" "$src/config/crds"; do
      [[ -d "$crds" ]] || continue
      mkdir -p "$tmp/crds"; find "$crds" -name '*.yaml' -exec cp {} "$tmp/crds/" \; ; chmod -R u+w "$tmp/crds"
    done
    n=$(grep -cv -e '^#' -e '\.go:' -e '^go: ' "$cache_root/$t-build.log" || true)
    finish "$tmp" "$dir" "$stamp"
    log "$t $version: built in $((SECONDS - t0))s ($n packages compiled)"
  fi
  echo "$dir"
done
