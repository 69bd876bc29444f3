#!/usr/bin/env bash
# Builds (or finds cached) the dev-cluster toolchain from Go modules: helm, etcd, kwok, kube-apiserver,
# kube-controller-manager, kube-scheduler and kubectl, all CGO_ENABLED=0 with their version ldflags.
#
# Binaries are cached outside the repo, one folder per component and version:
#   ${KUBE_LATCH_CACHE:-~/.cache/kube-latch}/<component>-<version>/
# and assembled as symlinks into ONE folder, printed as the last line on stdout:
#   ${KUBE_LATCH_CACHE:-~/.cache/kube-latch}/k8s-<K8S_VERSION>/bin
# Progress goes to stderr. A cold build takes minutes; a cached run takes seconds.
#
# KUBEBUILDER_ASSETS (envtest's folder) and TEST_ASSET_KUBE_APISERVER / TEST_ASSET_ETCD /
# TEST_ASSET_KUBECTL are honoured: binaries found there are linked instead of built. envtest ships no
# kube-controller-manager or kube-scheduler, so those are always built here.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

lazy_lock=1 # taken below, once this script's leftovers are named
# shellcheck source=lib.sh
source "$here/lib.sh"
bin_dir="$cache_root/k8s-$K8S_VERSION/bin"
need_go() { command -v go >/dev/null || die "go is not on PATH; install Go >= 1.26 to build the toolchain (Kubernetes $K8S_VERSION needs it)"; }
# Leftovers of builds that were interrupted, removed once the lock is held (then none is running).
leftovers=("$cache_root/.helm.*" "$cache_root/.etcd.*" "$cache_root/.kwok.*" "$cache_root/.kubernetes.*")
# One run at a time per cache, for the whole run: the links assembled at the end must not race another run's.
take_lock
k8s_minor="${K8S_VERSION#v1.}"; k8s_minor="${k8s_minor%%.*}"

# asset NAME -> path of a prebuilt binary from TEST_ASSET_<NAME> or KUBEBUILDER_ASSETS, or nothing.
asset() {
  local var="TEST_ASSET_$(echo "$1" | tr 'a-z-' 'A-Z_')"
  if [[ -n "${!var:-}" && -x "${!var}" ]]; then echo "${!var}"; return; fi
  if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/$1" ]]; then echo "$KUBEBUILDER_ASSETS/$1"; fi
}

# --- helm (first: the chart work needs it soonest) -------------------------------------------------
helm_dir="$cache_root/helm-$HELM_VERSION"
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION
 -X helm.sh/helm/v3/internal/version.gitTreeState=clean
 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor
 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
helm_ldflags="$(echo $helm_ldflags)"
helm_stamp="$(stamp_of "$HELM_VERSION" "$helm_ldflags")"
if cached "$helm_dir" "$helm_stamp" helm; then
  log "helm $HELM_VERSION: cached"
else
  need_go
  log "helm $HELM_VERSION: building (go install; about 2-4 minutes cold)"
  tmp="$(mktemp -d "$cache_root/.helm.XXXXXX")"
  GOBIN="$tmp" GOFLAGS=-mod=mod run_logged helm "$cache_root/helm-build.log" \
    nice -n 10 go install -v -p 2 -trimpath -ldflags "$helm_ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  finish "$tmp" "$helm_dir" "$helm_stamp"
  log "helm $HELM_VERSION: built"
fi

# --- etcd (wrapper module in ./etcd) ---------------------------------------------------------------
etcd_dir="$cache_root/etcd-$ETCD_VERSION"
etcd_src=""
if [[ -n "$(asset etcd)" ]]; then
  etcd_src="$(asset etcd)"; log "etcd: using $etcd_src (KUBEBUILDER_ASSETS / TEST_ASSET_ETCD)"
else
  etcd_ldflags="-s -w"
  etcd_stamp="$(stamp_of "$ETCD_VERSION" "$etcd_ldflags" "$(cat "$here/etcd/go.mod" "$here/etcd/go.sum" "$here/etcd/main.go")")"
  if cached "$etcd_dir" "$etcd_stamp" etcd; then
    log "etcd $ETCD_VERSION: cached"
  else
    need_go
  log "etcd $ETCD_VERSION: building (wrapper module test/controlplane/etcd; about 2-3 minutes cold)"
    tmp="$(mktemp -d "$cache_root/.etcd.XXXXXX")"
    (cd "$here/etcd" && run_logged etcd "$cache_root/etcd-build.log" \
      "${go_build[@]}" -mod=readonly -ldflags "$etcd_ldflags" -o "$tmp/etcd" .)
    finish "$tmp" "$etcd_dir" "$etcd_stamp"
    log "etcd $ETCD_VERSION: built"
  fi
  etcd_src="$etcd_dir/etcd"
