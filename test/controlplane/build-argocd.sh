#!/usr/bin/env bash
# Builds (or finds cached) Argo CD for `dev-cluster up --with argocd`: the multi-call binary of the
# wrapper module ./argocd (application controller, repo server, git askpass), the CRDs of manifests/crds,
# the argocd-namespace ConfigMaps/Secret of manifests/core-install.yaml (no workloads, no RBAC: the
# components run on the host with the cluster-admin kubeconfig), and hack/git-verify-wrapper.sh, which the
# repo server execs from PATH for every manifest generation (Argo CD's image ships it in /usr/local/bin).
# Cached like build.sh in
#   ${KUBE_LATCH_CACHE:-~/.cache/kube-latch}/argocd-<ARGOCD_VERSION>/{argocd,crds/,config.yaml,git-verify-wrapper.sh}
# and that folder is printed as the last line on stdout. Progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
export GOTOOLCHAIN="$ARGOCD_GO_TOOLCHAIN"
cache_root="${KUBE_LATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-latch}"
dir="$cache_root/argocd-$ARGOCD_VERSION"
started=$SECONDS
log() { printf '[argocd %s +%ss] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - started))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pkg=github.com/argoproj/argo-cd/v3/common
ldflags="-s -w -X $pkg.version=${ARGOCD_VERSION#v} -X $pkg.gitTag=$ARGOCD_VERSION -X $pkg.gitTreeState=clean
 -X $pkg.buildDate=1970-01-01T00:00:00Z"
ldflags="$(echo $ldflags)"
stamp="$(printf '%s\n' "$ARGOCD_VERSION" "$ldflags" "$(cat "$here/argocd/go.mod" "$here/argocd/go.sum" "$here/argocd/main.go")" |
  sha256sum | cut -c1-16)"
if [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$stamp" && -x "$dir/argocd" && -x "$dir/git-verify-wrapper.sh" ]]; then
  log "argo cd $ARGOCD_VERSION: cached"; echo "$dir"; exit 0
fi
command -v go >/dev/null || die "go is not on PATH; install Go >= 1.26 to build Argo CD $ARGOCD_VERSION"
mkdir -p "$cache_root"
# One build at a time per cache, shared with build.sh.
exec 9>"$cache_root/.build.lock"
command -v flock >/dev/null && flock 9
rm -rf "$cache_root"/.argocd.*
tmp="$(mktemp -d "$cache_root/.argocd.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
n=0
if [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$stamp" && -x "$dir/argocd" ]]; then
  # The binary is current; only the files copied from the module are missing (an older cache layout).
  log "argo cd $ARGOCD_VERSION: binary cached; copying its files from the module"
  cp "$dir/argocd" "$tmp/argocd"
else
  logfile="$cache_root/argocd-build.log"
  log "argo cd $ARGOCD_VERSION: building (wrapper module test/controlplane/argocd; about 10-20 minutes cold on 2 cores)"
  (cd "$here/argocd" && CGO_ENABLED=0 nice -n 10 go build -v -p 2 -trimpath -buildvcs=false -mod=readonly \
    -ldflags "$ldflags" -o "$tmp/argocd" . > "$logfile" 2>&1) &
  pid=$! last=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    n=$(grep -cv -e '^#' -e '\.go:' -e '^go: ' "$logfile" || true)
    if ((n >= last + 100)); then log "argocd: $n packages compiled"; last=$n; fi
  done
  rc=0; wait "$pid" || rc=$?
  ((rc == 0)) || { tail -n 40 "$logfile" >&2; die "argo cd build failed (exit $rc); full log: $logfile"; }
  n=$(grep -cv -e '^#' -e '\.go:' -e '^go: ' "$logfile" || true)
fi
src="$(cd "$here/argocd" && go list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3)"
[[ -d "$src/manifests/crds" ]] || die "argo-cd module has no manifests/crds at $src"
mkdir -p "$tmp/crds"
cp "$src"/manifests/crds/*-crd.yaml "$tmp/crds/"
# The namespace-scoped configuration of core-install.yaml: its ConfigMaps and Secrets.
awk 'BEGIN { RS = "\n---\n" } /\nkind: (ConfigMap|Secret)\n/ { printf "---\n%s\n", $0 }' \
  "$src/manifests/core-install.yaml" > "$tmp/config.yaml"
grep -q 'name: argocd-cm$' "$tmp/config.yaml" || die "no argocd-cm in $src/manifests/core-install.yaml"
install -m 755 "$src/hack/git-verify-wrapper.sh" "$tmp/git-verify-wrapper.sh"
chmod -R u+w "$tmp"; chmod 755 "$tmp"
echo "$stamp" > "$tmp/.stamp"
rm -rf "$dir"; mv "$tmp" "$dir"; trap - EXIT
log "argo cd $ARGOCD_VERSION: built ($n packages)"
echo "$dir"