fi

# --- kwok, plus the stage configs v0.8 needs (it ships no built-in stages) -----------------------
kwok_dir="$cache_root/kwok-$KWOK_VERSION"
kwok_ldflags="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=$K8S_VERSION"
kwok_stamp="$(stamp_of "$KWOK_VERSION" "$kwok_ldflags")"
kwok_stages=(node/fast node/heartbeat-with-lease pod/fast)
if cached "$kwok_dir" "$kwok_stamp" kwok; then
  log "kwok $KWOK_VERSION: cached"
else
  need_go
  log "kwok $KWOK_VERSION: building (go install; about 2-3 minutes cold)"
  tmp="$(mktemp -d "$cache_root/.kwok.XXXXXX")"
  GOBIN="$tmp" GOFLAGS=-mod=mod run_logged kwok "$cache_root/kwok-build.log" \
    nice -n 10 go install -v -p 2 -trimpath -ldflags "$kwok_ldflags" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  kwok_mod="$(GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -d "$kwok_mod/kustomize/stage" ]] || die "kwok module has no kustomize/stage folder at $kwok_mod"
  for s in "${kwok_stages[@]}"; do
    mkdir -p "$tmp/stages/$s"
    cp "$kwok_mod/kustomize/stage/$s/"*.yaml "$tmp/stages/$s/"
  done
  # The stage kustomizations are not kwok configs; keep only the Stage documents.
  rm -f "$tmp"/stages/*/*/kustomization.yaml
  chmod -R u+w "$tmp/stages"
  finish "$tmp" "$kwok_dir" "$kwok_stamp"
  log "kwok $KWOK_VERSION: built"
fi

# --- Kubernetes (wrapper module in ./kubernetes) -------------------------------------------------
k8s_dir="$cache_root/kubernetes-$K8S_VERSION"
k8s_cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
declare -A k8s_src=()
to_build=()
for c in "${k8s_cmds[@]}"; do
  a="$(asset "$c")"
  if [[ -n "$a" ]]; then k8s_src[$c]="$a"; log "$c: using $a (KUBEBUILDER_ASSETS / TEST_ASSET_*)"
  else to_build+=("$c"); k8s_src[$c]="$k8s_dir/$c"; fi
done
vpkg=k8s.io/component-base/version
k8s_ldflags="-s -w -X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$k8s_minor
 -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z
 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1
 -X k8s.io/client-go/pkg/version.gitMinor=$k8s_minor -X k8s.io/client-go/pkg/version.gitTreeState=clean"
k8s_ldflags="$(echo $k8s_ldflags)"
k8s_stamp="$(stamp_of "$K8S_VERSION" "$k8s_ldflags" "$(cat "$here/kubernetes/go.mod" "$here/kubernetes/go.sum")")"
if ((${#to_build[@]} == 0)); then
  :
elif cached "$k8s_dir" "$k8s_stamp" "${to_build[@]}"; then
  log "kubernetes $K8S_VERSION (${to_build[*]}): cached"
else
  need_go
  log "kubernetes $K8S_VERSION: building ${to_build[*]} (wrapper module test/controlplane/kubernetes; 15-30 minutes cold on 2 cores)"
  tmp="$(mktemp -d "$cache_root/.kubernetes.XXXXXX")"
  pkgs=(); for c in "${to_build[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$here/kubernetes" && run_logged kubernetes "$cache_root/kubernetes-build.log" \
    "${go_build[@]}" -mod=readonly -ldflags "$k8s_ldflags" -o "$tmp/" "${pkgs[@]}")
  finish "$tmp" "$k8s_dir" "$k8s_stamp"
  log "kubernetes $K8S_VERSION: built"
fi

# --- one folder holding every binary -------------------------------------------------------------
mkdir -p "$bin_dir"
chmod 755 "$helm_dir" "$kwok_dir" 2>/dev/null || true
[[ -d "$etcd_dir" ]] && chmod 755 "$etcd_dir"
[[ -d "$k8s_dir" ]] && chmod 755 "$k8s_dir"
ln -sfn "$helm_dir/helm" "$bin_dir/helm"
ln -sfn "$etcd_src" "$bin_dir/etcd"
ln -sfn "$kwok_dir/kwok" "$bin_dir/kwok"
for c in "${k8s_cmds[@]}"; do ln -sfn "${k8s_src[$c]}" "$bin_dir/$c"; done
ln -sfn "$kwok_dir/stages" "$bin_dir/../kwok-stages"
for b in helm etcd kwok "${k8s_cmds[@]}"; do [[ -x "$bin_dir/$b" ]] || die "missing $bin_dir/$b after build"; done
log "toolchain ready in $((SECONDS - started))s: $bin_dir"
echo "$bin_dir"
